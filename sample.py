"""
Generate images and layer-4 representations from every checkpoint of a run (paper Sec. A.3).

    python sample.py --out_dir=out/run                                   # paper: DDPM over all T steps
    python sample.py --out_dir=out/run --sampler=ddpm --sample_steps=100   # strided ancestral DDPM (faster)

For each ckpt_{step}.pt writes samples_{step}.npz: images (n,32,32) uint8 (0..255, the data's convention),
labels (n,2) float32, layer4 (n, C*H*W) float16, config (JSON: this stage's, the checkpoint's, the data's).
The labels are the same for every checkpoint of a run (drawn once with `seed` from the training centres).
For a dataset with a hole it also writes ood_{step}.npz for n labels drawn from the centres inside the hole.
A checkpoint whose samples already exist with the same settings is skipped.
"""
import json
import os
import time

import numpy as np
import torch

from configurator import configure, check, fail, load_npz, load_pt, save_npz, pick_device, same_data
from make_data import grid, in_hole
from model import UNet, Diffusion
from train import checkpoints

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
batch = 500              # images per network call (all 500 at once is fastest on CPU and GPU)
device = 'auto'          # 'auto', 'cpu' or 'cuda'
dtype = 'float32'        # 'float32' or 'bfloat16' (autocast)
threads = 0              # torch CPU threads (0 = default)
prune_ckpts = False      # delete a checkpoint's weights once its samples are written, except the latest (disk)
# -----------------------------------------------------------------------------
NOT_RESULT = ('out_dir', 'ckpts', 'threads', 'device', 'prune_ckpts')  # settings that do not change a samples file's content


def result_settings(cfg):
    return {k: v for k, v in cfg.items() if k not in NOT_RESULT}


def draw_labels(data_cfg, train_labels, n, seed):
    """n labels from the training centres, and (with a hole) n from the grid centres inside the hole."""
    rng = np.random.default_rng(seed)
    idd = train_labels[rng.integers(0, len(train_labels), n)]
    if data_cfg.get('hole_lo') is None:
        return idd, None
    xs, ys = grid(data_cfg['dx'], data_cfg['size']), grid(data_cfg['dy'], data_cfg['size'])
    full = np.stack(np.meshgrid(xs, ys, indexing='xy'), -1).reshape(-1, 2)
    inside = full[in_hole(full, data_cfg['hole_lo'], data_cfg['hole_hi'])].astype(np.float32)
    return idd, inside[rng.integers(0, len(inside), n)]


def generate(model, diffusion, labels, cfg, device, seed):
    """Sample images (uint8) and layer-4 outputs (float16, flattened) for labels, `batch` at a time."""
    gen = torch.Generator(device).manual_seed(seed)
    autocast = torch.autocast(device.split(':')[0], dtype=torch.bfloat16, enabled=cfg['dtype'] == 'bfloat16')
    images, reps = [], []
    for i in range(0, len(labels), cfg['batch']):
        mu = torch.from_numpy(labels[i:i + cfg['batch']]).to(device)
        with autocast:
            x, rep = diffusion.sample(model, mu, cfg['sample_steps'], cfg['sampler'], cfg['eta'], cfg['rep_step'], gen, cfg['clip_x0'])
        images.append(((x.float()[:, 0] + 1) * 127.5).round().clamp(0, 255).byte().cpu().numpy())  # back to 0..255
        reps.append(rep.flatten(1).half().cpu().numpy())
    return np.concatenate(images), np.concatenate(reps)


def validate(c, T):
    for key in ('n_samples', 'sample_steps', 'batch'):
        check(type(c[key]) is int and c[key] > 0, key, c[key], 'a positive integer')
    check(c['sample_steps'] <= T, 'sample_steps', c['sample_steps'], f'an integer in [1, T={T}]')
    check(c['sampler'] in ('ddpm', 'ddim'), 'sampler', c['sampler'], "'ddpm' or 'ddim'")
    check(c['dtype'] in ('float32', 'bfloat16'), 'dtype', c['dtype'], "'float32' or 'bfloat16'")
    check(c['eta'] >= 0, 'eta', c['eta'], 'a number >= 0')
    check(type(c['threads']) is int and c['threads'] >= 0, 'threads', c['threads'], 'an integer >= 0 (0 = default)')
    ts = Diffusion(T).timesteps(c['sample_steps'])
    check(c['rep_step'] in ts, 'rep_step', c['rep_step'], f"one of the sampler's timesteps, e.g. {ts[-3:]}")


if __name__ == '__main__':
    config = configure(globals())
    check(isinstance(ckpts, str), 'ckpts', ckpts, "comma-separated checkpoint steps, e.g. '0,6400'")
    data = load_npz(os.path.join(out_dir, 'data.npz'), 'make_data.py', keys=('images', 'labels'))
    found = checkpoints(out_dir)
    if not found:
        fail(f"no checkpoints in {out_dir}: run train.py first")
    first = load_pt(found[min(found)], 'train.py')
    validate(config, first['diffusion_args']['T'])
    wanted = sorted(found) if not str(ckpts).strip() else [int(s) for s in str(ckpts).split(',') if s.strip()]
    missing = [s for s in wanted if s not in found]
    check(not missing, 'ckpts', ckpts, f"steps among the checkpoints {sorted(found)}")
    device = pick_device(device)
    if threads:
        torch.set_num_threads(threads)
    id_labels, ood_labels = draw_labels(data['config'], data['labels'], n_samples, seed)

    for step in wanted:
        outs = [('samples', id_labels)] + ([('ood', ood_labels)] if ood_labels is not None else [])
        paths = {name: os.path.join(out_dir, f'{name}_{step:07d}.npz') for name, _ in outs}
        if all(os.path.exists(p) for p in paths.values()):
            old = load_npz(paths['samples'], 'sample.py')['config']
            if result_settings(old['sample']) == result_settings(config) and same_data(old['data'], data['config']):
                print(f"step {step}: samples exist, skipped")
                continue
        ck = load_pt(found[step], 'train.py')
        if not same_data(ck['data_config'], data['config']):
            fail(f"{found[step]} was trained on another dataset than {out_dir}/data.npz: rerun train.py")
        model = UNet(**ck['model_args']).to(device)
        model.load_state_dict(ck['ema'] if use_ema and 'ema' in ck else ck['model'])
        model = model.to(memory_format=torch.channels_last).eval()
        diffusion = Diffusion(**ck['diffusion_args']).to(device)
        meta = json.dumps(dict(sample=config, train=ck['config'], data=data['config'], step=step))
        for name, labels in outs:
            t0 = time.time()
            images, layer4 = generate(model, diffusion, labels, config, device, seed)
            save_npz(paths[name], images=images, labels=labels, layer4=layer4, step=np.int64(step), config=meta)
            print(f"step {step}: {len(labels)} {name} in {time.time() - t0:.1f}s -> {paths[name]}")
        if prune_ckpts and step != max(found):  # the latest stays: train.py resumes from it
            os.remove(found[step])
            print(f"pruned {found[step]}")
