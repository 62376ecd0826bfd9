"""
The task itself, in numpy: the grid of bump centres, the bump renderer (paper Sec. 2), the hole, and the labels a
run is evaluated on. Used by make_data.py (the training set), sample.py (the evaluation labels) and analyze.py (the
oracle: Alg. 1 on clean renders of the same labels).

Coordinates: pixel centres are 1..size on each axis, x along columns, y along rows (the paper's (1,1) top left).
"""
import numpy as np


def grid(d, size):
    """Centres d*k for k = 1..floor(size/d); rounded so that 0.1*130 is exactly 13.0 for the hole test."""
    k = np.arange(1, int(np.floor(size / d + 1e-9)) + 1)
    return np.round(d * k, 6)


def grid_labels(dx, dy, size):
    """Every (mu_x, mu_y) of the dataset grid, (N, 2) float64, x varying fastest."""
    return np.stack(np.meshgrid(grid(dx, size), grid(dy, size), indexing='xy'), -1).reshape(-1, 2)


def in_hole(labels, lo, hi):
    """True for centres inside the square hole [lo, hi]^2 (edges included)."""
    return ((labels >= lo) & (labels <= hi)).all(axis=1)


def render(labels, sigma, size):
    """v = 255 (1 - exp(-(x-mu_x)^2/4s^2 - (y-mu_y)^2/4s^2)) as uint8: a dark bump on white (paper Sec. 2)."""
    pix = np.arange(1, size + 1, dtype=np.float64)
    gx = np.exp(-(pix[None, :] - labels[:, :1]) ** 2 / (4 * sigma ** 2))  # (N, size) over columns
    gy = np.exp(-(pix[None, :] - labels[:, 1:]) ** 2 / (4 * sigma ** 2))  # (N, size) over rows
    v = 255.0 * (1.0 - gy[:, :, None] * gx[:, None, :])                  # (N, rows, cols)
    return np.rint(v).astype(np.uint8)


def draw_labels(data_cfg, train_labels, n, seed, unique=True):
    """The evaluation labels: n drawn from the training centres, and (with a hole) n from the grid centres inside
    the hole (the out-of-distribution set), or None. unique: without replacement wherever the set has >= n centres
    (d = 1 has 1,024), so that no label repeats (a repeat is a trivial nearest neighbour for the manifold measures);
    a set with fewer centres is drawn with replacement (sample.py says so)."""
    rng = np.random.default_rng(seed)
    pick = lambda pool: pool[rng.choice(len(pool), n, replace=not (unique and len(pool) >= n))]
    idd = pick(train_labels)
    if data_cfg.get('hole_lo') is None:
        return idd, None
    full = grid_labels(data_cfg['dx'], data_cfg['dy'], data_cfg['size'])
    inside = full[in_hole(full, data_cfg['hole_lo'], data_cfg['hole_hi'])].astype(np.float32)
    return idd, pick(inside)


def overlap(d, sigma, size=32):
    """The paper's Fig. 7b quantity (App. A.5): ||sqrt(a * b)||_2 / ||a||_2 for inverted renders a, b of two
    neighbouring centres d apart along x, averaged over the dataset's neighbour pairs with centres in the middle half
    of the canvas (so the pixel phase of the centres varies as in the data). Pairs whose first bump renders blank
    (a sigma far below a pixel) are left out; nan when all are. Unpixelated, it is exp(-d^2 / (16 sigma^2))."""
    xs = grid(d, size)
    xs = xs[(xs >= size / 4) & (xs <= 3 * size / 4)]
    y = np.full_like(xs, (size + 1) // 2)
    a = 255.0 - render(np.stack([xs, y], 1), sigma, size).astype(np.float64)
    b = 255.0 - render(np.stack([xs + d, y], 1), sigma, size).astype(np.float64)
    na = np.linalg.norm(a, axis=(1, 2))
    keep = na > 0
    return float(np.mean(np.linalg.norm(np.sqrt(a * b), axis=(1, 2))[keep] / na[keep])) if keep.any() else np.nan
