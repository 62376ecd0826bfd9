"""
Speed of this project against a plain implementation of the same model, in one process (numbers, not tests).

    python bench.py                                  # paper model and CPU preset: train, sample, evaluate
    python bench.py --agree_dir=out/cpu/main         # also: fast sampler vs full DDPM-1000 on that run's checkpoints

"plain" = the same UNet in fp32, eager, contiguous NCHW, attention as explicit softmax(QK^T)V, and (for
evaluation) ancestral DDPM over all T = 1000 steps; "project" = the settings train.py / sample.py use for
that preset. Prints a table, then one JSON line with the headline figures.
"""
import json
import os
import resource
import shlex
import subprocess
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from artifacts import checkpoints, load_pt
from bumps import draw_labels
from configurator import check, config_block, configure, fail, parse_overrides
from metrics import accuracy, embed, r_squared
from model import UNet, Diffusion, autocast, generate, pick_device

# -----------------------------------------------------------------------------
device = 'auto'          # 'auto', 'cpu' or 'cuda'
repeats = 5              # timed repeats per measurement (the median is reported)
n_eval = 500             # samples per evaluation (the paper's 500)
plain_steps_timed = 4    # DDPM steps timed for the plain 1,000-step evaluation (then extrapolated)
preset = 'cpu'           # run_all.sh preset whose model and sampler are timed beside the paper model
# paper model
paper_batch = 32         # training batch (paper)
paper_dtype = 'float32'  # precision of the project's paper-preset step on this device
paper_call_batch = 64    # sampling batch timed for the paper model (images x calls/s barely depends on it)
# sampler agreement (expensive: 500 samples by DDPM-1000 per checkpoint)
agree_dir = ''           # run folder whose checkpoints to compare samplers on ('' = skip, reuse a saved result)
agree_ckpts = ''         # comma-separated steps (early, middle, final); '' = first, middle and last
agree_file = 'results/sampler_agreement.json'  # agreement rows accumulate here (run, step, sampler)
speed = True             # run the speed measurements (False: only the sampler agreement)
threads = 0              # torch CPU threads (0 = default)
seed = 0                 # seeds the timed models' weights and the evaluation labels
# -----------------------------------------------------------------------------


HERE = os.path.dirname(os.path.abspath(__file__))


def defaults(script):
    """{setting: default} of a script's config block (the one source of every default)."""
    return {name: value for name, value, _ in config_block(os.path.join(HERE, script))}


def preset_settings(name):
    """(train, sample) settings of a run_all.sh preset: the scripts' defaults with the preset's overrides."""
    out = subprocess.run(['bash', os.path.join(HERE, 'run_all.sh'), 'settings', name], capture_output=True, text=True)
    if out.returncode:
        fail(out.stderr.strip().removeprefix('error: '))
    lines = dict(line.split(': ', 1) for line in out.stdout.splitlines() if ': ' in line)
    res = []
    for script, key in (('train.py', 'train'), ('sample.py', 'sample')):
        d = defaults(script)
        res.append({**d, **parse_overrides(shlex.split(lines.get(key, '')), d)})
    return res


TRAIN_DEFAULTS = defaults('train.py')
_a = defaults('analyze.py')
UMAP = (_a['n_neighbors'], _a['min_dist'], _a['umap_dims'], _a['seed'])  # analyze.py's UMAP settings


def build(width, attn, fast, dev):
    m = UNet(width, attn).to(dev)
    for mod in m.modules():
        if hasattr(mod, 'fused'):
            mod.fused = fast
    return m.to(memory_format=torch.channels_last if fast else torch.contiguous_format)


def timed(fn, repeats, sync):
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def train_rate(m, batch, dtype, fast, dev, repeats, sync):
    """Images per second of the training step (AdamW, random t, MSE on eps), as train.py runs it."""
    d = Diffusion().to(dev)
    opt = torch.optim.AdamW(m.parameters(), lr=TRAIN_DEFAULTS['lr'], fused=dev.startswith('cuda') and fast)
    fmt = torch.channels_last if fast else torch.contiguous_format
    x = (torch.rand(batch, 1, 32, 32, device=dev) * 2 - 1).contiguous(memory_format=fmt)
    mu = torch.rand(batch, 2, device=dev) * 32

    def step():
        with torch.autocast(dev.split(':')[0], torch.bfloat16, enabled=dtype == 'bfloat16'):
            loss = d.loss(m, x, mu)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch / timed(step, repeats, sync)


def call_rate(m, n, dtype, fast, dev, repeats, sync):
    """Images x network calls per second of sampling (no grad, all n images in one batch)."""
    fmt = torch.channels_last if fast else torch.contiguous_format
    x = torch.randn(n, 1, 32, 32, device=dev).contiguous(memory_format=fmt)
    t, mu = torch.randint(0, 1000, (n,), device=dev), torch.rand(n, 2, device=dev) * 32

    def call():
        with torch.no_grad(), torch.autocast(dev.split(':')[0], torch.bfloat16, enabled=dtype == 'bfloat16'):
            m(x, t, mu)
    return n / timed(call, max(2, repeats // 2), sync)


def gflop_per_image(m, dev):
    with FlopCounterMode(display=False) as fc:
        m(torch.randn(1, 1, 32, 32, device=dev), torch.zeros(1, dtype=torch.long, device=dev), torch.ones(1, 2, device=dev) * 16)
    return fc.get_total_flops() / 1e9


def matmul_peak(dtype, dev, sync, n=1024):
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    return 2 * n ** 3 / timed(lambda: a @ b, 3, sync) / 1e9


def score_seconds(images, labels, layer4):
    """Wall time of Alg. 1 + UMAP + R^2 on one checkpoint's samples (numba already compiled)."""
    t0 = time.perf_counter()
    accuracy(images, labels, 1.0)
    r_squared(embed(layer4, *UMAP), labels)
    return time.perf_counter() - t0


def run_speed(dev, sync):
    """Train/sample rates of the paper model and the CPU preset, plain vs ours, and one whole evaluation."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu capability {torch.backends.cpu.get_cpu_capability()}")
    peak32, peak16 = matmul_peak(torch.float32, dev, sync), matmul_peak(torch.bfloat16, dev, sync)
    print(f"matmul peak: fp32 {peak32:.1f} GFLOP/s, bf16 {peak16:.1f} GFLOP/s")
    rows, res = [], {}
    for name, width, attn, batch, dtype in (('paper', 64, '32,16,8,4', paper_batch, paper_dtype),
                                            ('cpu_preset', cpu_width, cpu_attn_res, cpu_batch, cpu_dtype)):
        torch.manual_seed(seed)
        plain, fast = build(width, attn, False, dev), build(width, attn, True, dev)
        fast.load_state_dict(plain.state_dict())
        gf = gflop_per_image(plain, dev)
        tr_plain = train_rate(plain, batch, 'float32', False, dev, repeats, sync)
        tr_fast = train_rate(fast, batch, dtype, True, dev, repeats, sync)
        for mod in (plain, fast):
            mod.eval()
        n_call = n_eval if name == 'cpu_preset' or dev != 'cpu' else min(n_eval, paper_call_batch)  # paper model: ~20 s a 500-call on CPU
        cr_plain = call_rate(plain, n_call, 'float32', False, dev, repeats, sync)
        cr_fast = call_rate(fast, n_call, dtype, True, dev, repeats, sync)
        res[name] = dict(gflop_fwd=gf, train_plain=tr_plain, train_fast=tr_fast, calls_plain=cr_plain, calls_fast=cr_fast)
        rows.append((name, f"{sum(p.numel() for p in plain.parameters()) / 1e6:.2f}M", f"{gf:.3f}", f"{tr_plain:.1f}",
                     f"{tr_fast:.1f}", f"{tr_fast / tr_plain:.2f}", f"{3 * gf * tr_fast:.0f}", f"{cr_plain:.0f}", f"{cr_fast:.0f}"))
    print(f"\n{'model':>10} {'params':>7} {'GFLOP/img':>9} {'train plain':>11} {'train ours':>10} {'x':>5} "
          f"{'GFLOP/s':>7} {'calls/s plain':>13} {'calls/s ours':>12}")
    for r in rows:
        print(f"{r[0]:>10} {r[1]:>7} {r[2]:>9} {r[3]:>11} {r[4]:>10} {r[5]:>5} {r[6]:>7} {r[7]:>13} {r[8]:>12}")

    # one whole evaluation of one checkpoint of the CPU preset: 500 samples with layer 4, Alg. 1, UMAP, R^2
    rng = np.random.default_rng(seed)
    labels = rng.uniform(1, 32, (n_eval, 2)).astype(np.float32)
    t0 = time.perf_counter()
    embed(rng.normal(size=(50, 8)).astype(np.float32), *UMAP)  # numba compilation, once per process
    umap_compile = time.perf_counter() - t0
    cfg = dict(batch=n_eval, dtype=cpu_dtype, sample_steps=cpu_sample_steps, sampler=cpu_sampler, eta=1.0, rep_step=0, clip_x0=False)
    fast = build(cpu_width, cpu_attn_res, True, dev).eval()
    t0 = time.perf_counter()
    images, layer4 = generate(fast, Diffusion().to(dev), labels, 32, cfg, dev, seed)
    sample_fast = time.perf_counter() - t0
    score = score_seconds(images, labels, layer4)  # the same for both: scoring does not depend on the sampler's speed
    eval_fast = sample_fast + score
    plain = build(cpu_width, cpu_attn_res, False, dev).eval()
    x = torch.randn(n_eval, 1, 32, 32, device=dev)
    mu = torch.from_numpy(labels).to(dev)
    with torch.no_grad():  # time a few full-DDPM steps of the plain model, then scale to 1,000
        t0 = time.perf_counter()
        for t in range(plain_steps_timed):
            plain(x, torch.full((n_eval,), 999 - t, device=dev), mu)
        sync()
        per_step = (time.perf_counter() - t0) / plain_steps_timed
    eval_plain = 1000 * per_step + score
    print(f"\nevaluation of one checkpoint ({n_eval} samples, Alg. 1, UMAP, R^2), CPU-preset model:")
    print(f"  plain, DDPM-1000 (extrapolated from {plain_steps_timed} steps): {eval_plain:8.1f} s")
    print(f"  ours, {cpu_sampler}-{cpu_sample_steps}, fast paths:               {eval_fast:8.1f} s   (x{eval_plain / eval_fast:.1f})")
    print(f"  UMAP numba compilation, paid once per process:   {umap_compile:8.1f} s")
    return dict(res, eval_plain=eval_plain, eval_fast=eval_fast, peak32=peak32, peak16=peak16)


def agreement(run_dir, pick, samplers, dev, done=()):
    """Accuracy, failure modes and R^2 of each sampler on the same n_eval labels and noise seed, per checkpoint
    (skipping the (run, step, sampler) keys in `done`: the DDPM-1000 reference costs ~20 min per checkpoint on CPU)."""
    found = checkpoints(run_dir)
    check(len(found) >= 2, 'agree_dir', run_dir, 'a run folder with at least two ckpt_*.pt (run train.py first)')
    steps = sorted(found)
    check(all(p in found for p in pick), 'agree_ckpts', ','.join(map(str, pick)), f'steps among the checkpoints {steps}')
    pick = pick or [steps[1], steps[len(steps) // 2], steps[-1]]
    data = np.load(os.path.join(run_dir, 'data.npz'))
    labels, _ = draw_labels({}, data['labels'], n_eval, seed)
    rows = []
    for step in pick:
        ck = load_pt(found[step], 'train.py')
        m = UNet(**ck['model_args']).to(dev)
        m.load_state_dict(ck['ema'] if 'ema' in ck else ck['model'])  # what sample.py uses by default
        m = m.to(memory_format=torch.channels_last).eval()
        for sampler, steps_ in samplers:
            if (run_dir, step, f'{sampler}-{steps_}') in done:
                continue
            cfg = dict(batch=n_eval, dtype=cpu_dtype, sample_steps=steps_, sampler=sampler, eta=1.0, rep_step=0, clip_x0=False)
            t0 = time.perf_counter()
            images, layer4 = generate(m, Diffusion(**ck['diffusion_args']).to(dev), labels, ck['model_args']['size'], cfg, dev, seed)
            acc, _ = accuracy(images, labels, 1.0)
            r2 = r_squared(embed(layer4, *UMAP), labels)['r2']
            rows.append(dict(run=run_dir, step=step, sampler=f'{sampler}-{steps_}', acc=float(acc['acc']), n_none=int(acc['n_none']),
                             n_one=int(acc['n_one']), n_many=int(acc['n_many']), n_fill=int(acc['n_fill']), r2=float(r2),
                             seconds=time.perf_counter() - t0))
            r = rows[-1]
            print(f"  {run_dir} step {step:6d} {r['sampler']:>10}: acc {r['acc']:.3f} contours 0/1/>1/fill "
                  f"{r['n_none']}/{r['n_one']}/{r['n_many']}/{r['n_fill']} r2 {r['r2']:.3f} ({r['seconds']:.0f} s)", flush=True)
    return rows


def acc_delta(rows, fast_name):
    """Largest |acc(fast) - acc(ddpm-1000)| over the checkpoints where both were measured."""
    acc = {(r['run'], r['step'], r['sampler']): r['acc'] for r in rows}
    d = [abs(acc[(run, step, 'ddpm-1000')] - a) for (run, step, s), a in acc.items()
         if s == fast_name and (run, step, 'ddpm-1000') in acc]
    return max(d) if d else None


if __name__ == '__main__':
    config = configure(globals())
    dev = pick_device(device)
    sync = torch.cuda.synchronize if dev.startswith('cuda') else (lambda: None)
    if threads:
        torch.set_num_threads(threads)
    PT, PS = preset_settings(preset)
    cpu_width, cpu_attn_res, cpu_batch, cpu_dtype = PT['width'], PT['attn_res'], PT['batch_size'], PT['dtype']
    cpu_sampler, cpu_sample_steps = PS['sampler'], PS['sample_steps']
    res = run_speed(dev, sync) if speed else None

    # sampler agreement on trained checkpoints: measured now (agree_dir) and/or read from earlier measurements
    fast_name = f'{cpu_sampler}-{cpu_sample_steps}'
    rows = json.load(open(agree_file)) if os.path.exists(agree_file) else []
    if agree_dir:
        check(all(s.strip().isdigit() for s in agree_ckpts.split(',') if s.strip()), 'agree_ckpts', agree_ckpts,
              "comma-separated checkpoint steps, e.g. '1000,6000'")
        pick = [int(s) for s in agree_ckpts.split(',') if s.strip()]
        done = {(r['run'], r['step'], r['sampler']) for r in rows}
        new = agreement(agree_dir, pick, [('ddpm', 1000), (cpu_sampler, cpu_sample_steps)], dev, done)
        keys = {(r['run'], r['step'], r['sampler']) for r in new}
        rows = [r for r in rows if (r['run'], r['step'], r['sampler']) not in keys] + new
        os.makedirs(os.path.dirname(agree_file) or '.', exist_ok=True)
        with open(agree_file + '.tmp', 'w') as f:
            json.dump(rows, f, indent=1)
        os.replace(agree_file + '.tmp', agree_file)
    delta = acc_delta(rows, fast_name)
    print(f"\nsampler agreement ({agree_file}): largest |acc({fast_name}) - acc(ddpm-1000)| = {delta}")
    mem = torch.cuda.max_memory_allocated() / 2 ** 20 if dev.startswith('cuda') else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {mem:.0f} MiB ({'GPU' if dev.startswith('cuda') else 'process RSS'})")
    out = dict(device=dev, sampler_acc_delta=None if delta is None else round(delta, 3), peak_mem_mib=round(mem))
    if res:
        out.update(train_speedup_paper=round(res['paper']['train_fast'] / res['paper']['train_plain'], 3),
                   train_speedup_cpu_preset=round(res['cpu_preset']['train_fast'] / res['cpu_preset']['train_plain'], 3),
                   train_img_s_paper=round(res['paper']['train_fast'], 1),
                   paper_run_hours=round(320000 * paper_batch / res['paper']['train_fast'] / 3600, 1),
                   train_img_s_cpu_preset=round(res['cpu_preset']['train_fast'], 1),
                   eval_speedup=round(res['eval_plain'] / res['eval_fast'], 1), eval_seconds_cpu_preset=round(res['eval_fast'], 1),
                   eval_seconds_plain=round(res['eval_plain'], 1), fp32_peak_gflops=round(res['peak32'], 1),
                   bf16_peak_gflops=round(res['peak16'], 1))
    print(json.dumps(out))
