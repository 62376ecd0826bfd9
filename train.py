"""
Train the conditional DDPM on one dataset (paper Sec. A.4 and A.6), with checkpoints for evaluation.

    python train.py --out_dir=out/run                       # the paper's model and schedule (GPU scale)
    python train.py --out_dir=out/run --width=8 --attn_res=8,4 --lr=2e-3 --warmup=100 --lr_decay=cosine --steps=16000
                                                            # one run of the cpu preset (~25 min on one core)
Rerunning the same command resumes from the latest checkpoint in out_dir.

Reads {out_dir}/data.npz; writes {out_dir}/ckpt_{step:07d}.pt at step 0, every ckpt_every steps and at the
last step: model + optimizer state, step, RNG state, model_args, config and the dataset's config; and appends to
{out_dir}/loss.csv every log_every steps: step, the mean loss over those steps, the same per quarter of t (q0: the
least noisy quarter, t < T/4), lr and img/s (a resume first drops rows past its checkpoint).
"""
import math
import os
import time

import numpy as np
import torch

from artifacts import checkpoints, load_npz, load_pt, need_run_dir, progress, same_data, save_pt
from configurator import config_block, configure, check, fail
from model import UNet, Diffusion, autocast, pick_device, set_tf32

# -----------------------------------------------------------------------------
out_dir = 'out/run'        # run folder holding data.npz; checkpoints go here too
# model (the paper's Fig. 6)
width = 64                 # base channel width (paper 64)
attn_res = '32,16,8,4'     # comma-separated resolutions that get self-attention (paper: all four)
pe_dim = 128               # length N of each sinusoidal encoding; the embedding is 3N
T = 1000                   # diffusion steps
beta_start = 1e-4          # linear beta schedule start
beta_end = 0.02            # linear beta schedule end
# optimisation
steps = 320000             # optimizer steps (batches), the same for every dataset (paper A.6)
batch_size = 32            # images per step
lr = 3e-4                  # AdamW learning rate
beta1 = 0.9                # AdamW beta1 (PyTorch's default for both betas; the paper names none)
beta2 = 0.999              # AdamW beta2 (second-moment decay)
weight_decay = 0.01        # AdamW weight decay (PyTorch's default; the paper names none)
warmup = 0                 # linear lr warm-up steps (0 = none, the paper)
lr_decay = 'none'          # lr after warm-up: 'none' (constant, the paper) or 'cosine' (to 0 at the last step)
ema = 0.0                  # EMA decay of the weights used for sampling (0 = off, the paper mentions none)
ckpt_every = 6400          # checkpoint (= evaluation point) every this many steps
ckpt_at = ''               # comma-separated extra checkpoint steps, e.g. denser early to resolve the phases
seed = 0                   # seeds init, batches, timesteps and noise
# speed (measured in bench.py; none changes the maths beyond bf16 rounding)
device = 'auto'            # 'auto' (cuda if present, else cpu), 'cpu' or 'cuda'
dtype = 'float32'          # 'float32' or 'bfloat16' (autocast)
channels_last = True       # NHWC memory layout for the convolutions
tf32 = False               # CUDA: TF32 matmuls and convolutions (bench.py measures whether it pays)
compile = 'none'           # torch.compile the network: 'none', 'default' or 'reduce-overhead' (CUDA graphs)
threads = 0                # torch CPU threads (0 = torch's default, one per core)
time_limit = 0.0           # minutes after which training checkpoints and stops cleanly (0 = none); rerun to go on
log_every = 100            # steps per row of loss.csv (the loss averaged over them)
# -----------------------------------------------------------------------------
DEFAULTS = {name: value for name, value, _ in config_block(__file__)}  # a setting an older checkpoint lacks had its default
RESUMABLE = ('out_dir', 'steps', 'ckpt_every', 'ckpt_at', 'device', 'threads', 'channels_last', 'tf32', 'compile', 'time_limit',
             'log_every')  # may change between a run and its resume


def validate(c, size):
    for key in ('steps', 'batch_size', 'ckpt_every', 'width', 'pe_dim', 'T', 'log_every'):
        check(type(c[key]) is int and c[key] > 0, key, c[key], 'a positive integer')
    check(c['pe_dim'] % 2 == 0, 'pe_dim', c['pe_dim'], 'an even integer')
    check(c['width'] % 4 == 0, 'width', c['width'], 'a multiple of 4 (4 attention heads)')
    check(0 < c['lr'] < 1, 'lr', c['lr'], 'a number in (0, 1)')
    for key in ('beta1', 'beta2'):
        check(0 <= c[key] < 1, key, c[key], 'a number in [0, 1)')
    extra = [s.strip() for s in str(c['ckpt_at']).split(',') if s.strip()]
    check(all(s.isdigit() and 0 < int(s) for s in extra), 'ckpt_at', c['ckpt_at'], "comma-separated positive integers (steps) or ''")
    check(0 <= c['ema'] < 1, 'ema', c['ema'], 'a number in [0, 1) (0 = off)')
    check(0 < c['beta_start'] < c['beta_end'] < 1, 'beta_end', c['beta_end'], f"a number in (beta_start={c['beta_start']}, 1)")
    check(type(c['warmup']) is int and c['warmup'] >= 0, 'warmup', c['warmup'], 'an integer >= 0')
    check(c['lr_decay'] in ('none', 'cosine'), 'lr_decay', c['lr_decay'], "'none' or 'cosine'")
    check(c['dtype'] in ('float32', 'bfloat16'), 'dtype', c['dtype'], "'float32' or 'bfloat16'")
    check(type(c['threads']) is int and c['threads'] >= 0, 'threads', c['threads'], 'an integer >= 0 (0 = default)')
    check(c['compile'] in ('none', 'default', 'reduce-overhead'), 'compile', c['compile'], "'none', 'default' or 'reduce-overhead'")
    check(c['time_limit'] >= 0, 'time_limit', c['time_limit'], 'minutes >= 0 (0 = no limit)')
    res = [r.strip() for r in str(c['attn_res']).split(',') if r.strip()]
    allowed = [str(size >> k) for k in range(4)]  # the UNet's resolutions: size, size/2, size/4, size/8
    check(all(r in allowed for r in res), 'attn_res', c['attn_res'], f"comma-separated values from {','.join(allowed)} or ''")


LOSS_COLS = ('step', 'loss', 'loss_q0', 'loss_q1', 'loss_q2', 'loss_q3', 'lr', 'img_s')


def start_loss_log(path, start):
    """loss.csv kept up to `start` (a resumed run drops the rows it will write again; a torn last line goes too)."""
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = [line for line in f.read().splitlines()[1:] if line.count(',') == len(LOSS_COLS) - 1
                    and line.split(',')[0].isdigit() and int(line.split(',')[0]) <= start]
    with open(path + '.tmp', 'w') as f:
        f.write(','.join(LOSS_COLS) + '\n' + ''.join(r + '\n' for r in rows))
    os.replace(path + '.tmp', path)


def lr_at(step, lr, warmup, lr_decay, steps):
    """Linear warm-up over `warmup` steps, then constant or a cosine down to 0 at step `steps`."""
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    if lr_decay == 'cosine':
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
    return lr


if __name__ == '__main__':
    config = configure(globals())
    need_run_dir(out_dir)
    data = load_npz(os.path.join(out_dir, 'data.npz'), 'make_data.py', keys=('images', 'labels'))
    validate(config, data['images'].shape[-1])
    device = pick_device(device)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model_args = dict(width=width, attn_res=attn_res, pe_dim=pe_dim, size=data['images'].shape[-1])
    model = UNet(**model_args).to(device)
    diffusion = Diffusion(T, beta_start, beta_end).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    set_tf32(tf32)
    net = model if compile == 'none' else torch.compile(model, mode=None if compile == 'default' else compile)  # saves use `model`
    ema_model = UNet(**model_args).to(device).requires_grad_(False) if ema else None
    if ema_model is not None:
        ema_model.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(beta1, beta2), weight_decay=weight_decay, fused=device.startswith('cuda'))
    gen = torch.Generator(device).manual_seed(seed)

    # resume from the latest checkpoint, refusing one from another dataset or configuration
    start, loss_val = 0, float('nan')
    ckpts = checkpoints(out_dir)
    if ckpts:
        last = max(ckpts)
        ck = load_pt(ckpts[last], 'train.py (it resumes from the checkpoint before)')
        resumable = RESUMABLE if lr_decay == 'none' else tuple(k for k in RESUMABLE if k != 'steps')  # a decay ends at `steps`
        diff = [k for k in config if k not in resumable and ck['config'].get(k, DEFAULTS.get(k)) != config[k]]
        if diff or not same_data(ck['data_config'], data['config']):
            what = ', '.join(f"{k}={ck['config'].get(k)!r} (now {config[k]!r})" for k in diff) or 'the dataset changed'
            fail(f"{ckpts[last]} was made with {what}: use another out_dir, or delete its checkpoints and rerun train.py")
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['optimizer'])
        if ema_model is not None:
            ema_model.load_state_dict(ck['ema'])
        gen.set_state(ck['rng'])  # a CPU ByteTensor for CPU and CUDA generators alike
        start, loss_val = ck['step'], ck['loss']
        print(f"resumed from {ckpts[last]} at step {start}")

    # the whole dataset lives on the device as one tensor; batches are random indices into it
    x_all = (torch.from_numpy(data['images']).float() / 127.5 - 1).unsqueeze(1).to(device)  # (N,1,32,32) in [-1,1]
    x_all = x_all.contiguous(memory_format=fmt)
    mu_all = torch.from_numpy(data['labels']).to(device)                                     # (N,2) pixel units
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(x_all):,} images, {n_params / 1e6:.2f} M parameters, steps {start} -> {steps}")

    def save(step, loss_val):
        ck = dict(model=model.state_dict(), optimizer=opt.state_dict(), step=step, loss=loss_val, rng=gen.get_state().cpu(),
                  model_args=model_args, diffusion_args=dict(T=T, beta_start=beta_start, beta_end=beta_end),
                  config=config, data_config=data['config'])
        if ema_model is not None:
            ck['ema'] = ema_model.state_dict()
        save_pt(ck, os.path.join(out_dir, f'ckpt_{step:07d}.pt'))

    if start == 0 and 0 not in ckpts:
        save(0, loss_val)
    extra_ckpts = {int(s) for s in str(ckpt_at).split(',') if s.strip()}
    # a checkpoint the settings ask for below the resume step can no longer be made (ckpt_every or ckpt_at changed
    # after training passed it): say so rather than finish without it (a pruned one left its samples behind)
    lost = sorted(s for s in set(range(ckpt_every, start + 1, ckpt_every)) | {s for s in extra_ckpts if s <= start}
                  if s not in ckpts and not os.path.exists(os.path.join(out_dir, f'samples_{s:07d}.npz')))
    if lost:
        fail(f"{out_dir} has no checkpoint at step(s) {', '.join(map(str, lost))}, which ckpt_every/ckpt_at ask for below "
             f"step {start} where it would resume: use another out_dir, or delete its checkpoints and rerun train.py")
    loss_log = os.path.join(out_dir, 'loss.csv')
    start_loss_log(loss_log, start)
    q_sum, q_n = torch.zeros(4, device=device), torch.zeros(4, device=device)  # loss per quarter of t since the last row
    t_log = time.time()
    bar = progress(steps, 'train', 'step', initial=start)
    t0, seen = time.time(), 0
    for step in range(start, steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, lr, warmup, lr_decay, steps)
        idx = torch.randint(0, len(x_all), (batch_size,), device=device, generator=gen)
        with autocast(device, dtype):
            err, t = diffusion.loss(net, x_all[idx], mu_all[idx], generator=gen, per_sample=True)
        loss = err.mean()
        q = t * 4 // T
        q_sum.index_add_(0, q, err.detach()), q_n.index_add_(0, q, torch.ones_like(err))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema_model is not None:
            with torch.no_grad():
                for pe, pm in zip(ema_model.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - ema)
        seen += batch_size
        out_of_time = time_limit and time.time() - t0 > 60 * time_limit
        is_ckpt = (step + 1) % ckpt_every == 0 or step + 1 in extra_ckpts or step + 1 == steps or out_of_time
        if step % 25 == 0 or is_ckpt:  # .item() syncs the device, so only now and then
            loss_val = loss.item()
            if not np.isfinite(loss_val):  # stop before a bad state reaches a checkpoint; earlier ones stay
                bar.close()  # so that the error gets a line of its own
                fail(f"loss is {loss_val} at step {step + 1}: training stopped, the last good checkpoint is kept")
            bar.set_postfix(loss=f'{loss_val:.4f}', img_s=f'{seen / (time.time() - t0):.0f}', refresh=False)
        if (step + 1) % log_every == 0:  # one row of loss.csv: the means since the last row
            qs = (q_sum / q_n.clamp(min=1)).tolist()
            with open(loss_log, 'a') as f:
                f.write(f"{step + 1},{sum(q_sum.tolist()) / max(1, sum(q_n.tolist())):.6g},{','.join(f'{v:.6g}' for v in qs)},"
                        f"{lr_at(step, lr, warmup, lr_decay, steps):.6g},{log_every * batch_size / (time.time() - t_log):.1f}\n")
            q_sum.zero_(), q_n.zero_()
            t_log = time.time()
        if is_ckpt:
            save(step + 1, loss_val)
            bar.write(f"checkpoint {os.path.join(out_dir, f'ckpt_{step + 1:07d}.pt')} (loss {loss_val:.4f})")
        bar.update(1)
        if out_of_time:
            bar.close()
            print(f"time limit: stopped after {time_limit:g} min at step {step + 1} (checkpoint written); rerun to go on")
            break
    else:
        bar.close()
        print(f"done: {steps} steps in {out_dir} ({seen / max(time.time() - t0, 1e-9):.1f} img/s in this process)")
