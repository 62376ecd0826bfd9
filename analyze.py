"""
Score every samples file of a run (paper Sec. A.3): label accuracy by Alg. 1, the paper's R^2 of the UMAP-3D
embedding of layer 4, and deterministic measures of the layer-4 manifold itself (metrics.representation).

    python analyze.py --out_dir=out/run
    python sample.py --out_dir=out/run & python analyze.py --out_dir=out/run --follow=$!   # scoring beside sampling

Writes {out_dir}/metrics.npz with one row per (checkpoint, split): step, split ('id', 'ood' or a follow-up region's
name: bumps.regions),
  acc, acc_x, acc_y       Eq. 1 by Alg. 1 (joint, x only, y only; the follow-up's kinds: metrics.kind_accuracy)
  oracle_acc              Alg. 1 on clean renders of the same labels: the metric's own ceiling
  n_none, n_one, n_many   samples with 0, 1, several bumps; n_fill: single contours filling the canvas (failures)
  r2_x, r2_y, r2          the paper's in-sample R^2 of linear fits on the UMAP-3D embedding (seed `seed`)
  umap_r2_sd              standard deviation of r2 over `umap_seeds` UMAP seeds: how much of a difference is UMAP noise
  probe_r2_x, _y, probe_r2, trust, id_dim, pca_dim   see metrics.representation (deterministic for a samples file)
  trust_dm, knn_r2_dm     the order measures of layer 4 with each channel's spatial mean removed (free of the
                          broadcast label embedding; metrics.demean_channels, metrics.order_measures)
  trust_ref, knn_r2_ref   the same measures on clean renders of the same labels pooled to layer 4's size: the ceiling
  trust_blank, knn_r2_blank   the same measures on the same labels drawn on a blank canvas (layer4_blank): the
                          conditioning alone at this checkpoint, the floor
  oracle_acc_x, _y        the oracle per axis
  pacc, pacc_x, pacc_y    position-only accuracy (metrics.locate: where the darkest bump is, whatever its brightness
                          or contrast), Eq. 1's test; beside Alg. 1 it tells a misplaced bump from a mis-drawn one
  oracle_pacc             the same on clean renders of the same labels
  acc_core, oracle_core   (ood rows) the same inside the hole's core, more than 1 px from its edge (nan for id rows)
  probe_ood_mae, probe_blank_mae, centre_mae   (ood rows) mean |error| in px of a PCA + ridge probe fitted on the
                          same checkpoint's in-distribution layer 4, applied to the hole's samples and to the blank-canvas
                          control of the same labels, and of guessing the hole's centre
and per sample (for confidence intervals over evaluation labels): ok_x, ok_y, oracle_ok_x, oracle_ok_y (Eq. 1 per
axis), pok_x, pok_y (position-only, per axis), single (exactly one bump, not canvas-filling) and core (inside the hole's core);
and per row the 3D embedding (emb), the labels, the predicted centres and example images for the figures; config.
"""
import json
import os
import time

import numpy as np

from artifacts import load_npz, need_run_dir, result_settings, same_data, sample_files, save_npz
from bumps import render_kind
from configurator import configure, check, fail
from metrics import kind_accuracy, demean_channels, position_hits, embed, order_measures, r_squared, reference_features, representation

# -----------------------------------------------------------------------------
out_dir = 'out/run'      # run folder with samples_*.npz (and ood_*.npz for a hole run)
n_neighbors = 15         # UMAP neighbours
min_dist = 0.1           # UMAP minimum distance
umap_dims = 3            # embedding dimension (the paper's 3D)
seed = 0                 # UMAP random_state of the reported r2 (fixed so that the metrics are reproducible)
umap_seeds = 3           # UMAP seeds seed, seed+1, ... for umap_r2_sd (1 = skip)
tolerance = 1.0          # Eq. 1: a coordinate counts as correct when |mu - mu_hat| < tolerance (pixels)
loc_radius = 2           # the position-only locator's window half-width (pixels; metrics.locate)
n_pca = 50               # PCA components for the probe and trustworthiness
trust_k = 10             # neighbours of trustworthiness
probe_folds = 5          # cross-validation folds of the ridge probe (fixed, shuffled with `seed`)
n_examples = 25          # images kept per row for the figures
follow = 0               # pid of a running sample.py: score its files as they are written, until it exits (0 = off)
# -----------------------------------------------------------------------------
COLS = ('split', 'step', 'acc', 'acc_x', 'acc_y', 'oracle_acc', 'n_none', 'n_one', 'n_many', 'n_fill', 'r2', 'umap_r2_sd',
        'probe_r2', 'trust', 'id_dim', 'pca_dim', 'trust_dm', 'knn_r2_dm', 'trust_ref', 'knn_r2_ref')


def running(pid):
    """Whether process `pid` is still running (a finished child not yet reaped by its parent counts as finished)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:  # no /proc (macOS): trust kill()
        return True


def score(path):
    """One row of metrics.npz from one samples file (plus its config under 'cfg')."""
    s = load_npz(path, 'sample.py', keys=('images', 'labels', 'layer4', 'layer4_blank', 'step'))
    sc = s['config']
    if not np.isfinite(s['layer4'].astype(np.float32)).all():
        fail(f"{path} holds non-finite layer-4 values (a diverged checkpoint?): rerun train.py from an earlier checkpoint")
    t0 = time.time()
    labels = s['labels'].astype(np.float64)
    data = sc['data']
    acc, pred = kind_accuracy(s['images'], labels, data, tolerance)
    clean = render_kind(labels, data.get('kind', 'bump'), data['sigma'], data['size'], data.get('margin', 0))
    oracle, opred = kind_accuracy(clean, labels, data, tolerance)
    ok, ook = acc.pop('ok'), oracle.pop('ok')  # (n, 2) per sample and axis
    pok = position_hits(s['images'], labels, tolerance, loc_radius)[0]
    opok = position_hits(clean, labels, tolerance, loc_radius)[0]
    dm = order_measures(demean_channels(s['layer4'], data['size']), labels, n_pca, trust_k, probe_folds, seed)
    blank = order_measures(demean_channels(s['layer4_blank'], data['size']), labels, n_pca, trust_k, probe_folds, seed)
    ref = order_measures(reference_features(labels, data['sigma'], data['size']), labels, n_pca, trust_k, probe_folds, seed)
    base = os.path.basename(path)
    ood = base.startswith('ood')
    split = 'ood' if ood else base[len('region_'):base.rindex('_')] if base.startswith('region_') else 'id'
    embs = [embed(s['layer4'], n_neighbors, min_dist, umap_dims, seed + k) for k in range(umap_seeds)]
    r2s = [r_squared(e, labels) for e in embs]
    row = dict(step=int(s['step']), split=split, **acc,
               oracle_acc=oracle['acc'], **r2s[0], umap_r2_sd=float(np.std([r['r2'] for r in r2s])),
               **representation(s['layer4'], labels, n_pca, trust_k, probe_folds, seed),
               trust_dm=dm['trust'], knn_r2_dm=dm['knn_r2'], trust_ref=ref['trust'], knn_r2_ref=ref['knn_r2'],
               trust_blank=blank['trust'], knn_r2_blank=blank['knn_r2'],
               oracle_acc_x=ook[:, 0].mean(), oracle_acc_y=ook[:, 1].mean(),
               ok_x=ok[:, 0], ok_y=ok[:, 1], oracle_ok_x=ook[:, 0], oracle_ok_y=ook[:, 1],
               pacc=pok.all(1).mean(), pacc_x=pok[:, 0].mean(), pacc_y=pok[:, 1].mean(), oracle_pacc=opok.all(1).mean(),
               pok_x=pok[:, 0], pok_y=pok[:, 1],
               **hole_scores(path, labels, s['layer4'], s['layer4_blank'], data, ok, ook, ood),
               emb=embs[0].astype(np.float32), labels=s['labels'], pred=pred.astype(np.float32),
               examples=s['images'][:n_examples], cfg=sc)
    print(f"{path}: acc {row['acc']:.3f} (oracle {row['oracle_acc']:.3f}) position-only {row['pacc']:.3f} r2 {row['r2']:.3f} probe_r2 {row['probe_r2']:.3f} "
          f"trust {row['trust']:.3f} id_dim {row['id_dim']:.2f} [{time.time() - t0:.1f}s]", flush=True)
    return row


def hole_scores(path, labels, layer4, blank, data, ok, ook, ood):
    """For a hole's samples: accuracy and oracle in the hole's core (> 1 px from its edge, where no bump of the
    training set overlaps much), and where the in-distribution manifold puts them: a PCA + ridge probe fitted on the
    in-distribution layer 4 of the same checkpoint, applied to the hole's samples and to the same labels on a blank
    canvas (the label reaches layer 4 directly, so the control says how much of the placement the drawing adds)."""
    nan = dict(acc_core=np.nan, oracle_core=np.nan, probe_ood_mae=np.nan, probe_blank_mae=np.nan, centre_mae=np.nan,
               core=np.zeros(len(labels), bool))
    if not ood:
        return nan
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    lo, hi = data['hole_lo'], data['hole_hi']
    core = ((labels > lo + 1) & (labels < hi - 1)).all(1)
    s = load_npz(os.path.join(os.path.dirname(path), os.path.basename(path).replace('ood_', 'samples_')), 'sample.py', keys=('labels', 'layer4'))
    probe = make_pipeline(PCA(min(n_pca, len(s['labels']) - 1), random_state=seed), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    probe.fit(s['layer4'].astype(np.float32), s['labels'])
    mae = lambda X: float(np.abs(probe.predict(X.astype(np.float32)) - labels).mean())
    return dict(acc_core=ok[core].all(1).mean() if core.any() else np.nan,
                oracle_core=ook[core].all(1).mean() if core.any() else np.nan,
                probe_ood_mae=mae(layer4), probe_blank_mae=mae(blank), centre_mae=float(np.abs((lo + hi) / 2 - labels).mean()), core=core)


def table_line(r):
    return ' '.join(f"{r[k]:>6}" if isinstance(r[k], (str, int, np.integer)) else f"{r[k]:6.3f}" if k != 'id_dim' and k != 'pca_dim'
                    else f"{r[k]:6.2f}" for k in COLS)


if __name__ == '__main__':
    config = configure(globals())
    for key, low in (('n_neighbors', 2), ('umap_dims', 1), ('umap_seeds', 1), ('n_pca', 1), ('trust_k', 1), ('probe_folds', 2)):
        check(type(config[key]) is int and config[key] >= low, key, config[key], f'an integer >= {low}')
    check(0 <= min_dist, 'min_dist', min_dist, 'a number >= 0')
    check(tolerance > 0, 'tolerance', tolerance, 'a number > 0')
    check(type(follow) is int and follow >= 0, 'follow', follow, 'a process id (integer >= 0; 0 = off)')
    need_run_dir(out_dir)
    if follow:  # scoring beside the sampler: score each samples file as it appears, until the sampler exits
        print(f"following sample.py (pid {follow}): scoring each samples file as it is written", flush=True)
    elif not sample_files(out_dir):
        fail(f"no samples in {out_dir}: run sample.py first")
    print("the first UMAP call on a machine compiles numba code (~15 s; cached on disk for later processes)", flush=True)
    rows, stamp = {}, {}
    while True:
        sampling = follow and running(follow)  # read before the scan, so that the last files are scored after it exits
        for path in sample_files(out_dir):
            if stamp.get(path) != os.path.getmtime(path):  # new, or rewritten by the sampler since
                stamp[path] = os.path.getmtime(path)
                rows[path] = score(path)
        if not sampling:
            break
        time.sleep(2)
    if not rows:
        fail(f"no samples in {out_dir}: sample.py wrote none")
    files = sorted(rows)
    first = rows[files[0]]['cfg']
    for path in files:
        cfg = rows[path].pop('cfg')
        if not same_data(cfg['data'], first['data']) or result_settings(cfg['sample']) != result_settings(first['sample']):
            fail(f"{path} was sampled with other settings or data than {files[0]}: rerun sample.py for the whole run")
    first_cfg, rows = first, list(rows.values())
    rows.sort(key=lambda r: (r['split'], r['step']))
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    path = os.path.join(out_dir, 'metrics.npz')
    save_npz(path, **table, config=json.dumps(dict(analyze=config, sample=first_cfg)))
    print('\n' + ' '.join(f"{k[:6]:>6}" for k in COLS))
    for r in rows:
        print(table_line(r))
    print(f"-> {path}")
