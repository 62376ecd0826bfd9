"""
Make a dataset of 32x32 images of one Gaussian bump (paper Sec. 2; README "Fidelity to the paper").

    python make_data.py                                   # d = 1.0, sigma = 1: 1,024 images
    python make_data.py --dx=0.1 --dy=0.1 --hole_lo=13.0 --hole_hi=19.0 --out_dir=out/hole13
    python make_data.py --dx=0.1 --dy=1.0 --out_dir=out/imb

Writes {out_dir}/data.npz: images (N,32,32) uint8 in the paper's 0..255 convention (dark bump on
white), labels (N,2) float32 = (mu_x, mu_y) in 1-based pixel-centre units, config (JSON).
"""
import json
import os

import numpy as np

from artifacts import save_npz
from bumps import grid, grid_labels, in_hole, render
from configurator import configure, check, fail

# -----------------------------------------------------------------------------
out_dir = 'out/run'  # the run folder; every later stage reads and writes here
dx = 1.0             # grid increment of mu_x in pixels, in (0, 32]
dy = 1.0             # grid increment of mu_y in pixels, in (0, 32]
sigma = 1.0          # bump spread in pixels (> 0); the formula divides by 4 sigma^2, as printed
hole_lo = None       # drop centres with hole_lo <= mu_x, mu_y <= hole_hi (None: no hole)
hole_hi = None       # upper edge of the square hole, pixels
size = 32            # canvas side in pixels (the paper's 32)
# -----------------------------------------------------------------------------
# no `seed`: the grid is deterministic, so a seed here would be accepted and ignored


def validate(cfg):
    check(isinstance(cfg['size'], int) and cfg['size'] >= 8 and cfg['size'] % 8 == 0, 'size', cfg['size'], 'a multiple of 8 (the UNet halves it three times)')
    for key in ('dx', 'dy'):
        check(isinstance(cfg[key], (int, float)) and 0 < cfg[key] <= cfg['size'], key, cfg[key], f"a number in (0, {cfg['size']}]")
    check(cfg['sigma'] > 0, 'sigma', cfg['sigma'], 'a number > 0')
    lo, hi = cfg['hole_lo'], cfg['hole_hi']
    if (lo is None) != (hi is None):
        fail(f"bad setting hole_lo={lo!r}, hole_hi={hi!r}: set both or neither")
    if lo is not None:
        for key in ('hole_lo', 'hole_hi'):
            check(isinstance(cfg[key], (int, float)) and 0 <= cfg[key] <= cfg['size'], key, cfg[key], f"a number in [0, {cfg['size']}]")
        check(lo < hi, 'hole_hi', hi, f'a number > hole_lo={lo}')


if __name__ == '__main__':
    config = configure(globals())
    validate(config)
    labels = grid_labels(dx, dy, size)  # (N, 2) = (mu_x, mu_y)
    n_full = len(labels)
    if hole_lo is not None:
        labels = labels[~in_hole(labels, hole_lo, hole_hi)]
        if len(labels) == 0:
            fail(f"bad setting hole_lo={hole_lo}, hole_hi={hole_hi}: the hole removes every centre")
    images = render(labels, sigma, size)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, 'data.npz')
    save_npz(path, images=images, labels=labels.astype(np.float32), config=json.dumps(config))
    removed = 1 - len(labels) / n_full
    print(f"{len(labels):,} images ({len(grid(dx, size))} x {len(grid(dy, size))} grid, {removed:.2%} removed by the hole) -> {path}")
