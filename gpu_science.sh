#!/usr/bin/env bash
# The paper's own model on one GPU, in one time box: width 64, attention at 32/16/8/4, AdamW 3e-4, batch 32
# (train.py's defaults), d = 1, sigma = 1, trained with the fastest CUDA settings measured on an H200 (TF32 + fused
# AdamW + CUDA graphs, results/gpu) for TRAIN_MIN minutes; checkpoints every 500 steps to 10,000 (the onsets fell at
# 6,500-10,000 on 2026-12-04, results/gpu-science), then every 2,500; the one-step probes (probe.py) at every one,
# on the GPU beside 500 DDIM-100 samples at every 1,000th and 2,500th step and the last (Alg. 1 and position-only
# accuracy, analyze.py on the machine's CPUs); then the study's table, claims (prereg2's rules: one seed, so no
# verdict) and figures. The device tool returns 8 files, so OUTDIR ends with two: SUMMARY.txt and gpu-science.tgz
# (metrics.csv, probes.csv, claims, PNGs, logs/ and the run's probes_*.npz under run/, for report.py here).
#   bash gpu_science.sh OUTDIR                      # on the GPU machine (.whl/ beside it: `bash gpu_check.sh wheels`)
#   GPU_SCIENCE_DRY=1 bash gpu_science.sh OUTDIR    # the same steps on the CPU at a tiny size (a test runs it)
# Budget: TRAIN_MIN (default 4.5) minutes of training; LIMIT_MIN (default 9.5): past it, the remaining stages are
# skipped, and SUMMARY.txt says which; the results of what finished are still written.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
[ $# = 1 ] || { echo "error: usage: bash gpu_science.sh OUTDIR" >&2; exit 2; }
[[ "${TRAIN_MIN:-4.5}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: bad TRAIN_MIN='$TRAIN_MIN': allowed is minutes > 0" >&2; exit 2; }
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
  TRAIN=(--width=8 --attn_res=2 --pe_dim=16 --batch_size=8 --steps=30 --ckpt_every=10 --ckpt_at=5 --log_every=5); EVERY=10
  SAMP=(--n_samples=40 --sample_steps=5); PROBE=(--n_probe=40 --probe_ts=0,300 --dec_ts=300)
else
  DEV=cuda; DATA=(--dx=1.0 --dy=1.0); FAST=(--tf32=True --compile=reduce-overhead)  # the measured levers (results/gpu)
  SFAST=(--tf32=True)  # sampling: TF32 only (x1.52 in results/gpu); compiled sampling was never run on a GPU here
  TRAIN=(--steps=320000 --ckpt_every=2500 --ckpt_at=$(seq -s, 500 500 9500) "--time_limit=${TRAIN_MIN:-4.5}"); EVERY=1000
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
else  # the GPU probes every checkpoint and samples the coarser grid while the CPUs score each samples file
  say "probe, and sample (and analyze beside it)"
  SAMPLED=$(cd "$RUN" && ls ckpt_*.pt | sed 's/ckpt_0*\([0-9]*\)\.pt/\1/; s/^$/0/' | sort -n |
            awk -v e=$EVERY '{ s[NR] = $1 } END { for (i = 1; i <= NR; i++) if (s[i] % e == 0 || s[i] % 2500 == 0 || i == NR) printf "%s%s", (n++ ? "," : ""), s[i] }')
  timeout "$(left)" "$PY" probe.py --out_dir="$RUN" --device=$DEV "${PROBE[@]}" > "$OUT/logs/probe.txt" 2>&1 & PP=$!
  timeout "$(left)" "$PY" sample.py --out_dir="$RUN" --device=$DEV --ckpts="$SAMPLED" "${SAMP[@]}" "${SFAST[@]}" > "$OUT/logs/sample.txt" 2>&1 & SP=$!
  stage analyze "$PY" analyze.py --out_dir="$RUN" --umap_seeds=1 --follow=$SP
  for job in "sample $SP" "probe $PP"; do
    set -- $job; rc=0; wait "$2" || rc=$?
    if [ $rc = 124 ]; then SKIPPED+=("$1 (cut at the time box)"); elif [ $rc != 0 ]; then
      tail -n 20 "$OUT/logs/$1.txt"; echo "error: $1 failed (logs/$1.txt)"; exit 1; fi
  done
fi
if [ -f "$RUN/metrics.npz" ]; then
  stage report "$PY" report.py --sweep_dir="$W/sweep" --results="$OUT" --sigma_incs= --study=True
  stage figures "$PY" plot_figures.py --sweep_dir="$W/sweep" --results="$OUT" --fig_dir="$OUT" --sigma_incs= --study=True --formats=png
fi
{
  echo "gpu_science.sh on $DEV: $((SECONDS - T0)) s in all (time box ${LIMIT} s)"
  grep -a "done:\|stopped" "$OUT/logs/train.txt" 2> /dev/null | tail -n 1 || true
  n() { find "$RUN" -maxdepth 1 -name "$1" | wc -l; }
  echo "checkpoints: $(n 'ckpt_*.pt'); sampled: $(n 'samples_*.npz'); probed: $(n 'probes_*.npz')"
  if [ ${#SKIPPED[@]} -gt 0 ]; then echo "left out (time box): ${SKIPPED[*]}"; else echo "left out: nothing"; fi
} | tee "$OUT/SUMMARY.txt"
# two files back: SUMMARY.txt and one archive of the rest (with the run's probes and loss.csv, to rerun report.py here)
mkdir -p "$OUT/run" && cp "$RUN"/probes_*.npz "$RUN"/loss.csv "$OUT/run/" 2> /dev/null || true
(cd "$OUT" && tar czf "$W/gpu-science.tgz" --exclude=SUMMARY.txt . && find . -mindepth 1 ! -name SUMMARY.txt -delete && mv "$W/gpu-science.tgz" .)
