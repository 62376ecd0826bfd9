"""
One-step probes of every checkpoint: does the network know *where* the bump goes before its samples come out right?
Forward passes only, so they are cheap enough for a dense checkpoint grid.

    python probe.py --out_dir=out/run                 # every checkpoint (train with a small --ckpt_every)

For n_probe clean renders at positions p (drawn from the training centres) and each timestep t of probe_ts, x_t is
made with fixed noise (the same for every checkpoint), and the network is called twice: (a) with the label q = p,
(b) with a label q drawn independently of p. From each call, the one-step prediction of the clean image
    x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)
is located by metrics.locate (position only: brightness and contrast do not matter), and layer 4 is kept with each
channel's spatial mean removed (the broadcast label embedding is a per-channel constant; metrics.demean_channels).
Writes {out_dir}/probes_{step:07d}.npz, arrays over probe_ts:
  hit_q (t, n, 2)        (b) x0_hat lands within `tolerance` of the label q, per axis ("knows where")
  hit_p (t, n, 2)        (b) ... of the image's own position p (copies the input instead)
  hit_r (t, n, 2)        (b) ... of an unrelated label r: the chance level, the per-checkpoint null
  hit_a (t, n, 2)        (a) ... of p = q (label and image agree, as on the training data)
  acc_q, acc_p, acc_r, acc_a (t,)   the joint (both axes) fractions of the above
  oracle_q               the locator on clean renders of q: the ceiling of acc_q (1.0 for sigma = 1 on the grid)
  oracle_a               ... of p: the ceiling of acc_a
  dec_q_x0, dec_p_x0     (t,) (nan where t is not in dec_ts) cross-validated R^2 of linear (ridge) decoders of q and of p from x0_hat
  dec_q_l4, dec_p_l4     (t,) ... from layer 4 (demeaned)
  dec_q_l4_gain          (t,) R^2 of q from x0_hat and layer 4 together minus from x0_hat alone: what layer 4
                         holds about the label that the one-step prediction does not
  dec_r_l4               (t,) R^2 of the unrelated label r from layer 4 (the decoders' null, ~0 or below)
  x0_examples (t, k, size, size) float16   x0_hat of the first k samples of (b), for the figures
  labels_p, labels_q, labels_r (n, 2), probe_ts, step, config
A checkpoint whose probes exist with the same settings is skipped. Step 0 (the untrained network, same inputs) is
every measure's floor.
"""
import json
import os
import time

import numpy as np
import torch

from artifacts import checkpoints, load_npz, load_pt, need_run_dir, network_at, pending, progress, save_npz
from bumps import draw_labels, render
from configurator import configure, check, fail
from metrics import demean_channels, position_hits
from model import pick_device

# -----------------------------------------------------------------------------
out_dir = 'out/run'            # run folder with data.npz and ckpt_*.pt
ckpts = ''                     # comma-separated steps to probe ('' = every checkpoint)
n_probe = 256                  # clean renders (positions p) per checkpoint
probe_ts = '0,100,200,300,400,500,700,900'  # timesteps of the one-step position probes (0-based, < T)
dec_ts = '100,300,500'          # timesteps that also get the linear decoders (a subset of probe_ts; they cost most)
tolerance = 1.0                # Eq. 1's test: within this many pixels on each axis
loc_radius = 2                 # metrics.locate's window half-width (pixels)
folds = 5                      # cross-validation folds of the decoders (fixed, shuffled with `seed`)
n_examples = 8                 # x0_hat images kept per t for the figures
seed = 0                       # fixes p, q, r and the noise (the same for every checkpoint)
device = 'auto'                # 'auto', 'cpu' or 'cuda'
threads = 0                    # torch CPU threads (0 = default)
# -----------------------------------------------------------------------------
NOT_RESULT = ('out_dir', 'ckpts', 'device', 'threads')


def parse_ts(text, T):
    ts = [s.strip() for s in str(text).split(',') if s.strip()]
    check(ts and all(s.isdigit() and int(s) < T for s in ts), 'probe_ts', text, f"comma-separated timesteps in [0, T={T})")
    return [int(s) for s in ts]


def decoder_r2(X, y, folds, seed):
    """Cross-validated R^2 (mean over the two coordinates) of a ridge regression predicting y (n, 2) from X (n, D),
    its penalty chosen inside each training fold (RidgeCV); the folds are fixed. No PCA first: a place code (a bump
    that moves) is spread over many components, and a PCA cut loses it (a perfect 16x16 place code of 256 labels
    decodes at R^2 0.97 with ridge alone, 0.91 after PCA to 50). The penalty is cross-validated, so more features
    (a wider layer 4) do not raise R^2 by construction; the untrained floor and the unrelated label say where 0 is."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    X = np.asarray(X, np.float32)
    pred = cross_val_predict(RidgeCV(alphas=np.logspace(-3, 5, 17)), X, y, cv=KFold(folds, shuffle=True, random_state=seed))
    return float(np.mean([r2_score(y[:, i], pred[:, i]) for i in range(2)]))


@torch.no_grad()
def probe(model, diffusion, x0, p, q, r, ts, noise, c):
    """The measures of one checkpoint (see the module docstring)."""
    dev = x0.device
    out = {k: [] for k in ('hit_q', 'hit_p', 'hit_r', 'hit_a', 'dec_q_x0', 'dec_p_x0', 'dec_q_l4', 'dec_p_l4', 'dec_q_l4_gain',
                           'dec_r_l4', 'x0_examples')}
    size = x0.shape[-1]
    for j, t in enumerate(ts):
        decode = t in c['dec_ts']
        tt = torch.full((len(x0),), t, dtype=torch.long, device=dev)
        xt = diffusion.q_sample(x0, tt, noise[j])
        x0_hat = {}
        for name, label in (('a', p), ('b', q)):
            eps, feats = model(xt, tt, torch.from_numpy(label).to(dev), return_features=True)
            x0_hat[name] = diffusion.predict_x0(xt, eps.float(), t)[:, 0].cpu().numpy()
            if name == 'b':
                l4 = demean_channels(feats['layer4'].float().flatten(1).cpu().numpy(), size)
        xb = x0_hat['b'].reshape(len(p), -1)
        for key, target in (('hit_q', q), ('hit_p', p), ('hit_r', r)):
            out[key].append(position_hits(x0_hat['b'], target, c['tolerance'], c['loc_radius'])[0])
        out['hit_a'].append(position_hits(x0_hat['a'], p, c['tolerance'], c['loc_radius'])[0])
        dec = lambda X, y: decoder_r2(X, y, c['folds'], c['seed']) if decode else np.nan
        out['dec_q_x0'].append(dec(xb, q))
        out['dec_p_x0'].append(dec(xb, p))
        out['dec_q_l4'].append(dec(l4, q))
        out['dec_p_l4'].append(dec(l4, p))
        # each part scaled to unit total variance, so the joint PCA does not favour the part with the larger values
        # (a part whose spread is below 1e-3, a constant x0_hat up to float rounding, is not blown up to unit variance)
        both = np.concatenate([xb / max(xb.std(), 1e-3), l4 / max(l4.std(), 1e-3)], 1) if decode else None
        out['dec_q_l4_gain'].append(dec(both, q) - out['dec_q_x0'][-1])
        out['dec_r_l4'].append(dec(l4, r))
        out['x0_examples'].append(x0_hat['b'][:c['n_examples']].astype(np.float16))
    res = {k: np.array(v) for k, v in out.items()}
    for k in ('q', 'p', 'r', 'a'):
        res['acc_' + k] = res['hit_' + k].all(2).mean(1)
    return res


if __name__ == '__main__':
    config = configure(globals())
    for key in ('n_probe', 'folds', 'n_examples', 'loc_radius'):
        check(type(config[key]) is int and config[key] > 0, key, config[key], 'a positive integer')
    check(config['folds'] >= 2 and n_probe >= 2 * folds, 'folds', folds, f'an integer in [2, n_probe/2={n_probe // 2}]')
    check(tolerance > 0, 'tolerance', tolerance, 'pixels > 0')
    need_run_dir(out_dir)
    data = load_npz(os.path.join(out_dir, 'data.npz'), 'make_data.py', keys=('images', 'labels'))
    found = checkpoints(out_dir)
    if not found:
        fail(f"no checkpoints in {out_dir}: run train.py first")
    first = load_pt(found[min(found)], 'train.py')
    T = first['diffusion_args']['T']
    ts = parse_ts(probe_ts, T)
    config['dec_ts'] = parse_ts(dec_ts, T)  # a list from here on (the saved config keeps it)
    check(set(config['dec_ts']) <= set(ts), 'dec_ts', dec_ts, f"timesteps among probe_ts={probe_ts!r}")
    wanted = sorted(found) if not str(ckpts).strip() else [int(s) for s in str(ckpts).split(',') if s.strip()]
    check(all(s in found for s in wanted), 'ckpts', ckpts, f"steps among the checkpoints {sorted(found)}")
    device = pick_device(device)
    if threads:  # torch's threads and the decoders' BLAS threads (a sweep runs one process per core)
        torch.set_num_threads(threads)
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
    dc = data['config']
    # p, q, r: three independent draws of training centres (p without repeats where possible)
    p = draw_labels(dc, data['labels'], n_probe, seed)[0].astype(np.float32)
    q = draw_labels(dc, data['labels'], n_probe, seed + 1, unique=False)[0].astype(np.float32)
    r = draw_labels(dc, data['labels'], n_probe, seed + 2, unique=False)[0].astype(np.float32)
    x0 = torch.from_numpy(render(p, dc['sigma'], dc['size']).astype(np.float32) / 127.5 - 1)[:, None]
    noise = torch.randn((len(ts),) + tuple(x0.shape), generator=torch.Generator().manual_seed(seed)).to(device)  # on the CPU: the same on any device
    x0 = x0.to(device)
    oracle_q = position_hits(render(q, dc['sigma'], dc['size']), q, tolerance, loc_radius)[0].all(1).mean()  # the locator's ceiling
    oracle_a = position_hits(render(p, dc['sigma'], dc['size']), p, tolerance, loc_radius)[0].all(1).mean()  # ... of acc_a
    result = {k: v for k, v in config.items() if k not in NOT_RESULT}
    todo = pending(out_dir, wanted, 'probes', 'probe.py', 'probe', result, dc, NOT_RESULT)
    print(f"probing {len(todo)} checkpoint(s) of {out_dir} ({len(wanted) - len(todo)} of {len(wanted)} done) at t = {ts}", flush=True)
    bar = progress(len(todo), 'probe', 'ckpt')
    for step, path in todo:
        t0 = time.time()
        ck, model, diffusion = network_at(found[step], dc, out_dir, device)
        res = probe(model, diffusion, x0, p, q, r, ts, noise, config)
        meta = json.dumps(dict(probe=config, train=ck['config'], data=dc, step=step))
        save_npz(path, **res, oracle_q=np.float64(oracle_q), oracle_a=np.float64(oracle_a), labels_p=p, labels_q=q, labels_r=r, probe_ts=np.array(ts), step=np.int64(step), config=meta)
        j = int(np.argmin(np.abs(np.array(ts) - 300)))  # the line reports mid noise
        bar.write(f"step {step}: one-step acc at t={ts[j]}: label {res['acc_q'][j]:.2f}, image {res['acc_p'][j]:.2f}, "
                  f"unrelated {res['acc_r'][j]:.2f}; layer-4 gain over x0_hat {res['dec_q_l4_gain'][j]:+.2f} [{time.time() - t0:.1f}s]")
        bar.update()
    bar.close()
