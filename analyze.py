"""
Score every samples file of a run (paper Sec. A.3): label accuracy by Alg. 1 and R^2 of the UMAP-3D
embedding of layer 4.

    python analyze.py --out_dir=out/run

Writes {out_dir}/metrics.npz with one row per (checkpoint, split): step, split ('id' or 'ood'), acc, acc_x,
acc_y, oracle_acc (Alg. 1 on clean renders of the same labels: the metric's own ceiling), n_none, n_one,
n_many (samples with 0, 1, several bumps), r2_x, r2_y, r2 (their mean), and per row the 3D embedding
(emb), the labels, the predicted centres and 25 example images for plotting; plus config (JSON).
"""
import glob
import json
import os
import re
import time

import cv2
import numpy as np
from sklearn.linear_model import LinearRegression

from configurator import configure, check, load_npz, save_npz, fail, same_data
from make_data import render
from sample import result_settings

# -----------------------------------------------------------------------------
out_dir = 'out/run'      # run folder with samples_*.npz (and ood_*.npz for a hole run)
n_neighbors = 15         # UMAP neighbours
min_dist = 0.1           # UMAP minimum distance
umap_dims = 3            # embedding dimension (the paper's 3D)
seed = 0                 # UMAP random_state (fixed so that the metrics are reproducible)
tolerance = 1.0          # Eq. 1: a coordinate counts as correct when |mu - mu_hat| < tolerance (pixels)
n_examples = 25          # images kept per row for the figures
# -----------------------------------------------------------------------------


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


def accuracy(images, labels, tolerance):
    """Eq. 1 (joint, x-only, y-only), the bump counts (0, 1, several) and the predicted centres."""
    preds, counts, fills = zip(*(predict_label(im) for im in images))
    pred, counts = np.array(preds), np.array(counts)
    ok = np.abs(pred - labels) < tolerance  # (n, 2)
    return dict(acc=ok.all(1).mean(), acc_x=ok[:, 0].mean(), acc_y=ok[:, 1].mean(), n_none=(counts == 0).sum(),
                n_one=(counts == 1).sum(), n_many=(counts > 1).sum(), n_fill=np.sum(fills)), pred


def r_squared(emb, labels):
    """In-sample R^2 of two linear regressions, embedding -> mu_x and embedding -> mu_y."""
    r2 = [LinearRegression().fit(emb, labels[:, i]).score(emb, labels[:, i]) for i in range(2)]
    return dict(r2_x=r2[0], r2_y=r2[1], r2=float(np.mean(r2)))


def embed(feats, n_neighbors, min_dist, dims, seed):
    """UMAP of the flattened layer-4 outputs to `dims` dimensions."""
    import umap  # heavy import (numba); only this stage needs it
    reducer = umap.UMAP(n_components=dims, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1)  # n_jobs=1: seeded UMAP is serial anyway
    return reducer.fit_transform(feats.astype(np.float32))


if __name__ == '__main__':
    config = configure(globals())
    check(type(n_neighbors) is int and n_neighbors >= 2, 'n_neighbors', n_neighbors, 'an integer >= 2')
    check(type(umap_dims) is int and umap_dims >= 1, 'umap_dims', umap_dims, 'an integer >= 1')
    check(0 <= min_dist, 'min_dist', min_dist, 'a number >= 0')
    check(tolerance > 0, 'tolerance', tolerance, 'a number > 0')
    files = sorted(glob.glob(os.path.join(out_dir, 'samples_*.npz')) + glob.glob(os.path.join(out_dir, 'ood_*.npz')))
    files = [f for f in files if re.search(r'_(\d+)\.npz$', f)]  # temporary files never count
    if not files:
        fail(f"no samples in {out_dir}: run sample.py first")
    rows, first_cfg = [], None
    for path in files:
        s = load_npz(path, 'sample.py', keys=('images', 'labels', 'layer4', 'step'))
        sc = s['config']
        first_cfg = first_cfg or sc
        if not same_data(sc['data'], first_cfg['data']) or result_settings(sc['sample']) != result_settings(first_cfg['sample']):
            fail(f"{path} was sampled with other settings or data than {files[0]}: rerun sample.py for the whole run")
        if not np.isfinite(s['layer4'].astype(np.float32)).all():
            fail(f"{path} holds non-finite layer-4 values (a diverged checkpoint?): check train.py's loss")
        t0 = time.time()
        sigma, size = sc['data']['sigma'], sc['data']['size']
        acc, pred = accuracy(s['images'], s['labels'], tolerance)
        oracle, _ = accuracy(render(s['labels'].astype(np.float64), sigma, size), s['labels'], tolerance)
        emb = embed(s['layer4'], n_neighbors, min_dist, umap_dims, seed)
        row = dict(step=int(s['step']), split='ood' if os.path.basename(path).startswith('ood') else 'id', **acc,
                   oracle_acc=oracle['acc'], **r_squared(emb, s['labels']), emb=emb.astype(np.float32),
                   labels=s['labels'], pred=pred.astype(np.float32), examples=s['images'][:n_examples])
        rows.append(row)
        print(f"{path}: acc {row['acc']:.3f} (oracle {row['oracle_acc']:.3f}) r2 {row['r2']:.3f} [{time.time() - t0:.1f}s]")
    rows.sort(key=lambda r: (r['split'], r['step']))
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    path = os.path.join(out_dir, 'metrics.npz')
    save_npz(path, **table, config=json.dumps(dict(analyze=config, sample=first_cfg)))
    print(f"\n{'split':>5} {'step':>8} {'acc':>6} {'acc_x':>6} {'acc_y':>6} {'oracle':>6} {'0':>4} {'1':>4} {'>1':>4} {'fill':>4} {'r2_x':>6} {'r2_y':>6} {'r2':>6}")
    for r in rows:
        print(f"{r['split']:>5} {r['step']:>8} {r['acc']:6.3f} {r['acc_x']:6.3f} {r['acc_y']:6.3f} {r['oracle_acc']:6.3f} "
              f"{r['n_none']:4d} {r['n_one']:4d} {r['n_many']:4d} {r['n_fill']:4d} {r['r2_x']:6.3f} {r['r2_y']:6.3f} {r['r2']:6.3f}")
    print(f"-> {path}")
