"""
Generate images and layer-4 representations from every checkpoint of a run (paper Sec. A.3).

    python sample.py --out_dir=out/run                                   # paper: DDPM over all T steps
    python sample.py --out_dir=out/run --sampler=ddim --eta=1.0 --sample_steps=100   # the CPU presets' sampler
(DDIM-100 with eta 1 agreed with DDPM-1000 within 0.01-0.03 in accuracy on trained checkpoints; strided DDPM-100
under-reported badly: results/NOTES.md, section 2)

For each ckpt_{step}.pt writes samples_{step}.npz: images (n,size,size) uint8 (0..255, the data's convention),
labels (n,2) float32, layer4 (n, C*H*W) float16, layer4_blank (the same labels on a blank canvas: the conditioning
alone, model.blank_layer4), config (JSON: this stage's, the checkpoint's, the data's).
The labels are the same for every checkpoint of a run (drawn once with `seed` from the training centres).
For a dataset with a hole it also writes ood_{step}.npz for n labels drawn from the centres inside the hole, and for
the follow-up's held-out regions (bumps.regions) region_{name}_{step}.npz.
A checkpoint whose samples already exist with the same settings is skipped.

The intervention (hybrid sampling, report.py scores it): which noise band does late training fix? The early
checkpoint answers the calls with t in [band_lo, band_hi], the sampled one the rest, on the same labels and noise:
    python sample.py --out_dir=out/study/RUN --ckpts=16000 --early_step=4000 --band_lo=700 --band_hi=999 ...
writes hybrid_0016000_0004000_700-999.npz (the keys of a samples file).

Whether a fast sampler agrees with the paper's DDPM-1000 is measured like any result: sample a checkpoint both ways
on the same labels and noise seed (the defaults give DDPM-1000) and compare the accuracies analyze.py prints:
    mkdir out/ref && cp out/quick/dx1.0_dy1.0_sigma1.0_seed0/{data.npz,ckpt_0012000.pt} out/ref/
    python sample.py --out_dir=out/ref && python analyze.py --out_dir=out/ref --umap_seeds=1
"""
import json
import os
import time

import numpy as np
import torch

from artifacts import checkpoints, load_npz, load_pt, need_run_dir, progress, result_settings, same_data, save_npz
from bumps import draw_labels, regions
from configurator import configure, check, fail
from model import Diffusion, blank_layer4, from_checkpoint, generate, pick_device, set_tf32

# -----------------------------------------------------------------------------
out_dir = 'out/run'      # run folder with data.npz and ckpt_*.pt
ckpts = ''               # comma-separated steps to sample ('' = every checkpoint)
n_samples = 500          # labels per checkpoint (and per out-of-distribution set)
sampler = 'ddpm'         # 'ddpm' (ancestral; the paper's) or 'ddim'
sample_steps = 1000      # network calls per sample (= T for the paper's full DDPM)
eta = 1.0                # DDIM noise scale (only for sampler='ddim'; 0 = deterministic)
clip_x0 = False          # clamp the predicted clean image to [-1, 1] at each step (off in the paper's DDPM)
rep_step = 0             # timestep whose network call provides layer 4 (0 = the last reverse step)
use_ema = True           # sample with the EMA weights when the checkpoint has them
seed = 0                 # fixes the labels and the sampling noise (the same for every checkpoint)
unique_labels = True     # evaluation labels without replacement where the label set has >= n_samples centres
batch = 500              # images per network call (lower it if memory is short: it changes which noise each image gets)
device = 'auto'          # 'auto', 'cpu' or 'cuda'
dtype = 'float32'        # 'float32' or 'bfloat16' (autocast)
threads = 0              # torch CPU threads (0 = default)
tf32 = False             # CUDA: TF32 matmuls and convolutions
compile = 'none'         # torch.compile the network call: 'none', 'default' or 'reduce-overhead' (CUDA graphs)
prune_ckpts = False      # delete a checkpoint's weights once its samples are written, except the latest (disk)
# the intervention (hybrid sampling): the checkpoint at early_step makes the network calls with t in [band_lo, band_hi],
# the sampled checkpoint all others; writes hybrid_{step}_{early_step}_{band_lo}-{band_hi}.npz instead of samples_*.npz
early_step = -1          # step of the early checkpoint (-1 = off: plain sampling)
band_lo = 0              # lowest timestep of the band (0-based)
band_hi = 299            # highest timestep of the band
# -----------------------------------------------------------------------------
class Hybrid(torch.nn.Module):
    """The intervention's network: `early` answers the calls whose timestep lies in [lo, hi], `late` all others
    (a sampler call has one t for the whole batch)."""
    def __init__(self, late, early, lo, hi):
        super().__init__()
        self.late, self.early, self.lo, self.hi = late, early, lo, hi

    def forward(self, x, t, mu, return_features=False):
        net = self.early if self.lo <= int(t[0]) <= self.hi else self.late
        return net(x, t, mu, return_features=return_features)


def validate(c, T):
    for key in ('n_samples', 'sample_steps', 'batch'):
        check(type(c[key]) is int and c[key] > 0, key, c[key], 'a positive integer')
    check(c['sample_steps'] <= T, 'sample_steps', c['sample_steps'], f'an integer in [1, T={T}]')
    check(c['sampler'] in ('ddpm', 'ddim'), 'sampler', c['sampler'], "'ddpm' or 'ddim'")
    check(c['dtype'] in ('float32', 'bfloat16'), 'dtype', c['dtype'], "'float32' or 'bfloat16'")
    check(c['eta'] >= 0, 'eta', c['eta'], 'a number >= 0')
    check(type(c['threads']) is int and c['threads'] >= 0, 'threads', c['threads'], 'an integer >= 0 (0 = default)')
    check(c['compile'] in ('none', 'default', 'reduce-overhead'), 'compile', c['compile'], "'none', 'default' or 'reduce-overhead'")
    check(type(c['early_step']) is int and c['early_step'] >= -1, 'early_step', c['early_step'], 'a checkpoint step, or -1 (off)')
    check(type(c['band_lo']) is int and type(c['band_hi']) is int and 0 <= c['band_lo'] <= c['band_hi'] < T, 'band_hi',
          (c['band_lo'], c['band_hi']), f'integers 0 <= band_lo <= band_hi < T={T}')
    ts = Diffusion(T).timesteps(c['sample_steps'])
    check(c['rep_step'] in ts, 'rep_step', c['rep_step'], f"one of the sampler's timesteps, e.g. {ts[-3:]}")


if __name__ == '__main__':
    config = configure(globals())
    check(isinstance(ckpts, str), 'ckpts', ckpts, "comma-separated checkpoint steps, e.g. '0,6400'")
    need_run_dir(out_dir)
    data = load_npz(os.path.join(out_dir, 'data.npz'), 'make_data.py', keys=('images', 'labels'))
    found = checkpoints(out_dir)
    if not found:
        fail(f"no checkpoints in {out_dir}: run train.py first")
    first = load_pt(found[min(found)], 'train.py')
    validate(config, first['diffusion_args']['T'])
    wanted = sorted(found) if not str(ckpts).strip() else [int(s) for s in str(ckpts).split(',') if s.strip()]
    missing = [s for s in wanted if s not in found]
    check(not missing, 'ckpts', ckpts, f"steps among the checkpoints {sorted(found)}")
    check(early_step == -1 or early_step in found, 'early_step', early_step, f"-1 or a step among the checkpoints {sorted(found)}")
    device = pick_device(device)
    if threads:
        torch.set_num_threads(threads)
    set_tf32(tf32)
    id_labels, ood_labels = draw_labels(data['config'], data['labels'], n_samples, seed, unique_labels)
    for name, labels in (("training", id_labels), ("hole", ood_labels)):
        if labels is not None and len(np.unique(labels, axis=0)) < n_samples:
            print(f"note: the {name} label set has fewer than n_samples={n_samples} distinct centres: labels repeat "
                  f"({len(np.unique(labels, axis=0))} distinct); the manifold measures drop the repeats")

    outs = [('samples', id_labels)] + ([('ood', ood_labels)] if ood_labels is not None else [])
    rng = np.random.default_rng(seed + 1)  # the follow-up's named regions (bumps.regions): n labels from each
    for name, pool in regions(data['config'], data['labels']).items():  # 'grid' whole: the chord tests need a full grid
        check(name != 'grid' or n_samples == len(pool), 'n_samples', n_samples, f"{len(pool)} for a periodic run (its 'grid' set is "
              f"the whole {int(np.sqrt(len(pool)))} x {int(np.sqrt(len(pool)))} subgrid, and every set of a run has n_samples labels)")
        pick = np.arange(len(pool)) if name == 'grid' else rng.choice(len(pool), n_samples, replace=not (unique_labels and len(pool) >= n_samples))
        outs.append((f'region_{name}', pool[pick]))
    todo = []
    for step in wanted:
        paths = {name: os.path.join(out_dir, f'{name}_{step:07d}.npz' if early_step < 0 else
                                    f'hybrid{"_ood" if name == "ood" else ""}_{step:07d}_{early_step:07d}_{band_lo}-{band_hi}.npz') for name, _ in outs}
        if all(os.path.exists(p) for p in paths.values()):
            old = load_npz(paths['samples'], 'sample.py')['config']
            if result_settings(old['sample']) == result_settings(config) and same_data(old['data'], data['config']):
                print(f"step {step}: samples exist, skipped")
                continue
            was, now = result_settings(old['sample']), result_settings(config)
            why = ', '.join(f"{k} {was.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k))
            print(f"step {step}: samples exist with other settings ({why or 'another dataset'}): redone")
        todo.append((step, paths))
    n_calls = len(Diffusion(first['diffusion_args']['T']).timesteps(sample_steps))
    print(f"sampling {len(todo)} checkpoint(s) x {len(outs)} label set(s) x {n_samples} images x {n_calls} network calls", flush=True)
    bar = progress(len(todo) * len(outs) * n_samples * n_calls, 'sample', 'img-call')
    for step, paths in todo:
        ck = load_pt(found[step], 'train.py')
        if not same_data(ck['data_config'], data['config']):
            fail(f"{found[step]} was trained on another dataset than {out_dir}/data.npz: rerun train.py")
        model = from_checkpoint(ck, device, use_ema)
        if early_step >= 0:
            model = Hybrid(model, from_checkpoint(load_pt(found[early_step], 'train.py'), device, use_ema), band_lo, band_hi)
        if compile != 'none':
            model = torch.compile(model, mode=None if compile == 'default' else compile)
        diffusion = Diffusion(**ck['diffusion_args']).to(device)
        meta = json.dumps(dict(sample=config, train=ck['config'], data=data['config'], step=step))
        for name, labels in outs:
            t0 = time.time()
            images, layer4 = generate(model, diffusion, labels, size=ck['model_args']['size'], device=device, seed=seed, batch=batch,
                                      dtype=dtype, on_call=bar.update, steps=sample_steps, sampler=sampler, eta=eta,
                                      rep_step=rep_step, clip_x0=clip_x0)
            blank = blank_layer4(model, labels, ck['model_args']['size'], rep_step, device, batch)
            save_npz(paths[name], images=images, labels=labels, layer4=layer4, layer4_blank=blank, step=np.int64(step), config=meta)
            bar.write(f"step {step}: {len(labels)} {name} in {time.time() - t0:.1f}s "
                      f"({len(labels) / (time.time() - t0):.1f} img/s) -> {paths[name]}")
        if prune_ckpts and step != max(found):  # the latest stays: train.py resumes from it
            os.remove(found[step])
            bar.write(f"pruned {found[step]}")
    bar.close()
