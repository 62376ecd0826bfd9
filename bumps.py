"""
The task itself, in numpy: the grid of bump centres, the renderers, the held-out regions, and the labels a run is
evaluated on. Used by make_data.py (the training set), sample.py (the evaluation labels) and analyze.py (the oracle:
the detector on clean renders of the same labels).

Coordinates: pixel centres are 1..size on each axis, x along columns, y along rows (the paper's (1,1) top left).
The follow-up's kinds (Liang, Liu, Ostrow, Fiete, arXiv 2408.13256; ../shared/FOLLOWUP.md, "[I]" marks a choice of
ours where the paper is silent):
  bump      the seed paper's bump (also with a lesion: a held-out vertical strip, or an exterior square)
  periodic  the bump with wrapped distance on a torus of side `size` [I: FOLLOWUP 1.7]
  sos       a sum of stripes: v = 255 (1 - (g_x + g_y) / 2), g a 1D Gaussian profile [I: FOLLOWUP 1.3's normalisation]
  stripes   the sos renderer on a latent canvas of size + 2 margin, cropped to the frame: centres in the margin leave
            one stripe (1D) or none (0D) in view; the training set is every latent centre that is not 2D, plus the
            2D ones on a rim of `rim` frame pixels [C: Fig. 9, 10; I: the rim's width]
  mixed     2D bumps (both centres in the frame, a fraction `subsample` kept) plus every 1D stripe [I: FOLLOWUP 1.6]
sos, stripes and mixed label in latent coordinates (frame pixel p is latent p + margin), so every model of the
follow-up sees the same conditioning values; bump and periodic label in frame coordinates as before.
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


def profiles(labels, sigma, size, margin=0, periodic=False):
    """The 1D Gaussian profiles exp(-(p - mu)^2 / 4 sigma^2) over the frame's pixels p, for x (columns) and y (rows):
    (N, size) each. margin: labels in latent coordinates (frame pixel p is latent p + margin); periodic: the wrapped
    distance on a circle of `size` pixels."""
    pix = np.arange(1, size + 1, dtype=np.float64) + margin
    def g(mu):
        d = pix[None, :] - mu
        if periodic:
            d = (d + size / 2) % size - size / 2
        return np.exp(-d ** 2 / (4 * sigma ** 2))
    return g(labels[:, :1]), g(labels[:, 1:])


def render(labels, sigma, size, periodic=False):
    """v = 255 (1 - exp(-(x-mu_x)^2/4s^2 - (y-mu_y)^2/4s^2)) as uint8: a dark bump on white (paper Sec. 2)."""
    gx, gy = profiles(labels, sigma, size, periodic=periodic)
    v = 255.0 * (1.0 - gy[:, :, None] * gx[:, None, :])                  # (N, rows, cols)
    return np.rint(v).astype(np.uint8)


def render_sos(labels, sigma, size, margin=0):
    """A sum of stripes, v = 255 (1 - (g_x + g_y) / 2) as uint8: a vertical stripe at column mu_x and a horizontal one
    at row mu_y (labels in latent coordinates); the crossing is black, a lone stripe bottoms out at 127.5."""
    gx, gy = profiles(labels, sigma, size, margin)
    v = 255.0 * (1.0 - (gy[:, :, None] + gx[:, None, :]) / 2)
    return np.rint(v).astype(np.uint8)


def in_frame(labels, size, margin):
    """Per label and axis, whether the centre lies in the frame (latent coordinates): (N, 2) bools."""
    return (labels >= margin + 1) & (labels <= margin + size)


def render_kind(labels, kind, sigma, size, margin=0):
    """The images of any kind (module docstring). mixed: a 2D label renders as a bump, a 1D one as its visible
    stripe alone at full depth, a 0D one blank."""
    if kind in ('bump', 'periodic'):
        return render(labels, sigma, size, periodic=kind == 'periodic')
    if kind in ('sos', 'stripes'):
        return render_sos(labels, sigma, size, margin)
    if kind == 'mixed':
        gx, gy = profiles(labels, sigma, size, margin)
        inside = in_frame(labels, size, margin)
        both = inside.all(1)[:, None, None]
        dark = np.where(both, gy[:, :, None] * gx[:, None, :], np.maximum(gy[:, :, None] * inside[:, 1, None, None],
                                                                            gx[:, None, :] * inside[:, 0, None, None]))
        return np.rint(255.0 * (1.0 - dark)).astype(np.uint8)
    raise ValueError(f"unknown kind {kind!r}: allowed are {', '.join(KINDS)}")


KINDS = ('bump', 'periodic', 'sos', 'stripes', 'mixed')


def latent_grid(d, size, margin):
    """Every latent centre (mu_x, mu_y) on a grid of increment d over the latent canvas 1..size + 2 margin."""
    return grid_labels(d, d, size + 2 * margin)


def n_dims(labels, size, margin):
    """0, 1 or 2: how many of a label's centres lie in the frame (the image's dimension, Fig. 9)."""
    return in_frame(labels, size, margin).sum(1)


def in_band(labels, lo, hi, margin=0):
    """Per label and axis, whether the frame coordinate lies in the held-out band [lo, hi]: (N, 2) bools."""
    f = labels - margin
    return (f >= lo) & (f <= hi)


def on_rim(labels, size, margin, rim):
    """2D labels within `rim` frame pixels of the frame's edge (rim = 1: a frame coordinate of 1 or size)."""
    f = labels - margin
    return ((f <= rim) | (f > size - rim)).any(1) & in_frame(labels, size, margin).all(1)


def in_lesion(labels, width, size):
    """The lesion: a vertical strip of `width` px at the centre, |mu_x - (size + 1) / 2| < width / 2, every mu_y."""
    return np.abs(labels[:, 0] - (size + 1) / 2) < width / 2


def in_corner(labels, side, size):
    """The exterior held-out square: both centres in [size - side, size] (the bottom-right corner)."""
    return (labels >= size - side).all(1)


def dataset_labels(cfg):
    """The training centres of a make_data config (N, 2) float64, and a one-line count of what the set holds."""
    size, kind, d, m = cfg['size'], cfg.get('kind', 'bump'), cfg['dx'], cfg.get('margin', 0)
    if kind in ('bump', 'periodic'):
        labels = grid_labels(cfg['dx'], cfg['dy'], size)
        n_full = len(labels)
        drop = np.zeros(n_full, bool)
        if cfg.get('hole_lo') is not None:
            drop |= in_hole(labels, cfg['hole_lo'], cfg['hole_hi'])
        if cfg.get('lesion_w', 0):
            drop |= in_lesion(labels, cfg['lesion_w'], size)
        if cfg.get('corner', 0):
            drop |= in_corner(labels, cfg['corner'], size)
        if cfg.get('subsample', 1.0) < 1:  # a random fraction of the centres kept (E5-train's bump-only arm)
            rng = np.random.default_rng(cfg.get('subsample_seed', 0))
            kept = rng.choice(n_full, int(round(cfg['subsample'] * n_full)), replace=False)
            drop |= ~np.isin(np.arange(n_full), kept)
        return labels[~drop], f"{len(grid(cfg['dx'], size))} x {len(grid(cfg['dy'], size))} grid, {drop.mean():.2%} held out"
    lat = latent_grid(d, size, m)
    dims = n_dims(lat, size, m)
    if kind == 'sos':
        keep = dims == 2
        if cfg.get('band_lo') is not None:
            keep &= ~in_band(lat, cfg['band_lo'], cfg['band_hi'], m).any(1)
        return lat[keep], f"2D SOS: {keep.sum()} of {(dims == 2).sum()} (a band held out: {cfg.get('band_lo')}-{cfg.get('band_hi')})"
    if kind == 'stripes':
        rim_ = on_rim(lat, size, m, cfg.get('rim', 0)) if cfg.get('rim', 0) else np.zeros(len(lat), bool)
        keep = (dims < 2) | rim_
        return lat[keep], f"0D {(dims == 0).sum()}, 1D {(dims == 1).sum()}, 2D rim {rim_.sum()}"
    if kind == 'mixed':
        rng = np.random.default_rng(cfg.get('subsample_seed', 0))
        two = np.flatnonzero(dims == 2)
        kept = np.sort(rng.choice(two, int(round(cfg.get('subsample', 1.0) * len(two))), replace=False))
        keep = np.zeros(len(lat), bool)
        keep[kept] = True
        keep |= dims == 1
        return lat[keep], f"2D bumps {len(kept)} of {len(two)}, 1D stripes {(dims == 1).sum()}"
    raise ValueError(f"unknown kind {kind!r}: allowed are {', '.join(KINDS)}")


def regions(cfg, train_labels):
    """The follow-up's named evaluation pools {name: labels} beyond the training centres (bump holes keep their 'ood'
    set, draw_labels): sos with a band -> vertical, horizontal, intersection; stripes -> 2d (every 2D SOS not in
    training); mixed -> 2d_train, 2d_heldout (2D bumps kept and not kept); periodic -> grid (every second centre:
    16 x 16 at d = 1); a subsampled bump set -> heldout; a lesion -> lesion; a corner -> exterior."""
    size, kind, m = cfg['size'], cfg.get('kind', 'bump'), cfg.get('margin', 0)
    out = {}
    if kind in ('sos', 'stripes', 'mixed'):
        lat = latent_grid(cfg['dx'], size, m)
        two = lat[n_dims(lat, size, m) == 2]
        seen = {tuple(l) for l in np.round(np.asarray(train_labels, np.float64), 6)}
        fresh = np.array([tuple(l) not in seen for l in np.round(two, 6)])
        if kind == 'sos' and cfg.get('band_lo') is not None:
            b = in_band(two, cfg['band_lo'], cfg['band_hi'], m)
            out.update(vertical=two[b[:, 0] & ~b[:, 1]], horizontal=two[~b[:, 0] & b[:, 1]], intersection=two[b.all(1)])
        elif kind == 'stripes':
            out['2d'] = two[fresh]
        elif kind == 'mixed':
            out.update({'2d_train': two[~fresh], '2d_heldout': two[fresh]})
    full = grid_labels(cfg['dx'], cfg['dy'], size)
    if kind == 'periodic':  # every second centre (16 x 16 at d = 1): a full grid for the chord tests
        sub = grid(cfg['dx'], size)[1::2]
        out['grid'] = np.stack(np.meshgrid(sub, sub, indexing='xy'), -1).reshape(-1, 2)
    if kind == 'bump' and cfg.get('subsample', 1.0) < 1:
        seen = {tuple(l) for l in np.round(np.asarray(train_labels, np.float64), 6)}
        out['heldout'] = full[np.array([tuple(l) not in seen for l in np.round(full, 6)])]
    if cfg.get('lesion_w', 0):
        out['lesion'] = full[in_lesion(full, cfg['lesion_w'], size)]
    if cfg.get('corner', 0):
        out['exterior'] = full[in_corner(full, cfg['corner'], size)]
    return {k: v.astype(np.float32) for k, v in out.items() if len(v)}


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
