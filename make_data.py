"""
Make a dataset of 32x32 images of one Gaussian bump (paper Sec. 2; README "Fidelity"), or of the follow-up's kinds
(arXiv 2408.13256; bumps.py's docstring: sos, stripes, mixed, periodic, and the lesion and exterior square).

    python make_data.py                                   # d = 1.0, sigma = 1: 1,024 images
    python make_data.py --dx=0.1 --dy=0.1 --hole_lo=13.0 --hole_hi=19.0 --out_dir=out/hole13
    python make_data.py --dx=0.1 --dy=1.0 --out_dir=out/imb
    python make_data.py --kind=sos --band_lo=13 --band_hi=19 --out_dir=out/sos   # 2D SOS, a cross held out: 625
    python make_data.py --kind=stripes --rim=1 --out_dir=out/stripes             # 1D stripes + the 2D rim: 1,036

Writes {out_dir}/data.npz: images (N,32,32) uint8 in the paper's 0..255 convention (dark bump on
white), labels (N,2) float32 = (mu_x, mu_y) in 1-based pixel-centre units (latent units for sos, stripes, mixed:
frame pixel p is latent p + margin), config (JSON).
"""
import json
import os

import numpy as np

from artifacts import save_npz
from bumps import KINDS, dataset_labels, render_kind
from configurator import configure, check, fail

# -----------------------------------------------------------------------------
out_dir = 'out/run'  # the run folder; every later stage reads and writes here
dx = 1.0             # grid increment of mu_x in pixels, in (0, 32]
dy = 1.0             # grid increment of mu_y in pixels, in (0, 32]
sigma = 1.0          # bump spread in pixels (> 0); the formula divides by 4 sigma^2, as printed
hole_lo = None       # drop centres with hole_lo <= mu_x, mu_y <= hole_hi (None: no hole)
hole_hi = None       # upper edge of the square hole, pixels
size = 32            # canvas side in pixels (the paper's 32)
kind = 'bump'        # 'bump' (the paper's), 'periodic', 'sos', 'stripes' or 'mixed' (the follow-up's; bumps.py)
margin = 6           # sos, stripes, mixed: the latent canvas's margin around the frame, px (44 = 32 + 2 x 6, Fig. 9)
rim = 1              # stripes: 2D SOS kept on a rim of this many frame pixels (0: 1D stripes alone)
band_lo = None       # sos: hold out every centre with mu_x or mu_y (frame px) in [band_lo, band_hi] (a cross; None: none)
band_hi = None       # upper edge of that band, frame px
lesion_w = 0.0       # bump: hold out a vertical strip of this width at the centre, |mu_x - 16.5| < lesion_w / 2 (0: none)
corner = 0.0         # bump: hold out the exterior square [size - corner, size]^2 (0: none)
subsample = 1.0      # mixed, bump: the fraction of 2D bumps kept (mixed: the 1D stripes all stay)
subsample_seed = 0   # mixed, bump: which 2D bumps are kept
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
    check(cfg['kind'] in KINDS, 'kind', cfg['kind'], ', '.join(repr(k) for k in KINDS))
    check(isinstance(cfg['margin'], int) and cfg['margin'] >= 0, 'margin', cfg['margin'], 'an integer >= 0 (px)')
    check(isinstance(cfg['rim'], int) and cfg['rim'] >= 0, 'rim', cfg['rim'], 'an integer >= 0 (frame px)')
    if (cfg['band_lo'] is None) != (cfg['band_hi'] is None):
        fail(f"bad setting band_lo={cfg['band_lo']!r}, band_hi={cfg['band_hi']!r}: set both or neither")
    if cfg['band_lo'] is not None:
        check(cfg['kind'] == 'sos' and 0 <= cfg['band_lo'] < cfg['band_hi'] <= cfg['size'], 'band_hi', cfg['band_hi'],
              f"with kind='sos', a number in (band_lo, {cfg['size']}]")
    check(0 <= cfg['lesion_w'] < cfg['size'] and (cfg['lesion_w'] == 0 or cfg['kind'] == 'bump'), 'lesion_w', cfg['lesion_w'],
          f"0, or with kind='bump' a width in (0, {cfg['size']}) px")
    check(0 <= cfg['corner'] < cfg['size'] and (cfg['corner'] == 0 or cfg['kind'] == 'bump'), 'corner', cfg['corner'],
          f"0, or with kind='bump' a side in (0, {cfg['size']}) px")
    check(0 < cfg['subsample'] <= 1 and (cfg['subsample'] == 1 or cfg['kind'] in ('mixed', 'bump')), 'subsample', cfg['subsample'],
          "1, or with kind='mixed' or 'bump' a fraction in (0, 1]")
    check(cfg['kind'] == 'bump' or (cfg['hole_lo'] is None and cfg['dx'] == cfg['dy']), 'kind', cfg['kind'],
          "'bump' with a hole or imbalanced increments (the follow-up's kinds use one increment, dx = dy)")


if __name__ == '__main__':
    config = configure(globals())
    validate(config)
    labels, counts = dataset_labels(config)  # (N, 2) = (mu_x, mu_y), and what each part of the set holds
    if len(labels) == 0:
        fail(f"bad settings: the held-out regions (hole, band, lesion, corner) remove every centre ({counts})")
    images = render_kind(labels, kind, sigma, size, margin)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, 'data.npz')
    save_npz(path, images=images, labels=labels.astype(np.float32), config=json.dumps(config))
    print(f"{len(labels):,} images of kind {kind} ({counts}) -> {path}")
