"""
Speed on this machine, lever by lever: the training step, the sampler's network call and one whole evaluation of
the paper model (and a preset's small model), several runs sharing one GPU, and what that projects for a paper run
and the 123-run sweep. Numbers, not tests; the last line printed is one JSON object.

    python bench.py                              # this device (cuda when present)
    python bench.py --model=cpu                  # time the cpu preset's model instead of the paper's
    python bench.py --scoring_only=True          # only the scoring of one evaluation
(Whether a fast sampler agrees with DDPM-1000 is an evaluation result, not a speed: sample.py's docstring says how.)

Levers (each measured alone on top of the plain step, then all winners together = the fast path):
channels_last (NHWC), tf32 (CUDA matmuls/convolutions in TF32), bf16 (autocast), fused_adam (CUDA), compile
(torch.compile), cudagraphs (torch.compile mode='reduce-overhead'). "plain" = the model as written, fp32, eager,
NCHW, AdamW's default implementation. A lever is kept when it is >= 3% faster than plain.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from bumps import render
from configurator import check, configure
from metrics import accuracy, embed, r_squared, representation
from model import UNet, Diffusion, Packed, autocast, pick_device, set_tf32
import presets

# -----------------------------------------------------------------------------
device = 'auto'          # 'auto', 'cpu' or 'cuda'
model = 'paper'          # the preset (presets.py) whose model is timed; 'paper' = train.py's defaults (width 64)
levers = 'auto'          # comma-separated levers to try, or 'auto' (all on CUDA; channels_last,bf16 on CPU)
repeats = 5              # timed repeats per measurement (the median is reported)
n_eval = 500             # samples per evaluation (the paper's 500), all in one batch
runs_per_gpu = '1,2,4,8' # processes sharing one GPU for the aggregate training throughput ('' = skip; CUDA only)
share_seconds = 20.0     # seconds each sharing process trains while timed
packs = '1,2,4,8,16'     # K runs trained as one packed network (train_pack.py) for the aggregate rate ('' = skip)
dry = False              # tiny model, batch and sizes: the whole bench in well under a minute on a CPU
scoring_only = False     # only time the scoring of one evaluation (Alg. 1, UMAP seeds, manifold metrics) and stop
worker = ''              # internal: 'train' = one sharing process (prints its img/s)
worker_dir = ''          # internal: the sharing processes' rendezvous folder
threads = 0              # torch CPU threads (0 = default)
# -----------------------------------------------------------------------------
HERE = os.path.dirname(os.path.abspath(__file__))
ALL_LEVERS = ('channels_last', 'tf32', 'bf16', 'fused_adam', 'compile', 'cudagraphs')


def timed(fn, repeats, sync):
    fn()  # warm-up (and compilation)
    fn()
    ts = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def make_train_step(args, batch, lr, use, dev, seed=0):
    """One training step (AdamW, uniform t, MSE on eps) of a fresh model with the levers in `use` switched on."""
    torch.manual_seed(seed)
    set_tf32('tf32' in use)
    fmt = torch.channels_last if 'channels_last' in use else torch.contiguous_format
    net = UNet(**args).to(dev).to(memory_format=fmt)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, fused=True if 'fused_adam' in use else None)
    fwd = net
    if 'compile' in use or 'cudagraphs' in use:
        fwd = torch.compile(net, mode='reduce-overhead' if 'cudagraphs' in use else None)
    diff = Diffusion().to(dev)
    size = args['size']
    x = (torch.rand(batch, 1, size, size, device=dev) * 2 - 1).contiguous(memory_format=fmt)
    mu = torch.rand(batch, 2, device=dev) * size
    dtype = 'bfloat16' if 'bf16' in use else 'float32'

    def step():
        with autocast(dev, dtype):
            loss = diff.loss(fwd, x, mu)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    return step


def make_call(args, n, use, dev, seed=0):
    """One sampling network call (no grad) on n images with the levers in `use`."""
    torch.manual_seed(seed)
    set_tf32('tf32' in use)
    fmt = torch.channels_last if 'channels_last' in use else torch.contiguous_format
    net = UNet(**args).to(dev).to(memory_format=fmt).eval()
    if 'compile' in use or 'cudagraphs' in use:
        net = torch.compile(net, mode='reduce-overhead' if 'cudagraphs' in use else None)
    size = args['size']
    x = torch.randn(n, 1, size, size, device=dev).contiguous(memory_format=fmt)
    t, mu = torch.randint(0, 1000, (n,), device=dev), torch.rand(n, 2, device=dev) * size
    dtype = 'bfloat16' if 'bf16' in use else 'float32'

    def call():
        with torch.no_grad(), autocast(dev, dtype):
            net(x, t, mu)
    return call


def lever_table(name, make, unit, per_call, use_levers, repeats, sync):
    """Rate of plain, of each lever alone and of all winners together; returns (plain, fast, winners)."""
    rows = [('plain', per_call / timed(make(set()), repeats, sync))]
    winners = []
    for lever in use_levers:
        try:
            rate = per_call / timed(make({lever}), repeats, sync)
        except Exception as e:  # a lever this torch/device cannot do is reported, not fatal
            print(f"  {lever}: failed ({type(e).__name__}: {str(e).splitlines()[0][:100]})")
            continue
        rows.append((lever, rate))
        if rate >= 1.03 * rows[0][1]:
            winners.append(lever)
    fast = rows[0][1]
    if len(winners) > 1:  # levers can interfere: the fast path is the best of all winners together and each alone
        rows.append(('all winners: ' + '+'.join(winners), per_call / timed(make(set(winners)), repeats, sync)))
    if winners:
        label, fast = max(((l, r) for l, r in rows[1:] if l in winners or l.startswith('all winners')), key=lambda lr: lr[1])
        winners = winners if label.startswith('all winners') else [label]
        rows.append(('fast path: ' + '+'.join(winners), fast))
    print(f"\n{name} ({unit}):")
    for label, rate in rows:
        print(f"  {label:<40} {rate:10.1f}   x{rate / rows[0][1]:.2f}")
    return rows[0][1], fast, winners


def sharing(winners, ks, dev, seconds, model, dry):
    """Aggregate training img/s of k processes sharing this GPU (bench.py --worker=train, `model`'s settings), each
    timed over the same `seconds`. The processes use the eager winners only (no torch.compile: k compilations would
    not fit a short check)."""
    winners = [w for w in winners if w not in ('compile', 'cudagraphs')]
    print(f"\nruns sharing one GPU (levers: {'+'.join(winners) or 'none'}, {seconds:g} s timed):")
    res = {}
    for k in ks:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, os.path.join(HERE, 'bench.py'), '--worker=train', f'--model={model}', f'--dry={dry}',
                   f"--levers={','.join(winners) or 'none'}", f'--share_seconds={seconds}', f'--device={dev}',
                   f'--worker_dir={tmp}']
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=HERE) for _ in range(k)]
            while len([f for f in os.listdir(tmp) if f.startswith('ready')]) < k and all(p.poll() is None for p in procs):
                time.sleep(0.2)
            open(os.path.join(tmp, 'go'), 'w').close()
            rates = []
            for p in procs:
                out, _ = p.communicate()
                rates += [float(line.split()[1]) for line in out.splitlines() if line.startswith('IMG_S ')]
        res[k] = sum(rates) if len(rates) == k else float('nan')
        print(f"  {k} run(s) on one GPU: {res[k]:9.1f} img/s together ({res[k] / k:.1f} each)", flush=True)
    return res


def make_packed_step(args, batch, lr, K, use, dev):
    """One training step of K runs packed as train_pack.py trains them (each its own batch, t and noise; AdamW over
    the stacked weights), with the eager levers in `use` (tf32, bf16, fused_adam; a packed network is not compiled)."""
    set_tf32('tf32' in use)
    net = Packed(args, range(K), dev)
    opt = torch.optim.AdamW(list(net.params.values()), lr=lr, fused=True if 'fused_adam' in use else None)
    diff = Diffusion().to(dev)
    size = args['size']
    x0 = torch.rand(K, batch, 1, size, size, device=dev) * 2 - 1
    mu = torch.rand(K, batch, 2, device=dev) * size
    dtype = 'bfloat16' if 'bf16' in use else 'float32'

    def step():
        t = torch.randint(0, diff.T, (K, batch), device=dev)
        noise = torch.randn_like(x0)
        xt = diff.q_sample(x0.flatten(0, 1), t.flatten(), noise.flatten(0, 1)).view_as(x0)
        with autocast(dev, dtype):
            loss = (net(xt, t, mu).float() - noise).pow(2).mean((2, 3, 4)).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def packed(ks, winners, args, batch, lr, dev, repeats, sync, solo):
    """Aggregate training img/s of K runs packed into one network, against the solo step's `solo` rate."""
    eager = [w for w in winners if w not in ('compile', 'cudagraphs', 'channels_last')]
    print(f"\nK runs packed as one network (train_pack.py; levers: {'+'.join(eager) or 'none'}; solo fast path {solo:.1f} img/s):")
    res = {}
    for k in ks:
        try:
            res[k] = k * batch / timed(make_packed_step(args, batch, lr, k, set(eager), dev), repeats, sync)
        except Exception as e:  # out of memory at a large K is a result, not a crash
            print(f"  K = {k:2d}: failed ({type(e).__name__}: {str(e).splitlines()[0][:100]})")
            continue
        print(f"  K = {k:2d}: {res[k]:9.1f} img/s together ({res[k] / k:.1f} per run; x{res[k] / solo:.2f} the solo fast path)", flush=True)
    return res


def best_pack(pack, solo, share):
    """The K that run_all.sh's PACK defaults to: the fastest packed K, and 1 unless it beats the solo fast path and
    every measured number of processes sharing the device (aggregate img/s)."""
    if not pack:
        return 1
    k = max(pack, key=pack.get)
    return k if pack[k] > max([solo, *share.values()]) else 1


def scoring_seconds(args, n_eval, a, seed=0):
    """Wall time of scoring one evaluation as analyze.py does it: Alg. 1, UMAP with each of analyze.py's umap_seeds
    (seed 0 gives the paper's R^2, the others umap_r2_sd) and the manifold metrics, on n_eval random layer-4 values of
    the model's real size (their cost does not depend on what they hold). Returns (total, added by the manifold
    metrics: representation() + the extra UMAP seeds). `a`: analyze.py's settings."""
    rng = np.random.default_rng(seed)
    umap = (a['n_neighbors'], a['min_dist'], a['umap_dims'], a['seed'])
    labels = rng.uniform(1, args['size'], (n_eval, 2))
    images = render(labels, 1.0, args['size'])
    feats = rng.normal(size=(n_eval, args['width'] * (args['size'] // 2) ** 2)).astype(np.float16)
    embed(feats[:50], *umap)  # numba: compiled once per machine (metrics.umap_cached), loaded once per process
    representation(feats[:50], labels[:50], a['n_pca'], a['trust_k'], a['probe_folds'], a['seed'])
    t = [time.perf_counter()]
    accuracy(images, labels)
    t.append(time.perf_counter())
    for k in range(a['umap_seeds']):
        r_squared(embed(feats, *umap[:3], umap[3] + k), labels)
        t.append(time.perf_counter())
    representation(feats, labels, a['n_pca'], a['trust_k'], a['probe_folds'], a['seed'])
    t.append(time.perf_counter())
    umaps = np.diff(t[1:-1])
    added = t[-1] - t[-2] + umaps[1:].sum()
    print(f"scoring {n_eval} x {feats.shape[1]:,} layer-4 values: Alg. 1 {t[1] - t[0]:.2f} s, UMAP + R^2 "
          f"{' + '.join(f'{u:.2f}' for u in umaps)} s ({len(umaps)} seeds), manifold metrics {t[-1] - t[-2]:.2f} s; "
          f"total {t[-1] - t[0]:.2f} s, of which the manifold metrics and extra UMAP seeds add {added:.2f} s")
    return t[-1] - t[0], added


def eval_seconds(args, n_eval, analyze, winners, dev, sync):
    """Wall time of one evaluation: n_eval samples by DDPM-1000 (layer 4 at the last call), then scoring_seconds.
    The sampling is timed per network call and scaled to 1,000 calls."""
    call = make_call(args, n_eval, set(winners), dev)
    per_call = timed(call, 2, sync)
    sampling = per_call * 1000
    scoring, _ = scoring_seconds(args, n_eval, analyze)
    print(f"\none evaluation ({n_eval} samples, DDPM-1000 at {per_call * 1e3:.1f} ms/call, then the scoring above):"
          f" sampling {sampling:.1f} s + scoring {scoring:.1f} s = {sampling + scoring:.1f} s")
    return sampling, scoring


def worker_train(args, batch, lr, use, dev, rendezvous, seconds):
    """One sharing process: warm up, say ready, wait for 'go', train `seconds`, print IMG_S."""
    step = make_train_step(args, batch, lr, use, dev)
    for _ in range(3):
        step()
    torch.cuda.synchronize() if dev.startswith('cuda') else None
    open(os.path.join(rendezvous, f'ready{os.getpid()}'), 'w').close()
    while not os.path.exists(os.path.join(rendezvous, 'go')):
        time.sleep(0.05)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    torch.cuda.synchronize() if dev.startswith('cuda') else None
    print(f"IMG_S {n * batch / (time.perf_counter() - t0):.2f}")


def projection(fast, share, ev, batch, cuda, pack=None):
    """Minutes of one paper run and hours of the paper sweep on one device, from the training rate `fast`, the
    aggregate rates of k runs sharing it, and the seconds of one evaluation; the schedule comes from presets.py.
    pack: {K: aggregate img/s of K packed runs}: also the sweep trained K runs at a time as one network."""
    paper = presets.get('paper')
    p = presets.full_settings(paper)[0]
    steps, evals, runs = p['steps'], p['steps'] // p['ckpt_every'] + 1, len(presets.runs(paper))  # evals: + step 0
    best_k = max(share, key=share.get) if share else 1
    run_min = (steps * batch / fast + evals * ev) / 60
    # k runs share the GPU: each trains at aggregate / k; evaluations are assumed to cost what they cost alone
    sweep_h = runs * (steps * batch / (share.get(best_k, fast) / best_k) + evals * ev) / best_k / 3600
    print(f"\nprojection: one run of {steps:,} steps + {evals} evaluations: {run_min:.1f} min; "
          f"{runs} runs on one {'GPU' if cuda else 'machine'} with {best_k} at a time: {sweep_h:.1f} h")
    pack_h = {}
    for k, rate in (pack or {}).items():  # ceil(runs / K) packs, each training K runs at `rate` together; evaluations alone
        pack_h[k] = (-(-runs // k) * steps * batch * k / rate + runs * evals * ev) / 3600
        print(f"  packed K = {k:2d}: {-(-runs // k)} packs of {steps:,} steps at {rate:.0f} img/s together, then {runs * evals} "
              f"evaluations at {ev:.1f} s: {pack_h[k]:.1f} h")
    return run_min, sweep_h, best_k, pack_h


if __name__ == '__main__':
    config = configure(globals())
    check(type(repeats) is int and repeats >= 1, 'repeats', repeats, 'an integer >= 1')
    check(all(k.strip().isdigit() and int(k) > 0 for k in str(packs).split(',') if k.strip()), 'packs', packs,
          "comma-separated positive integers (e.g. '1,2,4,8') or ''")
    check(all(k.strip().isdigit() and int(k) > 0 for k in str(runs_per_gpu).split(',') if k.strip()), 'runs_per_gpu',
          runs_per_gpu, "comma-separated positive integers (e.g. '2,4,8') or ''")
    TRAIN, _, ANALYZE = presets.full_settings(presets.get(model))
    args = dict(width=TRAIN['width'], attn_res=TRAIN['attn_res'], pe_dim=TRAIN['pe_dim'], size=32)
    batch, lr = TRAIN['batch_size'], TRAIN['lr']
    if dry:  # the same code paths at a toy size
        args, batch, n_eval, repeats = dict(width=8, attn_res='4', pe_dim=16, size=16), 8, 40, 2
    if threads:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    if worker == 'train':
        worker_train(args, batch, lr, set() if levers == 'none' else set(levers.split(',')), dev, worker_dir, share_seconds)
        sys.exit(0)
    cuda = dev.startswith('cuda')
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    use_levers = (list(ALL_LEVERS) if cuda else ['channels_last', 'bf16']) if levers == 'auto' else \
        [l for l in levers.split(',') if l.strip()]
    check(all(l in ALL_LEVERS for l in use_levers), 'levers', levers, f"'auto' or comma-separated from {','.join(ALL_LEVERS)}")
    out = dict(device=dev, torch=torch.__version__, model=model if not dry else 'dry', batch=batch)
    if scoring_only:
        total, added = scoring_seconds(args, n_eval, ANALYZE)
        print(json.dumps(dict(out, threads=torch.get_num_threads(), scoring_s=round(total, 2), manifold_metrics_added_s=round(added, 2))))
        sys.exit(0)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name() if cuda else 'cpu'}; {torch.get_num_threads()} CPU threads; "
          f"model {args}, batch {batch}, {sum(p.numel() for p in UNet(**args).parameters()) / 1e6:.2f} M parameters")
    plain, fast, winners = lever_table('training step', lambda u: make_train_step(args, batch, lr, u, dev), 'img/s', batch,
                                       use_levers, repeats, sync)
    cplain, cfast, cwin = lever_table(f'sampling network call, batch {n_eval}', lambda u: make_call(args, n_eval, u, dev),
                                      'images x calls / s', n_eval, use_levers, repeats, sync)
    sampling, scoring = eval_seconds(args, n_eval, ANALYZE, cwin, dev, sync)
    ks = [int(k) for k in runs_per_gpu.split(',') if k.strip()] if cuda else []
    share = sharing(winners, ks, dev, share_seconds, model, dry) if ks else {}
    pk = [int(k) for k in str(packs).split(',') if k.strip()]
    pack = packed(pk, winners, args, batch, lr, dev, repeats, sync, fast) if pk else {}
    run_min, sweep_h, best_k, pack_h = projection(fast, share, sampling + scoring, batch, cuda, pack)
    out.update(train_img_s_plain=round(plain, 1), train_img_s_paper=round(fast, 1), train_speedup_paper=round(fast / plain, 3),
               train_levers=winners, call_img_s_plain=round(cplain, 1), call_img_s_fast=round(cfast, 1), call_levers=cwin,
               eval_seconds_paper=round(sampling + scoring, 1), eval_sampling_s=round(sampling, 1), eval_scoring_s=round(scoring, 1),
               paper_run_minutes=round(run_min, 1), sweep_hours_one_gpu=round(sweep_h, 1), runs_per_gpu_best=best_k,
               aggregate_img_s={str(k): round(v, 1) for k, v in share.items()},
               packed_img_s={str(k): round(v, 1) for k, v in pack.items()}, packed_sweep_hours={str(k): round(v, 1) for k, v in pack_h.items()},
               packed_best_k=best_pack(pack, fast, share),
               peak_mem_mib=round(torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else
                                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print(json.dumps(out))
