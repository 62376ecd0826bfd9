#!/usr/bin/env bash
# The prepared GPU measurement, everything into OUTDIR:
#   correctness.json  on CUDA: a run stopped and resumed against an uninterrupted one (weights, loss curve), sampling
#                     twice with one seed, and the precision baselines: bf16 autocast against fp32 on the same seed,
#                     set beside the fp32 seed-to-seed spread and an fp32 rerun of the same seed (CUDA's own
#                     nondeterminism), each run scored by one fixed held-out loss (the same images, t and noise)
#   bench.txt/.json   bench.py on CUDA (the last line of bench.txt is the JSON)
#   metrics.txt, fig3.png, claims.md, metrics.csv   a short real run of the paper model on d = 1 with dense checkpoints, each
#                     sampled by DDPM-1000 and analyzed
#   log.txt           everything printed; logs/ the output of each sub-run
#   bash gpu_check.sh wheels                    # once, where pip can download: umap-learn & co as wheels in .whl/
#   bash gpu_check.sh OUTDIR                    # on the GPU machine (with .whl/ copied beside this script)
#   GPU_CHECK_DRY=1 bash gpu_check.sh OUTDIR    # the same steps on the CPU at a tiny size (a test runs it)
#   bash gpu_check.sh pack OUTDIR               # only the packed-training table (bench.py --packs) and a packed run
# Budget knobs: TRAIN_MIN (minutes of the real run's training, default 2), BENCH_ARGS (extra bench.py settings).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

if [ "${1:-}" = wheels ]; then  # pure-Python wheels of what a bare CUDA image may lack (numba, scipy, sklearn it has)
  mkdir -p .whl
  $PY -m pip download -q --no-deps --only-binary=:all: -d .whl umap-learn==0.5.12 pynndescent==0.7.0 scikit-dimension==0.5.0
  ls .whl; exit 0
fi
if [ "${1:-}" = pack ]; then  # ~6 min on an H200: bench.py's packed-K table and a short packed run of 4 runs
  [ $# = 2 ] || { echo "error: usage: bash gpu_check.sh pack OUTDIR" >&2; exit 2; }
  OUT=$2; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
  if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then
    B=(--dry=True --levers= --packs=1,2 --repeats=1); DATA=(--size=16 --dx=2.0 --dy=2.0)
    RUN=(--width=8 --attn_res=4 --pe_dim=16 --batch_size=8 --steps=10 --ckpt_every=5); DEV=cpu
  else
    B=(--levers=tf32,fused_adam --repeats=3 --packs=1,2,4,8,16); DATA=(--dx=1.0 --dy=1.0)
    RUN=(--steps=320000 --ckpt_every=100000 --time_limit=1 --tf32=True); DEV=cuda
  fi
  $PY bench.py --device=$DEV --runs_per_gpu= "${B[@]}" 2>&1 | tee "$OUT/bench_pack.txt"
  for k in 0 1 2 3; do $PY make_data.py --out_dir="$W/r$k" "${DATA[@]}" > /dev/null; done
  $PY train_pack.py --out_dirs="$W/r0,$W/r1,$W/r2,$W/r3" --seeds=0,1,2,3 --device=$DEV "${RUN[@]}" 2>&1 | tr '\r' '\n' |
    grep -av '^\s*$' | tail -n 4 | tee "$OUT/packed_run.txt"
  exit 0
fi
[ $# = 1 ] || { echo "error: usage: bash gpu_check.sh OUTDIR (or: bash gpu_check.sh wheels, bash gpu_check.sh pack OUTDIR)" >&2; exit 2; }
OUT=$1; mkdir -p "$OUT/logs"; OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/log.txt") 2>&1
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
if ls .whl/*.whl > /dev/null 2>&1 && ! $PY -c "import umap, skdim" 2> /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$W/site" .whl/*.whl
  export PYTHONPATH=$W/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
T0=$SECONDS
say() { echo "== [$((SECONDS - T0)) s] $*"; }
# a sub-run's output goes to logs/NAME.txt; when it fails, its tail is printed and the check stops
quiet() { local name=$1; shift; "$@" > "$OUT/logs/$name.txt" 2>&1 || { tail -n 20 "$OUT/logs/$name.txt"; echo "error: $name failed (logs/$name.txt)"; return 1; }; }

if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then  # tiny and on the CPU: the same steps, for the test
  DEV=cpu; BENCH=(--dry=True --runs_per_gpu= --repeats=1 --packs=1,2); DATA=(--size=16 --dx=2.0 --dy=2.0)
  MODEL=(--width=8 --attn_res=2 --pe_dim=16 --batch_size=8); RUN=(--steps=24 --ckpt_every=8); SAMP=(--n_samples=40 --sample_steps=20)
  RESUME=(8 16); CMP=16; FIG3=2.0; HELD=512
else
  DEV=cuda; BENCH=(--repeats=3 --share_seconds=8); DATA=(--dx=1.0 --dy=1.0)
  MODEL=(); RUN=(--steps=320000 --ckpt_every=1600 "--time_limit=${TRAIN_MIN:-2}"); SAMP=(--n_samples=500 --sample_steps=1000)
  RESUME=(100 200); CMP=400; FIG3=1.0; HELD=2048
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
# shellcheck disable=SC2206  # BENCH_ARGS is a list of settings, split on spaces on purpose
BENCH+=(${BENCH_ARGS:-})
train() { local d=$1; shift; quiet "train_$(basename "$d")" "$PY" train.py --out_dir="$d" --device=$DEV "${MODEL[@]}" "$@"; }
data() { quiet "data_$(basename "$1")" "$PY" make_data.py --out_dir="$1" "${DATA[@]}"; }

say "bench.py on $DEV"
$PY bench.py --device=$DEV "${BENCH[@]}" | tee "$OUT/bench.txt"
tail -n 1 "$OUT/bench.txt" > "$OUT/bench.json"
LEVERS=$($PY -c "import json, sys; print(','.join(json.load(open(sys.argv[1])).get('train_levers', [])))" "$OUT/bench.json")
FAST=()  # the levers bench found faster; the dry run checks code paths, not speed, so it keeps fp32
case ",$LEVERS," in *,tf32,*) FAST+=(--tf32=True);; esac
case ",$LEVERS," in *,bf16,*) [ "$DEV" = cuda ] && FAST+=(--dtype=bfloat16);; esac

say "correctness on $DEV: resume after a stop, and sampling with the same seed (fast-path levers: ${FAST[*]:-none})"
A=$W/resume_a; B=$W/resume_b; EVERY=$((RESUME[1] / 4))
data "$A"; data "$B"
train "$A" "${FAST[@]}" --steps="${RESUME[1]}" --ckpt_every=$EVERY
train "$B" "${FAST[@]}" --steps="${RESUME[0]}" --ckpt_every=$EVERY
train "$B" "${FAST[@]}" --steps="${RESUME[1]}" --ckpt_every=$EVERY
for i in 1 2; do  # the same checkpoint sampled twice with the same seed
  quiet "sample_$i" "$PY" sample.py --out_dir="$A" --device=$DEV "${SAMP[@]}" --n_samples=16 --ckpts="${RESUME[1]}" "${FAST[@]}"
  mv "$A/samples_$(printf '%07d' "${RESUME[1]}").npz" "$W/samples_$i.npz"
done
say "precision baselines on $DEV: fp32 seed 0 (twice), bf16 seed 0, fp32 seed 1, $CMP steps each, TF32 off in all"
P=$W/fp32_seed0; R=$W/fp32_seed0_rerun; C=$W/bf16_seed0; D=$W/fp32_seed1
for d in "$P" "$R" "$C" "$D"; do data "$d"; done
train "$P" --steps=$CMP --ckpt_every=$((CMP / 4))
train "$R" --steps=$CMP --ckpt_every=$((CMP / 4))
train "$C" --steps=$CMP --ckpt_every=$((CMP / 4)) --dtype=bfloat16
train "$D" --steps=$CMP --ckpt_every=$((CMP / 4)) --seed=1
$PY - "$DEV" "$A" "$B" "$W" "$P" "$R" "$C" "$D" "$OUT/correctness.json" "$HELD" << 'EOF'
import json, sys
import numpy as np, torch
from artifacts import checkpoints, load_npz
from model import UNet, Diffusion, set_tf32
dev, a, b, w, p, r, c, d, out = sys.argv[1:10]
N = int(sys.argv[10])  # held-out triples: 2,048 on the GPU
load = lambda f: torch.load(f, map_location='cpu', weights_only=True)
curve = lambda run: {s: load(f)['loss'] for s, f in sorted(checkpoints(run).items()) if s > 0}  # step 0 has no loss
ka, kb = load(checkpoints(a)[max(checkpoints(a))]), load(checkpoints(b)[max(checkpoints(b))])
weight_diff = max((ka['model'][k].float() - kb['model'][k].float()).abs().max().item() for k in ka['model'])
s1, s2 = np.load(f'{w}/samples_1.npz'), np.load(f'{w}/samples_2.npz')

# one held-out loss for every run: the same N (image, t, noise) triples, evaluated in fp32 with TF32 off, so
# the difference between two runs is their weights' difference, not the minibatch and timesteps each happened to draw
set_tf32(False)
data = load_npz(f'{p}/data.npz', 'make_data.py', keys=('images', 'labels'))
g = torch.Generator().manual_seed(1234)
idx = torch.randint(0, len(data['images']), (N,), generator=g)
x0 = torch.from_numpy(data['images'][idx.numpy()]).float().div(127.5).sub(1).unsqueeze(1)
mu = torch.from_numpy(data['labels'][idx.numpy()])
t = torch.randint(0, 1000, (N,), generator=g)
noise = torch.randn(x0.shape, generator=g)

@torch.no_grad()
def heldout(run):
    ck = load(checkpoints(run)[max(checkpoints(run))])
    net = UNet(**ck['model_args']).to(dev).eval()
    net.load_state_dict(ck['model'])
    diff = Diffusion(**ck['diffusion_args']).to(dev)
    err = torch.cat([(net(diff.q_sample(x0[i:i + 256].to(dev), t[i:i + 256].to(dev), noise[i:i + 256].to(dev)),
                          t[i:i + 256].to(dev), mu[i:i + 256].to(dev)) - noise[i:i + 256].to(dev)).pow(2).mean((1, 2, 3)).cpu()
                     for i in range(0, N, 256)])
    return err.mean().item(), err.std().item() / N ** 0.5

L = {name: heldout(run) for name, run in (('fp32_seed0', p), ('fp32_seed0_rerun', r), ('bf16_seed0', c), ('fp32_seed1', d))}
gap = lambda x, y: abs(L[x][0] - L[y][0])
res = dict(resume_max_abs_weight_diff=weight_diff, resume_bitwise=weight_diff == 0.0,
           loss_uninterrupted=curve(a), loss_resumed=curve(b),
           resume_max_loss_diff=max(abs(curve(a)[s] - curve(b)[s]) for s in curve(a)),
           sampling_images_equal=bool(np.array_equal(s1['images'], s2['images'])),
           sampling_layer4_max_abs_diff=float(np.abs(s1['layer4'].astype(np.float32) - s2['layer4'].astype(np.float32)).max()),
           heldout_loss={k: v[0] for k, v in L.items()}, heldout_loss_se={k: v[1] for k, v in L.items()},
           bf16_vs_fp32_heldout_diff=gap('bf16_seed0', 'fp32_seed0'),
           seed1_vs_seed0_heldout_diff=gap('fp32_seed1', 'fp32_seed0'),
           rerun_vs_fp32_heldout_diff=gap('fp32_seed0_rerun', 'fp32_seed0'),
           loss_curves={'fp32_seed0': curve(p), 'fp32_seed0_rerun': curve(r), 'bf16_seed0': curve(c), 'fp32_seed1': curve(d)})
json.dump(res, open(out, 'w'), indent=1)
print(json.dumps({k: v for k, v in res.items() if 'curve' not in k and not k.startswith('loss_')}))
EOF

say "short real run of the paper model on d = 1 (fast-path levers: ${FAST[*]:-none})"
S=$W/sweep/dx${FIG3}_dy${FIG3}_sigma1.0_seed0
data "$S"
train "$S" "${RUN[@]}" "${FAST[@]}"
say "sampling every checkpoint (DDPM-1000 in the real check), scoring each on the CPU while the next is sampled"
$PY sample.py --out_dir="$S" --device=$DEV "${SAMP[@]}" "${FAST[@]}" > "$OUT/logs/sample_run.txt" 2>&1 & SP=$!
$PY analyze.py --out_dir="$S" --follow=$SP | tee "$W/analyze.txt"
wait $SP || { tail -n 20 "$OUT/logs/sample_run.txt"; exit 1; }
say "sampled and scored"
sed -n '/^ split/,$p' "$W/analyze.txt" > "$OUT/metrics.txt"
quiet report "$PY" report.py --sweep_dir="$W/sweep" --results="$OUT" --fig3_d=$FIG3 --sigma_incs=
quiet plot "$PY" plot_figures.py --sweep_dir="$W/sweep" --results="$OUT" --fig_dir="$W/fig" --fig3_d=$FIG3 --sigma_incs= --formats=png
cp "$W/fig/fig3.png" "$OUT/fig3.png"
say "done; files in $OUT: $(cd "$OUT" && echo *)"
