"""
The follow-up's percolation picture (arXiv 2408.13256, Fig. 6, Figs. 13-14; ../shared/FOLLOWUP.md E5), simulated
without training: keep each site of the d-lattice with probability lam, join two kept sites when their bumps overlap
by more than a threshold, and measure the largest connected cluster. The overlap is the seed paper's Fig. 7b quantity
||sqrt(a b)||_2 / ||a||_2 of inverted renders (bumps.overlap for neighbours; here for every pair within reach).
numpy and scipy only.
"""
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bumps import grid_labels, render


def pair_overlap(sigma, offsets, size=32, continuum=False):
    """The overlap of a bump at the canvas centre with one shifted by each (dx, dy) of offsets (k, 2), on the
    training renderer (pixelated, uint8), as the seed's Fig. 7b measures it; continuum: the unpixelated closed form
    exp(-r^2 / 16 sigma^2) (FOLLOWUP.md's check). They part for sigma <= 0.2 at d = 1: rendered on a pixel centre, such
    a bump is one pixel (its neighbours round to 0), so pixelated neighbours never overlap."""
    offsets = np.asarray(offsets, np.float64)
    if continuum:
        return np.exp(-np.sum(offsets ** 2, 1) / (16 * sigma ** 2))
    c = np.array([[size / 2, size / 2]])
    a = 255.0 - render(c, sigma, size).astype(np.float64)
    b = 255.0 - render(c + np.asarray(offsets, np.float64), sigma, size).astype(np.float64)
    na = np.linalg.norm(a)
    return np.linalg.norm(np.sqrt(a[None] * b).reshape(len(b), -1), axis=1) / na if na > 0 else np.zeros(len(b))


def largest_cluster(sigma, lam, threshold, d=1.0, size=32, draws=10, seed=0, reach=4, continuum=False):
    """Mean over `draws` random site subsets of (largest cluster / kept sites, largest cluster / all sites). Edges
    join kept sites whose overlap exceeds `threshold`; only offsets within `reach` lattice steps are considered
    (farther bumps do not overlap at the sigmas of Fig. 6)."""
    labels = grid_labels(d, d, size)
    n = len(labels)
    k = np.arange(-reach, reach + 1)
    offs = np.array([(i, j) for i in k for j in k if (i, j) != (0, 0)], np.float64) * d
    ov = pair_overlap(sigma, offs, size, continuum)
    offs = offs[ov > threshold]
    side = int(round(np.sqrt(n)))
    idx = np.arange(n).reshape(side, side)  # row = y index, column = x index (grid_labels: x fastest)
    rows, cols = [], []
    for ox, oy in np.round(offs / d).astype(int):
        ys, xs = np.mgrid[0:side, 0:side]
        ok = (xs + ox >= 0) & (xs + ox < side) & (ys + oy >= 0) & (ys + oy < side)
        rows.append(idx[ok])
        cols.append(idx[(ys + oy)[ok], (xs + ox)[ok]])
    rows = np.concatenate(rows) if rows else np.array([], int)
    cols = np.concatenate(cols) if cols else np.array([], int)
    rng = np.random.default_rng(seed)
    kept_frac, all_frac = [], []
    for _ in range(draws):
        keep = rng.random(n) < lam
        if keep.sum() == 0:
            kept_frac.append(0.0), all_frac.append(0.0)
            continue
        e = keep[rows] & keep[cols]
        g = coo_matrix((np.ones(e.sum()), (rows[e], cols[e])), shape=(n, n))
        _, lab = connected_components(g, directed=False)
        big = np.bincount(lab[keep]).max()
        kept_frac.append(big / keep.sum()), all_frac.append(big / n)
    return float(np.mean(kept_frac)), float(np.mean(all_frac))


def onset(lams, mass, level=0.5):
    """The smallest lam at which the largest-cluster fraction reaches `level` (nan when never)."""
    hit = np.flatnonzero(np.asarray(mass) >= level)
    return float(np.asarray(lams)[hit[0]]) if len(hit) else np.nan
