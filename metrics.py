"""
What is measured on one checkpoint's samples (paper Sec. A.3), as plain functions of arrays: no torch, no I/O.

- Alg. 1 (label prediction by Otsu threshold + OpenCV contours) and the accuracy of Eq. 1;
- the paper's representation score: UMAP-3D of layer 4, then in-sample R^2 of linear fits to mu_x and mu_y;
- the order measures free of the conditioning pathway (layer 4 with each channel's spatial mean removed), and their
  ceiling on clean renders of the same labels.
"""
import functools
import os
import sys

import cv2
import numpy as np


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
    """Eq. 1 (joint, x-only, y-only), the bump counts (0, 1, several; canvas-filling single contours), per sample
    whether it holds exactly one bump (single: not canvas-filling), and the predicted centres."""
    preds, counts, fills = zip(*(predict_label(im) for im in images))
    pred, counts = np.array(preds), np.array(counts)
    ok = np.abs(pred - labels) < tolerance  # (n, 2)
    return dict(acc=ok.all(1).mean(), acc_x=ok[:, 0].mean(), acc_y=ok[:, 1].mean(), n_none=(counts == 0).sum(),
                n_one=(counts == 1).sum(), n_many=(counts > 1).sum(), n_fill=np.sum(fills),
                single=(counts == 1) & ~np.array(fills, bool)), pred


def r_squared(emb, labels):
    """In-sample R^2 of two linear regressions, embedding -> mu_x and embedding -> mu_y (paper A.3)."""
    from sklearn.linear_model import LinearRegression  # imported here: report.py and probe.py use this module without it
    r2 = [LinearRegression().fit(emb, labels[:, i]).score(emb, labels[:, i]) for i in range(2)]
    return dict(r2_x=r2[0], r2_y=r2[1], r2=float(np.mean(r2)))


def embed(feats, n_neighbors, min_dist, dims, seed):
    """UMAP of the flattened layer-4 outputs to `dims` dimensions (umap-learn; n_jobs=1: seeded UMAP is serial)."""
    umap = umap_cached()
    reducer = umap.UMAP(n_components=dims, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1)
    return reducer.fit_transform(feats.astype(np.float32))


@functools.lru_cache(maxsize=None)
def umap_cached():
    """umap-learn, imported on first use (numba makes the import heavy), with numba's on-disk cache switched on for
    the compiled functions of umap and pynndescent: the first UMAP call of a process compiles ~250 of them (~15 s on
    our CPU); with the cache, every later process loads them instead (< 1 s). The machine code is the same, so are
    the embeddings. The cache lives in one folder per (umap-learn, pynndescent, numba) version, since a cached umap
    function holds pynndescent code that numba would not see change (unless NUMBA_CACHE_DIR says where). Where the
    cache cannot be switched on, UMAP compiles in every process, as without it."""
    import umap
    try:
        from importlib.metadata import version
        from numba.core import config
        from numba.core.registry import CPUDispatcher
        if not os.environ.get('NUMBA_CACHE_DIR'):
            config.CACHE_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'bumps-numba',
                                            '-'.join(version(p) for p in ('umap-learn', 'pynndescent', 'numba')))
    except Exception:  # another numba or packaging: no cache
        return umap
    for name, module in list(sys.modules.items()):
        if name.split('.')[0] in ('umap', 'pynndescent'):
            for f in list(vars(module).values()):
                if isinstance(f, CPUDispatcher):
                    try:
                        f.enable_caching()
                    except Exception:  # a function numba cannot cache: compiled per process, as without this
                        pass
    return umap


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
    _, first = np.unique(labels, axis=0, return_index=True)  # a repeated label gives a zero distance: TwoNN drops it
    with np.errstate(all='ignore'):  # a constant representation has no dimension: nan
        id_dim = float(skdim.id.TwoNN().fit(X[np.sort(first)]).dimension_)
    return dict(probe_r2_x=r2[0], probe_r2_y=r2[1], probe_r2=float(np.mean(r2)),
                trust=float(trustworthiness(labels, Z, n_neighbors=max(1, min(n_neighbors, (len(X) - 1) // 2)))), id_dim=id_dim,
                pca_dim=float(ev.sum() ** 2 / (ev ** 2).sum()) if ev.sum() > 0 else np.nan)


def demean_channels(feats, size):
    """Layer 4 (n, C*h*w), h = w = size/2, with each channel's spatial mean subtracted per sample.
    Why: in Up.forward the label embedding enters as emb(t, mu) broadcast over space, a per-channel constant; taking
    each channel's spatial mean away removes that term exactly when layer 4 has no attention (the cpu and quick
    presets). It does not remove the label's other route: the Down blocks add the embedding too, and zero-padded
    convolutions, GroupNorm and GELU turn that offset into spatial patterns that depend on the label and reach layer
    4. So the order measures are normalised against a per-checkpoint control, the same labels on a blank canvas
    (model.blank_layer4). Where layer 4 has attention (the paper preset, attn_res containing size/2), the
    attention's residual copy of the broadcast term is removed exactly, but what the attention computed from it stays."""
    h = size // 2
    x = feats.astype(np.float32).reshape(len(feats), -1, h * h)
    return (x - x.mean(2, keepdims=True)).reshape(len(feats), -1)


def reference_features(labels, sigma, size):
    """The ceiling of the order measures: clean renders of the same labels (the data's sigma), 2x2 average-pooled to
    layer 4's resolution, as one channel scaled to [-1, 1] like the network's input. A perfect place code."""
    from bumps import render
    img = render(labels, sigma, size).astype(np.float32) / 127.5 - 1
    return img.reshape(len(img), size // 2, 2, size // 2, 2).mean((2, 4)).reshape(len(img), -1)


def order_measures(X, labels, n_pca, k, folds, seed):
    """How well neighbourhoods of a representation X (n, D) reproduce (mu_x, mu_y), free of any linear readout:
    trust: sklearn's trustworthiness (k neighbours) of the PCA-n_pca representation w.r.t. the labels;
    knn_r2: out-of-sample R^2 (mean over mu_x, mu_y) of k-nearest-neighbour regression on the PCA-n_pca
        representation, `folds`-fold CV with fixed shuffled folds. PCA is fitted on all n samples: it never sees the
        labels. Duplicated labels (sampling with replacement) are dropped first: identical labels would be trivial
        neighbours."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.metrics import r2_score
    _, keep = np.unique(labels, axis=0, return_index=True)
    X, labels = X[np.sort(keep)], labels[np.sort(keep)]
    Z = PCA(min(n_pca, len(X) - 1, X.shape[1]), random_state=seed).fit_transform(X.astype(np.float32))
    kk = max(1, min(k, (len(X) - 1) // 2))
    pred = cross_val_predict(KNeighborsRegressor(kk), Z, labels, cv=KFold(folds, shuffle=True, random_state=seed))
    return dict(trust=float(trustworthiness(labels, Z, n_neighbors=kk)),
                knn_r2=float(np.mean([r2_score(labels[:, i], pred[:, i]) for i in range(2)])))


def locate(img, radius=2):
    """Position-only locator: where the darkest bump of an image is, whatever its brightness and contrast.
    Darkness = the image's median (its background) minus the image, clipped at 0; the peak of the 3x3-blurred
    darkness (cv2.minMaxLoc), then the darkness centroid (cv2.moments) in the (2 radius + 1)^2 window around it.
    Any map v -> a + b v with b > 0 (a darkened canvas, a faint or a saturated bump) scales the darkness by b and
    leaves the answer unchanged, which Alg. 1 is not (Otsu on a blank canvas, a canvas-filling blob); works on uint8
    samples and on float one-step predictions alike. Returns (x, y) in 1-based pixel centres."""
    img = np.asarray(img, np.float32)
    dark = np.clip(np.median(img) - img, 0, None)
    _, _, _, (px, py) = cv2.minMaxLoc(cv2.GaussianBlur(dark, (3, 3), 0))
    y0, x0 = max(py - radius, 0), max(px - radius, 0)
    m = cv2.moments(dark[y0:py + radius + 1, x0:px + radius + 1])
    if m['m00'] <= 0:  # a constant image: nothing to place
        return ((img.shape[1] + 1) / 2, (img.shape[0] + 1) / 2)
    return (x0 + m['m10'] / m['m00'] + 1, y0 + m['m01'] / m['m00'] + 1)


def position_hits(images, labels, tolerance=1.0, radius=2):
    """Per sample and axis, whether locate() lands within `tolerance` of the label (Eq. 1's test, position only):
    (n, 2) bools, and the located centres (n, 2)."""
    pred = np.array([locate(im, radius) for im in images]).reshape(-1, 2)
    return np.abs(pred - labels) < tolerance, pred


# ----------------------------------------------------------------------------- the follow-up's detectors
# (arXiv 2408.13256; ../shared/FOLLOWUP.md section 2 proposes them [I]: the paper does not say how it reads SOS images)

def _peak(profile):
    """Sub-pixel peak of a 1D darkness profile (its median taken away): (1-based position, height, number of local
    maxima above half the peak). Three-point parabolic refinement around the maximum."""
    p = profile - np.median(profile)
    i = int(np.argmax(p))
    h = float(p[i])
    x = float(i)
    if 0 < i < len(p) - 1:
        den = p[i - 1] - 2 * p[i] + p[i + 1]
        if den < 0:
            x = i + 0.5 * (p[i - 1] - p[i + 1]) / den
    above = p >= h / 2
    peaks = sum(1 for j in range(len(p)) if above[j] and (j == 0 or p[j] >= p[j - 1]) and (j == len(p) - 1 or p[j] > p[j + 1]))
    return x + 1, h, peaks


def predict_sos(img, present=0.25 * 127.5):
    """A sum of stripes read by its profiles: the vertical stripe is the peak of the column darkness (the horizontal
    one adds a constant to every column), the horizontal one the peak of the row darkness. Per axis: the centre in
    frame pixels, or nan when the peak is lower than `present` (a quarter of a clean stripe's 127.5: no stripe), and
    whether several stripes stand above half the peak."""
    dark = 255.0 - np.asarray(img, np.float64)
    out, several = [], []
    for prof in (dark.mean(0), dark.mean(1)):  # columns -> x, rows -> y
        x, h, n = _peak(prof)
        out.append(x if h >= present else np.nan)
        several.append(h >= present and n > 1)
    return np.array(out), np.array(several)


EDGE = 2.0  # px: a stripe centred this close outside the frame still shows at its edge (sigma = 1), so it is not scored


def sos_hits(images, labels, size, margin, tolerance=1.0, edge=EDGE):
    """Per sample and axis, whether the detector reads the label (latent coordinates): a centre in the frame must be
    found within `tolerance`; one more than `edge` px outside must be absent (0D and 1D images); one closer outside
    is not scored (counted right). (n, 2) bools, the predictions (latent coordinates, nan: absent), 'several' flags."""
    pred, sev = zip(*(predict_sos(im) for im in images))
    pred, sev = np.array(pred).reshape(-1, 2) + margin, np.array(sev).reshape(-1, 2)
    inside = (labels >= margin + 1) & (labels <= margin + size)
    near = ~inside & (labels >= margin + 1 - edge) & (labels <= margin + size + edge)
    ok = np.where(inside, np.abs(np.nan_to_num(pred, nan=-1e9) - labels) < tolerance, np.isnan(pred) | near)
    return ok, pred, sev


def predict_periodic(img):
    """A bump on a torus: roll the darkest pixel to the centre, Alg. 1 there, roll back (mod size)."""
    img = np.asarray(img)
    size = img.shape[0]
    r, c = np.unravel_index(int(np.argmin(img)), img.shape)
    sy, sx = size // 2 - r, size // 2 - c
    (x, y), n, fill = predict_label(np.roll(img, (sy, sx), axis=(0, 1)))
    return np.array([(x - sx - 1) % size + 1, (y - sy - 1) % size + 1]), n, fill


def periodic_hits(images, labels, tolerance=1.0):
    """Per sample and axis, the circular error min(|e|, size - |e|) < tolerance; (n, 2) bools and predictions."""
    size = images.shape[-1]
    pred = np.array([predict_periodic(im)[0] for im in images]).reshape(-1, 2)
    e = np.abs(pred - labels) % size
    return np.minimum(e, size - e) < tolerance, pred


def kind_accuracy(images, labels, data_cfg, tolerance=1.0):
    """accuracy() for any kind of make_data.py (its keys plus ok, (n, 2) per sample and axis; and the predictions):
    Alg. 1 for bumps; the wrapped error for periodic bumps; the stripe profiles for sos and stripes (a 0D or 1D image is right when the absent
    stripes are absent, sos_hits); mixed: Alg. 1 on a 2D label's bump (frame coordinates), the profiles on a stripe."""
    kind, size, m = data_cfg.get('kind', 'bump'), data_cfg['size'], data_cfg.get('margin', 0)
    labels = np.asarray(labels, np.float64)
    if kind == 'bump':
        res, pred = accuracy(images, labels, tolerance)
        return dict(res, ok=np.abs(pred - labels) < tolerance), pred
    if kind == 'periodic':
        ok, pred = periodic_hits(images, labels, tolerance)
        counts, fills = zip(*(predict_periodic(im)[1:] for im in images))
    else:
        ok, pred, sev = sos_hits(images, labels, size, m, tolerance)
        found = ~np.isnan(pred)
        counts = np.where(sev.any(1), 2, found.any(1).astype(int))  # 0: nothing found, 2: several stripes on an axis
        fills = np.zeros(len(images), bool)
        if kind == 'mixed':  # a 2D label is a bump: Alg. 1 in frame coordinates
            two = ((labels >= m + 1) & (labels <= m + size)).all(1)
            if two.any():  # one Alg. 1 pass per bump: its centre, contour count and fill
                p2, c2, f2 = zip(*(predict_label(im) for im in images[two]))
                p2 = np.array(p2)
                ok[two] = np.abs(p2 - (labels[two] - m)) < tolerance
                pred[two] = p2 + m
                counts = counts.copy()
                counts[two] = c2
                fills[two] = f2
    counts, fills = np.array(counts), np.array(fills, bool)
    return dict(acc=ok.all(1).mean(), acc_x=ok[:, 0].mean(), acc_y=ok[:, 1].mean(), n_none=(counts == 0).sum(),
                n_one=(counts == 1).sum(), n_many=(counts > 1).sum(), n_fill=int(fills.sum()),
                single=(counts == 1) & ~fills, ok=ok), pred
