"""
The elicitation ladder (prereg3.py): do samplers that try to draw right as soon as the network knows where close the
lag between the one-step prediction (K) and the samples (S)? And the self-chain probe: x0_hat at t = 300 on the
sampler's own chain, beside probe.py's on forward-noised renders.

    python elicit.py --out_dir=out/elicit/dx1.0_dy1.0_sigma1.0_seed21   # after sample.py, analyze.py and probe.py

Reads the run's dense baseline (metrics.npz: Alg. 1 and position-only accuracy at every checkpoint) and its probes
(probes_*.npz: acc_q at t = 300), finds K and S there and the window prereg3.window gives (one checkpoint either side of
K .. S), and at each window checkpoint samples prereg3.N_LADDER labels (the same labels and initial noise for every
variant; DDPM-1000 the first N_LADDER_DDPM) with every variant of prereg3.VARIANTS. Writes ladder_{step:07d}.npz:
per variant v (and ddim100_sub: ddim100 on ddpm1000's labels, its reference), v_acc, v_oracle_acc (Alg. 1 and its ceiling on clean renders of the labels), v_pacc, v_oracle_pacc
(position only), v_n (images), v_n_none, v_n_many, v_n_fill, v_n_misplaced (one bump, in the wrong place: Alg. 1 misses
it), v_examples (8 images, uint8); chain_pacc, chain_oracle_pacc (the self-chain probe: exit's x0_hat, unclamped, by
the locator probe.py uses); step, window, config. A checkpoint whose ladder exists with the same settings is skipped.
"""
import json
import os
import time

import numpy as np
import torch

import prereg2
import prereg3
from artifacts import checkpoints, load_npz, need_run_dir, network_at, pending, progress, save_npz
from bumps import draw_labels, render
from configurator import configure, check, fail
from metrics import accuracy, position_hits
from model import pick_device

# -----------------------------------------------------------------------------
out_dir = 'out/run'      # run folder with data.npz, ckpt_*.pt, metrics.npz and probes_*.npz
variants = ''            # comma-separated variants to run ('' = all of prereg3.VARIANTS; a subset is exploratory)
ckpts = ''               # comma-separated checkpoint steps instead of the registered window (exploratory)
n_ladder = 200           # labels per variant and checkpoint (prereg3.N_LADDER: other values are exploratory)
n_ddpm = 100             # ... for ddpm1000 (prereg3.N_LADDER_DDPM)
seed = 1                 # labels and noise (prereg3.LADDER_SEED)
tolerance = 1.0          # Eq. 1's test (pixels)
loc_radius = 2           # the position-only locator's window half-width (as analyze.py and probe.py)
device = 'auto'          # 'auto', 'cpu' or 'cuda'
threads = 0              # torch CPU threads (0 = default)
# -----------------------------------------------------------------------------
NOT_RESULT = ('out_dir', 'device', 'threads')


def dense_onsets(out_dir, data_cfg):
    """K and S of the run (prereg3's rule) from metrics.npz and the probes, and the run's dense step lists."""
    m = load_npz(os.path.join(out_dir, 'metrics.npz'), 'analyze.py', keys=('step', 'split', 'acc', 'oracle_acc'))
    idm = m['split'] == 'id'
    probes = sorted(f for f in os.listdir(out_dir) if f.startswith('probes_') and f.endswith('.npz') and '.tmp' not in f)
    if not probes:
        fail(f"no probes in {out_dir}: run probe.py first")
    pr = [load_npz(os.path.join(out_dir, f), 'probe.py', keys=('acc_q', 'oracle_q', 'probe_ts', 'step')) for f in probes]
    probe = dict(step=np.array([int(p['step']) for p in pr]), ts=pr[0]['probe_ts'],
                 acc_q=np.stack([p['acc_q'] for p in pr]), oracle_q=np.array([float(p['oracle_q']) for p in pr]))
    K = prereg3.onset(*prereg3.k_of(probe))
    S = prereg3.onset(m['step'][idm], m['acc'][idm], m['oracle_acc'][idm])
    return K, S, sorted(int(s) for s in m['step'][idm])


def score(images, labels, data_cfg, tol, radius):
    """Alg. 1 and the locator on the images (uint8) and on clean renders of their labels, and the failure counts."""
    acc, pred = accuracy(images, labels, tol)
    clean = render(labels, data_cfg['sigma'], data_cfg['size'])
    oracle, _ = accuracy(clean, labels, tol)
    ok = (np.abs(pred - labels) < tol).all(1)
    pok = position_hits(images, labels, tol, radius)[0].all(1)
    opok = position_hits(clean, labels, tol, radius)[0].all(1)
    return dict(acc=acc['acc'], oracle_acc=oracle['acc'], pacc=pok.mean(), oracle_pacc=opok.mean(), n=len(images),
                n_none=acc['n_none'], n_many=acc['n_many'], n_fill=acc['n_fill'], n_misplaced=int((acc['single'] & ~ok).sum()))


@torch.no_grad()
def ladder(model, diffusion, labels, device, size, names, n_ddpm, seed):
    """{variant: (images uint8, x0 float or None)} for one checkpoint: every variant from the same generator seed, so
    the labels and the initial noise x_T are the same for all (ddpm1000: the first n_ddpm labels and their x_T)."""
    out = {}
    for v in names:
        kw = dict(prereg3.VARIANTS[v])
        lab = labels[:n_ddpm] if v == 'ddpm1000' else labels
        gen = torch.Generator(device).manual_seed(seed)
        x, _ = diffusion.sample(model, torch.from_numpy(lab).to(device), generator=gen, size=size,
                                rep_step=-1 if 'exit_at' in kw else 0, **kw)
        raw = x[:, 0].float().cpu().numpy()
        img = ((np.clip(raw, -1, 1) + 1) * 127.5).round().astype(np.uint8)  # the data's 0..255 convention
        out[v] = (img, raw if v == 'exit' else None)
    return out


if __name__ == '__main__':
    config = configure(globals())
    need_run_dir(out_dir)
    names = [v.strip() for v in str(variants).split(',') if v.strip()] or list(prereg3.VARIANTS)
    check(all(v in prereg3.VARIANTS for v in names), 'variants', variants, f"comma-separated names among {', '.join(prereg3.VARIANTS)}")
    for key in ('n_ladder', 'n_ddpm'):
        check(type(config[key]) is int and config[key] > 0, key, config[key], 'a positive integer')
    check(n_ddpm <= n_ladder, 'n_ddpm', n_ddpm, f'an integer in [1, n_ladder={n_ladder}]')
    data = load_npz(os.path.join(out_dir, 'data.npz'), 'make_data.py', keys=('images', 'labels'))
    dc = data['config']
    found = checkpoints(out_dir)
    K, S, dense = dense_onsets(out_dir, dc)
    win = prereg3.window(K, S, dense)
    if str(ckpts).strip():
        win = [int(c) for c in str(ckpts).split(',') if c.strip()]
        check(all(c in found for c in win), 'ckpts', ckpts, f"steps among the checkpoints {sorted(found)}")
    print(f"{out_dir}: knows where {prereg2.show_iv(K)}, draws right {prereg2.show_iv(S)}: "
          f"window {win[0] if win else '-'}..{win[-1] if win else '-'} ({len(win)} checkpoints)", flush=True)
    missing = [c for c in win if c not in found]
    if missing:
        fail(f"{out_dir} lacks the checkpoints {missing} of its window: rerun train.py (ckpt_every=500) or keep them (prune_ckpts=False)")
    device = pick_device(device)
    if threads:
        torch.set_num_threads(threads)
    labels = draw_labels(dc, data['labels'], n_ladder, seed)[0].astype(np.float32)
    result = {k: v for k, v in config.items() if k not in NOT_RESULT}
    todo = pending(out_dir, win, 'ladder', 'elicit.py', 'elicit', result, dc, NOT_RESULT)
    print(f"ladder: {len(todo)} of {len(win)} window checkpoints to sample, variants {', '.join(names)}", flush=True)
    bar = progress(len(todo), 'ladder', 'ckpt')
    for step, path in todo:
        t0 = time.time()
        _, model, diffusion = network_at(found[step], dc, out_dir, device)
        row = {}
        for v, (img, raw) in ladder(model, diffusion, labels, device, dc['size'], names, n_ddpm, seed).items():
            lab = labels[:len(img)].astype(np.float64)
            row.update({f'{v}_{k}': np.float64(x) for k, x in score(img, lab, dc, tolerance, loc_radius).items()})
            row[f'{v}_examples'] = img[:8]
            if v == 'ddim100':  # ddpm1000's reference: the same first labels and the same x_T (torch draws them first)
                row.update({f'ddim100_sub_{k}': np.float64(x) for k, x in score(img[:n_ddpm], lab[:n_ddpm], dc, tolerance, loc_radius).items()})
            if raw is not None:  # the self-chain probe: the locator on the float x0_hat, as probe.py reads its own
                row['chain_pacc'] = np.float64(position_hits(raw, lab, tolerance, loc_radius)[0].all(1).mean())
                row['chain_oracle_pacc'] = row['exit_oracle_pacc']
        meta = json.dumps(dict(elicit=config, data=dc, step=step, K=list(K), S=list(S)))
        save_npz(path, **row, step=np.int64(step), window=np.array(win), labels=labels, config=meta)
        bar.write(f"step {step}: " + ', '.join(f"{v} {row[v + '_acc']:.2f}" for v in names) +
                  (f"; self-chain {row['chain_pacc']:.2f}" if 'chain_pacc' in row else '') + f" [{time.time() - t0:.0f}s]")
        bar.update()
    bar.close()
