"""
Train K runs as one packed network: K UNets side by side, each with its own dataset, seed, weights,
optimizer state and batches, evaluated in one call by torch.func.vmap over the model axis, so that every kernel is
K times bigger (a GPU's lever: one run of batch 32 fills a few percent of it). The mathematics of each run is its
solo run's: the same initial weights, the same batches, timesteps and noise from its own generator, its own loss
and AdamW update (elementwise, so stacking changes nothing); only float rounding differs (the attention runs as
plain softmax(QK^T)V, which vmap supports, where a solo run uses the fused kernel). Each run folder gets exactly
what train.py writes there: ckpt_*.pt (a solo run resumes from it, sample.py reads it), loss.csv; and a killed packed
run resumes from its runs' last checkpoint.

    python train_pack.py --out_dirs=out/a,out/b --seeds=0,1 --width=8 --attn_res=8,4 --steps=2000
                                                  # any of train.py's settings, shared by the K runs

bench.py measures whether it pays (aggregate img/s against K separate processes); run_all.sh packs a preset's
runs with PACK=K.
"""
import os
import time

import numpy as np
import torch

import train
from artifacts import checkpoints, load_npz, load_pt, need_run_dir, progress, same_data, save_pt
from configurator import configure, check, fail
from model import Diffusion, Packed, autocast, pick_device, set_tf32

# -----------------------------------------------------------------------------
out_dirs = ''              # comma-separated run folders (each holding data.npz), trained together
seeds = ''                 # comma-separated seeds, one per run ('' = train.py's `seed` for every run)
# -----------------------------------------------------------------------------
# (train.py's settings follow, shared by every run: --help lists them)


def opt_state(opt, K, k):
    """Run k's slice of the packed AdamW state, as a solo run's optimizer.state_dict() (same parameter order)."""
    sd = opt.state_dict()
    cut = lambda v: v[k].clone() if torch.is_tensor(v) and v.ndim and v.shape[0] == K else v
    return dict(state={i: {key: cut(v) for key, v in st.items()} for i, st in sd['state'].items()},
                param_groups=sd['param_groups'])


def stack_opt_states(sds):
    """The packed AdamW state from K solo state_dicts (the inverse of opt_state)."""
    first = sds[0]
    state = {i: {key: torch.stack([sd['state'][i][key] for sd in sds]) if v.ndim else v for key, v in st.items()}
             for i, st in first['state'].items()}
    return dict(state=state, param_groups=first['param_groups'])


if __name__ == '__main__':
    config = configure(globals(), also=(train.__file__,))
    dirs = [d.strip() for d in out_dirs.split(',') if d.strip()]
    check(len(dirs) >= 1 and len(set(dirs)) == len(dirs), 'out_dirs', out_dirs, 'comma-separated distinct run folders')
    seed_list = [s.strip() for s in str(seeds).split(',') if s.strip()] if str(seeds).strip() else [str(seed)] * len(dirs)
    check(len(seed_list) == len(dirs) and all(s.isdigit() for s in seed_list), 'seeds', seeds,
          f"{len(dirs)} comma-separated integers >= 0 (one per run folder) or '' (= seed {seed} for all)")
    seed_list = [int(s) for s in seed_list]
    check(compile == 'none', 'compile', compile, "'none' (a compiled packed network is not measured yet)")
    for d in dirs:
        need_run_dir(d)
    datas = [load_npz(os.path.join(d, 'data.npz'), 'make_data.py', keys=('images', 'labels')) for d in dirs]
    sizes = {x['images'].shape[-1] for x in datas}
    check(len(sizes) == 1, 'out_dirs', out_dirs, 'runs whose images have one size (packed models share one architecture)')
    size = sizes.pop()
    # every run's config is what train.py would record for it alone: train.py's settings, its folder and its seed
    shared = {k: v for k, v in config.items() if k not in ('out_dirs', 'seeds')}
    configs = [dict(shared, out_dir=d, seed=s) for d, s in zip(dirs, seed_list)]
    train.validate(configs[0], size)
    device = pick_device(device)
    if threads:
        torch.set_num_threads(threads)
    set_tf32(tf32)
    model_args = dict(width=width, attn_res=attn_res, pe_dim=pe_dim, size=size)
    net = Packed(model_args, seed_list, device)
    K, names = net.K, net.names
    diffusion = Diffusion(T, beta_start, beta_end).to(device)
    ema_p = {n: v.detach().clone() for n, v in net.params.items()} if ema else None
    opt = torch.optim.AdamW([net.params[n] for n in names], lr=lr, betas=(beta1, beta2), weight_decay=weight_decay,
                            fused=device.startswith('cuda'))
    gens = [torch.Generator(device).manual_seed(s) for s in seed_list]

    # resume: every run from its latest checkpoint, all at one step (else: resume them with train.py, one by one)
    found = [checkpoints(d) for d in dirs]
    start, loss_vals = 0, [float('nan')] * K
    if any(found):
        lasts = [max(f) if f else 0 for f in found]
        if len(set(lasts)) > 1:
            fail(f"the runs stopped at different steps ({', '.join(f'{d}: {s}' for d, s in zip(dirs, lasts))}): finish each "
                 f"with train.py, or pack runs that stopped together")
        cks = [load_pt(f[lasts[0]], 'train_pack.py (it resumes from the checkpoint before)') for f in found]
        resumable = train.RESUMABLE if lr_decay == 'none' else tuple(k for k in train.RESUMABLE if k != 'steps')
        for ck, c, d, x in zip(cks, configs, dirs, datas):
            diff = [k for k in c if k not in resumable and ck['config'].get(k, train.DEFAULTS.get(k)) != c[k]]
            if diff or not same_data(ck['data_config'], x['config']):
                what = ', '.join(f"{k}={ck['config'].get(k)!r} (now {c[k]!r})" for k in diff) or 'the dataset changed'
                fail(f"{d}'s last checkpoint was made with {what}: use another folder, or delete its checkpoints")
        with torch.no_grad():
            for n in names:
                net.params[n].copy_(torch.stack([ck['model'][n] for ck in cks]))
                if ema_p is not None:
                    ema_p[n].copy_(torch.stack([ck['ema'][n] for ck in cks]))
        opt.load_state_dict(stack_opt_states([ck['optimizer'] for ck in cks]))
        for g, ck in zip(gens, cks):
            g.set_state(ck['rng'])
        start, loss_vals = lasts[0], [ck['loss'] for ck in cks]
        print(f"resumed {K} runs at step {start}")

    x_all = [(torch.from_numpy(x['images']).float() / 127.5 - 1).unsqueeze(1).to(device) for x in datas]
    mu_all = [torch.from_numpy(x['labels']).to(device) for x in datas]
    print(f"{K} runs packed, {sum(v[0].numel() for v in net.params.values()) / 1e6:.2f} M parameters each, steps {start} -> {steps}")

    def save(step):
        for k, (d, c, x) in enumerate(zip(dirs, configs, datas)):
            ck = dict(model=net.state(k), optimizer=opt_state(opt, K, k), step=step, loss=loss_vals[k],
                      rng=gens[k].get_state().cpu(), model_args=model_args,
                      diffusion_args=dict(T=T, beta_start=beta_start, beta_end=beta_end), config=c, data_config=x['config'])
            if ema_p is not None:
                ck['ema'] = net.state(k, ema_p)
            save_pt(ck, os.path.join(d, f'ckpt_{step:07d}.pt'))

    if start == 0 and not any(found):
        save(0)
    extra_ckpts = {int(s) for s in str(ckpt_at).split(',') if s.strip()}
    logs = [os.path.join(d, 'loss.csv') for d in dirs]
    for path in logs:
        train.start_loss_log(path, start)
    q_sum, q_n = torch.zeros(K, 4, device=device), torch.zeros(K, 4, device=device)
    t_log = time.time()
    bar = progress(steps, f'train x{K}', 'step', initial=start)
    t0, seen = time.time(), 0
    for step in range(start, steps):
        for g in opt.param_groups:
            g['lr'] = train.lr_at(step, lr, warmup, lr_decay, steps)
        # each run draws exactly what its solo run draws, in the same order: indices, then (Diffusion.loss) t, noise
        x0, mu, t, noise = [], [], [], []
        for k in range(K):
            idx = torch.randint(0, len(x_all[k]), (batch_size,), device=device, generator=gens[k])
            x0.append(x_all[k][idx]), mu.append(mu_all[k][idx])
            t.append(torch.randint(0, T, (batch_size,), device=device, generator=gens[k]))
            noise.append(torch.randn(x0[k].shape, device=device, generator=gens[k]))
        x0, mu, t, noise = torch.stack(x0), torch.stack(mu), torch.stack(t), torch.stack(noise)
        xt = diffusion.q_sample(x0.flatten(0, 1), t.flatten(), noise.flatten(0, 1)).view_as(x0)
        with autocast(device, dtype):
            err = (net(xt, t, mu).float() - noise).pow(2).mean((2, 3, 4))  # (K, B)
        loss = err.mean(1)                                                   # each run's loss
        q = t * 4 // T
        q_sum.scatter_add_(1, q, err.detach()), q_n.scatter_add_(1, q, torch.ones_like(err))
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # run k's weights get exactly the gradient of run k's loss
        opt.step()
        if ema_p is not None:
            with torch.no_grad():
                for n in names:
                    ema_p[n].lerp_(net.params[n], 1 - ema)
        seen += batch_size * K
        out_of_time = time_limit and time.time() - t0 > 60 * time_limit
        is_ckpt = (step + 1) % ckpt_every == 0 or step + 1 in extra_ckpts or step + 1 == steps or out_of_time
        if step % 25 == 0 or is_ckpt:
            loss_vals = loss.tolist()
            bad = [d for d, v in zip(dirs, loss_vals) if not np.isfinite(v)]
            if bad:
                bar.close()
                fail(f"loss is not finite in {', '.join(bad)} at step {step + 1}: training stopped, the last good checkpoints are kept")
            bar.set_postfix(loss=f'{np.mean(loss_vals):.4f}', img_s=f'{seen / (time.time() - t0):.0f}', refresh=False)
        if (step + 1) % log_every == 0:  # one row per run's loss.csv, as train.py writes it (img_s: this run's share)
            now = time.time()
            for k, path in enumerate(logs):
                qs = (q_sum[k] / q_n[k].clamp(min=1)).tolist()
                with open(path, 'a') as f:
                    f.write(f"{step + 1},{q_sum[k].sum().item() / max(1, q_n[k].sum().item()):.6g},{','.join(f'{v:.6g}' for v in qs)},"
                            f"{train.lr_at(step, lr, warmup, lr_decay, steps):.6g},{log_every * batch_size / (now - t_log):.1f}\n")
            q_sum.zero_(), q_n.zero_()
            t_log = now
        if is_ckpt:
            save(step + 1)
            bar.write(f"checkpoint {step + 1} of {K} runs (losses {', '.join(f'{v:.4f}' for v in loss_vals)})")
        bar.update(1)
        if out_of_time:
            bar.close()
            print(f"time limit: stopped after {time_limit:g} min at step {step + 1} (checkpoints written; "
                  f"{seen / (time.time() - t0):.1f} img/s in all); rerun to go on")
            break
    else:
        bar.close()
        print(f"done: {steps} steps of {K} runs ({seen / max(time.time() - t0, 1e-9):.1f} img/s in all, in this process)")
