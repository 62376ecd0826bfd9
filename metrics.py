"""
What is measured on one checkpoint's samples (paper Sec. A.3), as plain functions of arrays: no torch, no I/O.

- Alg. 1 (label prediction by Otsu threshold + OpenCV contours) and the accuracy of Eq. 1;
- the paper's representation score: UMAP-3D of layer 4, then in-sample R^2 of linear fits to mu_x and mu_y.
"""
import cv2
import numpy as np
from sklearn.linear_model import LinearRegression


def predict_label(img):
    """Alg. 1: Otsu threshold (inverted: the bump is dark), external contours; one contour -> centre of its
    bounding rect, otherwise the intensity centroid of the inverted image. Returns ((x, y) 1-based, n_contours,
    whether the one contour spans more than half the canvas: a dark or blank image, not a bump).
    OpenCV's rect is in 0-based pixel-edge coordinates, so +0.5 maps it to 1-based pixel centres."""
    _, thresh = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(thresh, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) != 1:
        return centroid(img), len(contours), False
    x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return (x + w / 2 + 0.5, y + h / 2 + 0.5), 1, max(w, h) > img.shape[0] // 2


def centroid(img):
    """Intensity centroid of the inverted image in 1-based pixel-centre coordinates (image centre if blank)."""
    m = cv2.moments(255 - img)
    if m['m00'] == 0:
        return ((img.shape[1] + 1) / 2, (img.shape[0] + 1) / 2)
    return (m['m10'] / m['m00'] + 1, m['m01'] / m['m00'] + 1)


def accuracy(images, labels, tolerance=1.0):
    """Eq. 1 (joint, x-only, y-only), the bump counts (0, 1, several; canvas-filling single contours) and the
    predicted centres."""
    preds, counts, fills = zip(*(predict_label(im) for im in images))
    pred, counts = np.array(preds), np.array(counts)
    ok = np.abs(pred - labels) < tolerance  # (n, 2)
    return dict(acc=ok.all(1).mean(), acc_x=ok[:, 0].mean(), acc_y=ok[:, 1].mean(), n_none=(counts == 0).sum(),
                n_one=(counts == 1).sum(), n_many=(counts > 1).sum(), n_fill=np.sum(fills)), pred


def r_squared(emb, labels):
    """In-sample R^2 of two linear regressions, embedding -> mu_x and embedding -> mu_y (paper A.3)."""
    r2 = [LinearRegression().fit(emb, labels[:, i]).score(emb, labels[:, i]) for i in range(2)]
    return dict(r2_x=r2[0], r2_y=r2[1], r2=float(np.mean(r2)))


def embed(feats, n_neighbors, min_dist, dims, seed):
    """UMAP of the flattened layer-4 outputs to `dims` dimensions (umap-learn; n_jobs=1: seeded UMAP is serial)."""
    import umap  # heavy import (numba); only what needs it pays for it
    reducer = umap.UMAP(n_components=dims, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1)
    return reducer.fit_transform(feats.astype(np.float32))


def representation(feats, labels, n_pca, n_neighbors, folds, seed):
    """Deterministic measures of the layer-4 manifold itself, on the raw features (n, D):
    probe_r2_x/_y/probe_r2: out-of-sample R^2 of a ridge probe (PCA to n_pca, then RidgeCV) predicting mu_x and mu_y,
        `folds`-fold cross-validation with fixed shuffled folds, PCA fitted inside each fold;
    trust: sklearn's trustworthiness of the PCA-n_pca representation w.r.t. the true labels (are the
        representation's n_neighbors nearest neighbours also neighbours in (mu_x, mu_y)? 1 = all, ~0.5 = chance);
    id_dim: intrinsic dimension by TwoNN (scikit-dimension); pca_dim: participation ratio of the PCA spectrum,
        (sum l)^2 / sum l^2 (a linear, global dimension: a curved 2D sheet needs more than 2 PCs)."""
    import skdim  # imports numba: only what needs it pays for it
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    X = feats.astype(np.float32)
    k = min(n_pca, len(X) - len(X) // folds - 1)  # PCA inside a fold sees (folds-1)/folds of the samples
    probe = make_pipeline(PCA(k, random_state=seed), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    pred = cross_val_predict(probe, X, labels, cv=KFold(folds, shuffle=True, random_state=seed))
    r2 = [r2_score(labels[:, i], pred[:, i]) for i in range(2)]
    Z = PCA(min(n_pca, len(X) - 1), random_state=seed).fit_transform(X)
    Xc = X - X.mean(0)
    ev = np.clip(np.linalg.eigvalsh((Xc @ Xc.T).astype(np.float64)), 0, None)  # the non-zero PCA eigenvalues (x n)
    with np.errstate(all='ignore'):  # a constant representation has no dimension: nan
        id_dim = float(skdim.id.TwoNN().fit(X).dimension_)
    return dict(probe_r2_x=r2[0], probe_r2_y=r2[1], probe_r2=float(np.mean(r2)),
                trust=float(trustworthiness(labels, Z, n_neighbors=max(1, min(n_neighbors, (len(X) - 1) // 2)))), id_dim=id_dim,
                pca_dim=float(ev.sum() ** 2 / (ev ** 2).sum()) if ev.sum() > 0 else np.nan)
