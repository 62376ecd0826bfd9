#!/usr/bin/env bash
# The prepared GPU measurement: one call, at most ~9 minutes on one H200 from a bare machine, everything into OUTDIR
# (at most 8 files): bench.py on CUDA (bench.txt, bench.json), a short real run of the paper model on d = 1 with dense
# checkpoints, each sampled by DDPM-1000 and analyzed (metrics.txt, fig3.png, claims.md), and two correctness checks
# on CUDA (correctness.json: resume after a stop continues the same loss curve; sampling repeats with the same seed;
# bf16 autocast's loss curve against fp32's and against another seed's);
# log.txt holds everything printed.
#   bash gpu_check.sh wheels                    # here, once: the packages the GPU machine lacks, as wheels in .whl/
#   bash gpu_check.sh OUTDIR                    # on the GPU machine (carry .whl)
#   GPU_CHECK_DRY=1 bash gpu_check.sh OUTDIR    # the same steps on the CPU at a tiny size (< 2 minutes; a test runs it)
# Budget knobs: TRAIN_MIN (minutes of the real run's training, default 2), BENCH_ARGS (extra bench.py settings).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

if [ "${1:-}" = wheels ]; then  # pure-Python wheels of what the GPU image lacks (its numba, scipy, sklearn are there)
  mkdir -p .whl
  $PY -m pip download -q --no-deps --only-binary=:all: -d .whl umap-learn==0.5.12 pynndescent==0.7.0 scikit-dimension==0.5.0
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  ls .whl; exit 0
fi
[ $# = 1 ] || { echo "error: usage: bash gpu_check.sh OUTDIR (or: bash gpu_check.sh wheels)" >&2; exit 2; }
OUT=$1; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/log.txt") 2>&1
if ls .whl/*.whl > /dev/null 2>&1 && ! $PY -c "import umap, skdim" 2> /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
T0=$SECONDS
say() { echo "== [$((SECONDS - T0)) s] $*"; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then  # tiny and on the CPU: the same steps, for the test
  DEV=cpu; BENCH="--dry=True --runs_per_gpu= --repeats=1"; DATA="--size=16 --dx=2.0 --dy=2.0"
  MODEL="--width=8 --attn_res=2 --pe_dim=16 --batch_size=8"; RUN="--steps=24 --ckpt_every=8"; SAMP="--n_samples=40 --sample_steps=20"
  RESUME=(8 16); FIG3=2.0
else
  DEV=cuda; BENCH="--repeats=3 --share_seconds=8"; DATA="--dx=1.0 --dy=1.0"
  MODEL=""; RUN="--steps=320000 --ckpt_every=1600 --time_limit=${TRAIN_MIN:-2}"; SAMP="--n_samples=500 --sample_steps=1000"
  RESUME=(100 200); FIG3=1.0
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

say "bench.py on $DEV"
$PY bench.py --device=$DEV $BENCH ${BENCH_ARGS:-} | tee "$OUT/bench.txt"
tail -n 1 "$OUT/bench.txt" > "$OUT/bench.json"
LEVERS=$($PY -c "import json; print(','.join(json.load(open('$OUT/bench.json')).get('train_levers', [])))")

say "short real run of the paper model on d = 1 (fast-path levers: ${LEVERS:-none})"
EXTRA=""  # the dry run checks the code paths, not speed: it keeps fp32 whatever the toy bench said
case ",$LEVERS," in *,tf32,*) EXTRA="$EXTRA --tf32=True";; esac
case ",$LEVERS," in *,bf16,*) [ "$DEV" = cuda ] && EXTRA="$EXTRA --dtype=bfloat16";; esac
R=$W/sweep/dx${FIG3}_dy${FIG3}_sigma1.0_seed0
$PY make_data.py --out_dir="$R" $DATA
$PY train.py --out_dir="$R" --device=$DEV $MODEL $RUN $EXTRA
say "sampling every checkpoint (DDPM-1000 in the real check), scoring each on the CPU while the next is sampled"
$PY sample.py --out_dir="$R" --device=$DEV $SAMP $EXTRA & SP=$!
$PY analyze.py --out_dir="$R" --follow=$SP | tee "$W/analyze.txt"
wait $SP
say "sampled and scored"
sed -n '/^ split/,$p' "$W/analyze.txt" > "$OUT/metrics.txt"
$PY plot_figures.py --sweep_dir="$W/sweep" --fig_dir="$W/fig" --claims="$OUT/claims.md" --fig3_d=$FIG3 --sigma_incs=
cp "$W/fig/fig3.png" "$OUT/fig3.png"

say "correctness on $DEV: resume after a stop, and sampling with the same seed"
A=$W/resume_a; B=$W/resume_b
for d in "$A" "$B"; do $PY make_data.py --out_dir="$d" $DATA > /dev/null; done
$PY train.py --out_dir="$A" --device=$DEV $MODEL $EXTRA --steps=${RESUME[1]} --ckpt_every=$((RESUME[1] / 4)) > /dev/null 2>&1
$PY train.py --out_dir="$B" --device=$DEV $MODEL $EXTRA --steps=${RESUME[0]} --ckpt_every=$((RESUME[1] / 4)) > /dev/null 2>&1
$PY train.py --out_dir="$B" --device=$DEV $MODEL $EXTRA --steps=${RESUME[1]} --ckpt_every=$((RESUME[1] / 4)) > /dev/null 2>&1
C=$W/bf16; D=$W/seed1  # bf16 autocast's loss curve against fp32's, beside the seed-to-seed spread
for d in "$C" "$D"; do $PY make_data.py --out_dir="$d" $DATA > /dev/null; done
$PY train.py --out_dir="$C" --device=$DEV $MODEL --dtype=bfloat16 --steps=${RESUME[1]} --ckpt_every=$((RESUME[1] / 4)) > /dev/null 2>&1
$PY train.py --out_dir="$D" --device=$DEV $MODEL --seed=1 --steps=${RESUME[1]} --ckpt_every=$((RESUME[1] / 4)) > /dev/null 2>&1
LAST=$(printf 'ckpt_%07d.pt' "${RESUME[1]}")
$PY sample.py --out_dir="$A" --device=$DEV $SAMP --n_samples=16 --ckpts=${RESUME[1]} $EXTRA > /dev/null 2>&1
cp "$A/samples_$(printf '%07d' "${RESUME[1]}").npz" "$W/first.npz"
rm "$A/samples_$(printf '%07d' "${RESUME[1]}").npz"
$PY sample.py --out_dir="$A" --device=$DEV $SAMP --n_samples=16 --ckpts=${RESUME[1]} $EXTRA > /dev/null 2>&1
$PY - "$A" "$B" "$LAST" "$W/first.npz" "$OUT/correctness.json" "$C" "$D" << 'EOF'
import glob, json, os, sys
import numpy as np, torch
a, b, last, first, out, c, d_ = sys.argv[1:]
ka, kb = (torch.load(f'{d}/{last}', map_location='cpu', weights_only=True) for d in (a, b))
diff = max((ka['model'][k].float() - kb['model'][k].float()).abs().max().item() for k in ka['model'])
losses = {d: {int(os.path.basename(p)[5:12]): torch.load(p, map_location='cpu', weights_only=True)['loss']
              for p in sorted(glob.glob(f'{d}/ckpt_*.pt'))[1:]} for d in (a, b, c, d_)}  # [1:]: step 0 has no loss
s1, s2 = np.load(first), np.load(f"{a}/samples_{int(last[5:12]):07d}.npz")
res = dict(resume_max_abs_weight_diff=diff, resume_bitwise=diff == 0.0, loss_uninterrupted=losses[a], loss_resumed=losses[b],
           resume_max_loss_diff=max(abs(losses[a][s] - losses[b][s]) for s in losses[a]),
           loss_bf16=losses[c], loss_seed1=losses[d_],
           bf16_vs_fp32_max_loss_diff=max(abs(losses[c][s] - losses[a][s]) for s in losses[a]),
           seed1_vs_seed0_max_loss_diff=max(abs(losses[d_][s] - losses[a][s]) for s in losses[a]),
           sampling_images_equal=bool(np.array_equal(s1['images'], s2['images'])),
           sampling_layer4_max_abs_diff=float(np.abs(s1['layer4'].astype(np.float32) - s2['layer4'].astype(np.float32)).max()))
json.dump(res, open(out, 'w'), indent=1)
print(json.dumps(res))
EOF
say "done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
