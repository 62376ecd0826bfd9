#!/usr/bin/env bash
# The paper's own model on one GPU, in one time box (issue 31): width 64, attention at 32/16/8/4, AdamW 3e-4, batch 32
# (train.py's defaults), d = 1, sigma = 1, trained with the fastest CUDA settings measured on an H200 (TF32 + fused
# AdamW + CUDA graphs, results/gpu) for TRAIN_MIN minutes; checkpoints at 500, 1,000 and every 2,500 steps; at each,
# 500 DDIM-100 samples (Alg. 1 and position-only accuracy, analyze.py on the machine's CPUs while the GPU samples)
# and the one-step probes (probe.py); then the study's table, claims (prereg2's rules: one seed, so no verdict) and
# figures. Only small files go to OUTDIR: metrics.csv, probes.csv, claims.md, claims_v1.md, PNGs, SUMMARY.txt, logs/.
#   bash gpu_science.sh OUTDIR                      # on the GPU machine (.whl/ beside it: `bash gpu_check.sh wheels`)
#   GPU_SCIENCE_DRY=1 bash gpu_science.sh OUTDIR    # the same steps on the CPU at a tiny size (a test runs it)
# Budget: TRAIN_MIN (default 6) minutes of training; LIMIT_MIN (default 9.5): past it, the remaining stages are
# skipped, and SUMMARY.txt says which; the results of what finished are still written.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
[ $# = 1 ] || { echo "error: usage: bash gpu_science.sh OUTDIR" >&2; exit 2; }
[[ "${TRAIN_MIN:-6}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: bad TRAIN_MIN='$TRAIN_MIN': allowed is minutes > 0" >&2; exit 2; }
[[ "${LIMIT_MIN:-9.5}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: bad LIMIT_MIN='$LIMIT_MIN': allowed is minutes > 0" >&2; exit 2; }
OUT=$1; mkdir -p "$OUT/logs"; OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/log.txt") 2>&1
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
if ls .whl/*.whl > /dev/null 2>&1 && ! $PY -c "import umap, skdim" 2> /dev/null; then  # a bare CUDA image lacks these
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$W/site" .whl/*.whl
  export PYTHONPATH=$W/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
T0=$SECONDS
LIMIT=$(awk "BEGIN {print int(${LIMIT_MIN:-9.5} * 60)}")
say() { echo "== [$((SECONDS - T0)) s] $*"; }
left() { echo $((LIMIT - (SECONDS - T0))); }
SKIPPED=()
# a stage's output goes to logs/NAME.txt, cut at the time left; a failure prints its tail and stops the script
stage() {
  local name=$1; shift
  if [ "$(left)" -le 5 ]; then SKIPPED+=("$name"); say "skipped $name (the time box is spent)"; return 0; fi
  say "$name"
  local rc=0; timeout "$(left)" "$@" > "$OUT/logs/$name.txt" 2>&1 || rc=$?
  if [ $rc = 124 ]; then SKIPPED+=("$name (cut at the time box)"); say "$name cut at the time box"; return 0; fi
  [ $rc = 0 ] || { tail -n 20 "$OUT/logs/$name.txt"; echo "error: $name failed (logs/$name.txt)"; exit 1; }
}

RUN=$W/sweep/dx1.0_dy1.0_sigma1.0_seed0
if [ "${GPU_SCIENCE_DRY:-0}" = 1 ]; then  # tiny and on the CPU: every step, for the test
  DEV=cpu; DATA=(--size=16 --dx=1.0 --dy=1.0); FAST=(); SFAST=()
  TRAIN=(--width=8 --attn_res=2 --pe_dim=16 --batch_size=8 --steps=30 --ckpt_every=10 --ckpt_at=5 --log_every=5)
  SAMP=(--n_samples=40 --sample_steps=5); PROBE=(--n_probe=40 --probe_ts=0,300 --dec_ts=300)
else
  DEV=cuda; DATA=(--dx=1.0 --dy=1.0); FAST=(--tf32=True --compile=reduce-overhead)  # the measured levers (results/gpu)
  SFAST=(--tf32=True)  # sampling: TF32 only (x1.52 in results/gpu); compiled sampling was never run on a GPU here
  TRAIN=(--steps=320000 --ckpt_every=2500 --ckpt_at=500,1000 "--time_limit=${TRAIN_MIN:-6}")
  SAMP=(--n_samples=500 --sampler=ddim --eta=1.0 --sample_steps=100); PROBE=()
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
mkdir -p "$RUN"
stage make_data "$PY" make_data.py --out_dir="$RUN" "${DATA[@]}"
stage train "$PY" train.py --out_dir="$RUN" --device=$DEV "${TRAIN[@]}" "${FAST[@]}"
grep -a "done:\|stopped" "$OUT/logs/train.txt" 2> /dev/null | tail -n 2 || true
if ! ls "$RUN"/ckpt_*.pt > /dev/null 2>&1; then
  SKIPPED+=("sample" "analyze" "probe (no checkpoint)")
elif [ "$(left)" -le 5 ]; then
  SKIPPED+=("sample" "analyze" "probe")
else  # the GPU samples while the CPUs score each file as it is written; then the probes
  say "sample (and analyze beside it)"
  timeout "$(left)" "$PY" sample.py --out_dir="$RUN" --device=$DEV "${SAMP[@]}" "${SFAST[@]}" > "$OUT/logs/sample.txt" 2>&1 & SP=$!
  stage analyze "$PY" analyze.py --out_dir="$RUN" --umap_seeds=1 --follow=$SP
  rc=0; wait $SP || rc=$?
  if [ $rc = 124 ]; then SKIPPED+=("sample (cut at the time box)"); elif [ $rc != 0 ]; then
    tail -n 20 "$OUT/logs/sample.txt"; echo "error: sample failed (logs/sample.txt)"; exit 1; fi
  stage probe "$PY" probe.py --out_dir="$RUN" --device=$DEV "${PROBE[@]}"
fi
if [ -f "$RUN/metrics.npz" ]; then
  stage figures "$PY" plot_figures.py --sweep_dir="$W/sweep" --fig_dir="$OUT" --claims="$OUT/claims_v1.md" --sigma_incs=
  stage study "$PY" study.py --sweep_dir="$W/sweep" --fig_dir="$OUT" --results="$OUT"
fi
rm -f "$OUT"/*.pdf
{
  echo "gpu_science.sh on $DEV: $((SECONDS - T0)) s in all (time box ${LIMIT} s)"
  grep -a "done:\|stopped" "$OUT/logs/train.txt" 2> /dev/null | tail -n 1 || true
  n() { find "$RUN" -maxdepth 1 -name "$1" | wc -l; }
  echo "checkpoints: $(n 'ckpt_*.pt'); sampled: $(n 'samples_*.npz'); probed: $(n 'probes_*.npz')"
  if [ ${#SKIPPED[@]} -gt 0 ]; then echo "left out (time box): ${SKIPPED[*]}"; else echo "left out: nothing"; fi
} | tee "$OUT/SUMMARY.txt"
