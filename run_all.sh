#!/usr/bin/env bash
# The whole reproduction: every run behind Figs. 3, 4, 5, 8 and 9 (data -> train -> sample -> analyze, one
# folder per run under out/$PRESET), then the figures (figures/$PRESET) and the claims table (results/$PRESET).
#   bash run_all.sh          # 'paper' when CUDA is present, else 'cpu'
#   bash run_all.sh tiny     # smoke sweep, well under 2 minutes on 2 CPU cores
#   bash run_all.sh cpu      # the CPU preset (README: what it shows, measured wall time)
#   bash run_all.sh paper    # the paper's model, schedule and sweep (GPU scale: 123 runs of 320,000 steps)
#   JOBS=4 bash run_all.sh   # runs at a time (default: cores / THREADS on CPU, GPUs on CUDA)
#   SLURM=1 bash run_all.sh paper   # write out/paper/jobs.txt + sweep.sbatch for `sbatch`, run nothing
# Rerunning skips finished runs (a DONE file holding the same settings), resumes unfinished ones and redraws the
# figures; after a change of the preset's settings the runs are redone (train.py refuses a checkpoint made otherwise).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

preset() {  # the settings of one preset: the sweep (what the figures need) and the per-run stage settings
  case "$1" in
    tiny)  SIZE=32; INCS="2.0 4.0"; SIGMAS="0.5 1.0"; SIGMA_INCS="4.0"; IMBAL="2.0,4.0"
           HOLE_D=2.0; HOLES="11,21"; SEEDS="0"; FIG3_D=4.0
           TRAIN="--width=8 --attn_res=4 --pe_dim=16 --steps=30 --ckpt_every=10 --batch_size=16"
           SAMPLE="--n_samples=40 --sample_steps=5" ;;
    cpu)   SIZE=32; INCS="0.1 0.5 1.0"; SIGMAS="0.5 1.0"; SIGMA_INCS="1.0"; IMBAL="0.1,1.0 0.1,0.5"
           HOLE_D=0.1; HOLES="13,19 11,21"; SEEDS="0"; FIG3_D=1.0
           TRAIN="--width=8 --attn_res=8,4 --lr=2e-3 --warmup=100 --ema=0.999 --batch_size=64 --steps=6000 --ckpt_every=2000"
           SAMPLE="--n_samples=500 --sampler=ddim --eta=1.0 --sample_steps=100" ;;
    paper) SIZE=32; INCS="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0"; SIGMAS="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0"
           SIGMA_INCS="0.1 0.5 1.0"; IMBAL="0.1,1.0 0.1,0.5"; HOLE_D=0.1; HOLES="13,19 11,21"; SEEDS="0 1 2"; FIG3_D=1.0
           TRAIN=""; SAMPLE="" ;;
    *) echo "error: unknown preset '$1': allowed are tiny, cpu, paper" >&2; exit 2 ;;
  esac
}

if [ "${1:-}" = job ]; then  # one run: bash run_all.sh job PRESET DIR DX DY SIGMA HOLE SEED (HOLE 'lo,hi' or -)
  [ $# = 8 ] || { echo "error: bad job '${*:2}': allowed is PRESET DIR DX DY SIGMA HOLE SEED (a line of jobs.txt)" >&2; exit 2; }
  shift; preset "$1"; dir=$2; dx=$3; dy=$4; sigma=$5; hole=$6; seed=$7
  sig="size=$SIZE dx=$dx dy=$dy sigma=$sigma hole=$hole seed=$seed train: $TRAIN sample: $SAMPLE"
  [ -f "$dir/DONE" ] && [ "$(cat "$dir/DONE")" = "$sig" ] && { echo "skip $dir (done)"; exit 0; }  # same settings only
  mkdir -p "$dir"
  HOLE_ARGS=""; [ "$hole" != - ] && HOLE_ARGS="--hole_lo=${hole%,*} --hole_hi=${hole#*,}"
  TH="--threads=${THREADS:-0}"
  if [ -n "${NGPU:-}" ] && [ "$NGPU" -gt 0 ]; then export CUDA_VISIBLE_DEVICES=$(( ${SLOT:-0} % NGPU )); fi
  echo "start $dir"; t0=$SECONDS
  if { $PY make_data.py --out_dir="$dir" --size=$SIZE --dx="$dx" --dy="$dy" --sigma="$sigma" $HOLE_ARGS &&
       $PY train.py --out_dir="$dir" --seed="$seed" $TRAIN $TH &&
       $PY sample.py --out_dir="$dir" $SAMPLE $TH &&
       $PY analyze.py --out_dir="$dir"; } > "$dir/log.txt" 2>&1; then
    echo "$sig" > "$dir/DONE"; echo "done  $dir ($((SECONDS - t0)) s)"
  else
    echo "FAILED $dir: $(tail -n 1 "$dir/log.txt") (log: $dir/log.txt)"; exit 1
  fi
  exit 0
fi

PRESET=${1:-auto}
NGPU=$($PY -c "import torch; print(torch.cuda.device_count())" 2>/dev/null) ||
  { echo "error: $PY cannot import torch: install requirements.txt (README) or set PYTHON=" >&2; exit 2; }
if [ "$PRESET" = auto ]; then PRESET=$([ "$NGPU" -gt 0 ] && echo paper || echo cpu); fi
preset "$PRESET"
ROOT=${ROOT:-.}  # out/, figures/ and results/ go under here
OUT=$ROOT/out/$PRESET
mkdir -p "$OUT"

# the job list: one line per run, settings shared between figures (sigma = 1 in Figs. 4 and 8) run once
{
  for s in $SEEDS; do
    for d in $INCS; do echo "$d $d 1.0 - $s"; done
    for d in $SIGMA_INCS; do for sg in $SIGMAS; do echo "$d $d $sg - $s"; done; done
    for p in $IMBAL; do echo "${p%,*} ${p#*,} 1.0 - $s"; done
    for h in $HOLES; do echo "$HOLE_D $HOLE_D 1.0 $h $s"; done
  done
} | awk '!seen[$0]++' | while read -r dx dy sg h s; do
  name="dx${dx}_dy${dy}_sigma${sg}"; [ "$h" != - ] && name="${name}_hole${h/,/-}"
  echo "$PRESET $OUT/${name}_seed$s $dx $dy $sg $h $s"
done > "$OUT/jobs.txt.tmp" && mv "$OUT/jobs.txt.tmp" "$OUT/jobs.txt"
N=$(wc -l < "$OUT/jobs.txt")

if [ "${SLURM:-0}" = 1 ]; then  # one array task per run; `bash run_all.sh $PRESET` afterwards draws the figures
  cat > "$OUT/sweep.sbatch" <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=factorized-$PRESET
#SBATCH --array=1-$N
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=${SLURM_TIME:-24:00:00}
#SBATCH --output=$OUT/slurm_%A_%a.out
cd "$PWD"
bash run_all.sh job \$(sed -n "\${SLURM_ARRAY_TASK_ID}p" $OUT/jobs.txt)
EOF
  echo "wrote $OUT/jobs.txt ($N runs) and $OUT/sweep.sbatch; submit with: sbatch $OUT/sweep.sbatch"
  echo "when the array has finished: bash run_all.sh $PRESET   (skips the finished runs, draws the figures)"
  exit 0
fi

if [ "$NGPU" -gt 0 ]; then  # CUDA: one run per GPU, pinned by its xargs slot
  export NGPU THREADS=${THREADS:-0}; JOBS=${JOBS:-$NGPU}
else  # CPU: one thread per run, as many runs as cores (two 1-thread runs beat one 2-thread run)
  CORES=$(getconf _NPROCESSORS_ONLN)
  export THREADS=${THREADS:-1}; JOBS=${JOBS:-$(( THREADS > 0 && CORES / THREADS > 0 ? CORES / THREADS : 1 ))}
fi
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "error: bad JOBS='$JOBS': allowed is a positive integer" >&2; exit 2; }
[[ "$THREADS" =~ ^[0-9]+$ ]] || { echo "error: bad THREADS='$THREADS': allowed is an integer >= 0 (0 = all cores)" >&2; exit 2; }
echo "run_all.sh $PRESET: $N runs, $JOBS at a time, $THREADS thread(s) each (0 = all); logs in each run's log.txt"
t0=$SECONDS
status=0
SLOTS=$(xargs --process-slot-var=SLOT true < /dev/null 2>/dev/null && echo --process-slot-var=SLOT || true)  # GNU only
xargs -P "$JOBS" -L 1 $SLOTS bash run_all.sh job < "$OUT/jobs.txt" || status=$?
$PY plot_figures.py --sweep_dir="$OUT" --fig_dir="$ROOT/figures/$PRESET" --claims="$ROOT/results/$PRESET/claims.md" \
  --fig3_d=$FIG3_D --sigma_incs="$(echo $SIGMA_INCS | tr ' ' ,)"
echo "run_all.sh $PRESET: $((SECONDS - t0)) s; figures in $ROOT/figures/$PRESET, claims in $ROOT/results/$PRESET/claims.md"
[ $status = 0 ] || { echo "error: some runs failed (see FAILED lines above); rerun to retry them" >&2; exit 1; }
