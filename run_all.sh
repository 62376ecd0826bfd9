#!/usr/bin/env bash
# The whole reproduction: every run behind Figs. 3, 4, 5, 8 and 9 (data -> train -> sample -> analyze, one
# folder per run under out/$PRESET), then the figures (figures/$PRESET) and the claims table (results/$PRESET).
#   bash run_all.sh          # 'paper' when CUDA is present, else 'cpu'
#   bash run_all.sh tiny     # smoke sweep, about a minute on 2 CPU cores (what the tests run)
#   bash run_all.sh quick    # one CPU run (d = 1) through phases A -> B -> C, Fig. 3 and claim C1
#   bash run_all.sh cpu      # the CPU sweep (README: what it shows, measured wall time)
#   bash run_all.sh cpu-seeds  # the confirmatory seeds 1 and 2 of cpu's C1/C3/C5 runs; claims join results/cpu
#   bash run_all.sh paper    # the paper's model, schedule and sweep (GPU scale: 123 runs of 320,000 steps)
#   JOBS=4 THREADS=1 bash run_all.sh   # runs at a time, torch threads per run (defaults: see the end of this file)
#   OVERLAP=1 bash run_all.sh          # score each checkpoint while the next is sampled (default on a GPU only)
#   SLURM=1 bash run_all.sh paper      # write out/paper/jobs.txt + sweep.sbatch for `sbatch`, run nothing (README)
# Rerunning skips finished runs (a DONE file holding the same settings), resumes unfinished ones and redraws the
# figures. Once a sweep.sbatch exists for a preset, rerunning only gathers: it draws what has finished and lists the
# runs still missing, without starting or touching them (LOCAL=1 runs the missing ones here instead).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

preset() {  # the settings of one preset: the sweep (what the figures need), the per-run stage settings, resources
  GPU=0; CPUS=1; RUN_THREADS=1; C1_TRAIN=""; RESULTS=$1
  case "$1" in
    tiny)  SIZE=32; INCS="2.0 4.0"; SIGMAS="0.5 1.0"; SIGMA_INCS="4.0"; IMBAL="2.0,4.0"
           HOLE_D=2.0; HOLES="11,21"; SEEDS="0"; FIG3_D=4.0
           TRAIN="--width=8 --attn_res=4 --pe_dim=16 --steps=30 --ckpt_every=10 --batch_size=16 --log_every=5"
           SAMPLE="--n_samples=40 --sample_steps=5"; ANALYZE="--umap_seeds=1" ;;
    quick) SIZE=32; INCS="1.0"; SIGMAS=""; SIGMA_INCS=""; IMBAL=""; HOLE_D=1.0; HOLES=""; SEEDS="0"; FIG3_D=1.0
           TRAIN="--width=8 --attn_res=8,4 --lr=2e-3 --warmup=100 --lr_decay=cosine --batch_size=32 --steps=12000 --ckpt_every=2000 --ckpt_at=500,1000,3000,5000,7000"
           SAMPLE="--n_samples=500 --sampler=ddim --eta=1.0 --sample_steps=100"; ANALYZE=""
           CPUS=2; RUN_THREADS=0 ;;  # one run: every core serves it
    cpu|cpu-seeds)
           SIZE=32; INCS="0.1 0.5 1.0"; SIGMAS="0.5 1.0"; SIGMA_INCS="1.0"; IMBAL="0.1,1.0 0.1,0.5"
           HOLE_D=0.1; HOLES="13,19 11,21"; SEEDS="0"; FIG3_D=1.0
           TRAIN="--width=8 --attn_res=8,4 --lr=2e-3 --warmup=100 --lr_decay=cosine --batch_size=32 --steps=16000 --ckpt_every=4000 --ckpt_at=2000"
           C1_TRAIN="--ckpt_at=500,1000,2000,3000,4000,5000,6000,7000"  # the Fig. 3 run: a phase window of ~1,000 steps
           SAMPLE="--n_samples=500 --sampler=ddim --eta=1.0 --sample_steps=100"; ANALYZE=""
           # cpu-seeds: the confirmatory seeds 1 and 2 of the runs behind C1, C3 and C5; its claims join results/cpu
           if [ "$1" = cpu-seeds ]; then IMBAL=""; HOLES=""; SEEDS="1 2"; RESULTS=cpu; fi ;;
    paper) SIZE=32; INCS="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0"; SIGMAS="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0"
           SIGMA_INCS="0.1 0.5 1.0"; IMBAL="0.1,1.0 0.1,0.5"; HOLE_D=0.1; HOLES="13,19 11,21"; SEEDS="0 1 2"; FIG3_D=1.0
           TRAIN=""; SAMPLE=""; ANALYZE=""; GPU=1; CPUS=4; RUN_THREADS=0 ;;
    *) echo "error: unknown preset '$1': allowed are tiny, quick, cpu, cpu-seeds, paper" >&2; exit 2 ;;
  esac
}

if [ "${1:-}" = settings ]; then  # the stage settings of one preset (bench.py reads them from here)
  preset "${2:-}"; echo "train: $TRAIN"; echo "sample: $SAMPLE"; echo "analyze: $ANALYZE"; exit 0
fi

if [ "${1:-}" = job ]; then  # one run: bash run_all.sh job PRESET DIR DX DY SIGMA HOLE SEED (HOLE 'lo,hi' or -)
  [ $# = 8 ] || { echo "error: bad job '${*:2}': allowed is PRESET DIR DX DY SIGMA HOLE SEED (a line of jobs.txt)" >&2; exit 2; }
  shift; preset "$1"; dir=$2; dx=$3; dy=$4; sigma=$5; hole=$6; seed=$7
  [ "$dx" = "$FIG3_D" ] && [ "$dy" = "$FIG3_D" ] && [ "$sigma" = 1.0 ] && [ "$hole" = - ] && TRAIN="$TRAIN $C1_TRAIN"
  sig="size=$SIZE dx=$dx dy=$dy sigma=$sigma hole=$hole seed=$seed train: $TRAIN sample: $SAMPLE analyze: $ANALYZE"
  finished() {  # one line per finished run, with the sweep's progress when run_all.sh started this job
    [ -n "${SWEEP_LOG:-}" ] || { echo "$1"; return; }
    echo "$2" >> "$SWEEP_LOG"
    local done ran left el eta=""
    done=$(wc -l < "$SWEEP_LOG"); ran=$(grep -vc '^skip' "$SWEEP_LOG" || true); left=$((SWEEP_N - done)); el=$(( $(date +%s) - SWEEP_T0 ))
    [ "$ran" -gt 0 ] && [ "$left" -gt 0 ] && eta=", ~$(( el * left / ran / 60 )) min left"
    echo "[$done/$SWEEP_N runs, $((el / 60)) min elapsed$eta] $1"
  }
  [ -f "$dir/DONE" ] && [ "$(cat "$dir/DONE")" = "$sig" ] && { finished "skip $dir (done)" skip; exit 0; }  # same settings only
  mkdir -p "$dir"
  if command -v flock > /dev/null; then  # one process per run folder, whichever machine started it (SLURM or local)
    exec 9> "$dir/.lock"
    flock -n 9 || { echo "busy $dir: another process is running it, left alone"; exit 0; }
  fi
  HOLE_ARGS=""; [ "$hole" != - ] && HOLE_ARGS="--hole_lo=${hole%,*} --hole_hi=${hole#*,}"
  TH="--threads=${THREADS:-$RUN_THREADS}"
  if [ -n "${NGPU:-}" ] && [ "$NGPU" -gt 0 ]; then export CUDA_VISIBLE_DEVICES=$(( ${SLOT:-0} % NGPU )); fi
  echo "start $dir (log: $dir/log.txt)"; t0=$SECONDS
  rm -f "$dir/FAILED"
  stage() { echo "== $1" >> "$dir/log.txt"; shift; "$@" >> "$dir/log.txt" 2>&1; }
  : > "$dir/log.txt"
  evaluate() {  # sample every checkpoint, then score; OVERLAP=1 (the default on a GPU) scores each file as it is written
    if [ "${OVERLAP:-$GPU}" = 1 ]; then
      stage sample $PY sample.py --out_dir="$dir" $SAMPLE $TH & local sp=$! a=0 s=0
      stage analyze $PY analyze.py --out_dir="$dir" $ANALYZE --follow=$sp || a=$?
      wait $sp || s=$?
      [ $a = 0 ] && [ $s = 0 ]
    else
      stage sample $PY sample.py --out_dir="$dir" $SAMPLE $TH && stage analyze $PY analyze.py --out_dir="$dir" $ANALYZE
    fi
  }
  if stage make_data $PY make_data.py --out_dir="$dir" --size=$SIZE --dx="$dx" --dy="$dy" --sigma="$sigma" $HOLE_ARGS &&
     stage train $PY train.py --out_dir="$dir" --seed="$seed" $TRAIN $TH &&
     evaluate; then
    echo "$sig" > "$dir/DONE.tmp" && mv "$dir/DONE.tmp" "$dir/DONE"
    finished "done  $dir ($((SECONDS - t0)) s)" ran
  else
    tr '\r' '\n' < "$dir/log.txt" | grep -av '^\s*$' | tail -n 1 > "$dir/FAILED"
    finished "FAILED $dir: $(cat "$dir/FAILED") (log: $dir/log.txt)" ran; exit 1
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

draw() {  # figures and claims from every finished run (plot_figures prints the claims' verdicts)
  $PY plot_figures.py --sweep_dir="$OUT" --fig_dir="$ROOT/figures/$PRESET" --claims="$ROOT/results/$RESULTS/claims.md" \
    --fig3_d=$FIG3_D --sigma_incs="$(echo $SIGMA_INCS | tr ' ' ,)"
  echo "figures in $ROOT/figures/$PRESET, claims and metrics.csv in $ROOT/results/$RESULTS"
}

if [ "${SLURM:-0}" = 1 ]; then  # one array task per run; `bash run_all.sh $PRESET` afterwards gathers and draws
  CPT=${CPUS_PER_TASK:-$CPUS}; GPT=${GPUS_PER_TASK:-$GPU}
  [[ "$CPT" =~ ^[1-9][0-9]*$ ]] || { echo "error: bad CPUS_PER_TASK='$CPT': allowed is a positive integer" >&2; exit 2; }
  [[ "$GPT" =~ ^[0-9]+$ ]] || { echo "error: bad GPUS_PER_TASK='$GPT': allowed is an integer >= 0" >&2; exit 2; }
  [[ "${MAX_RUNNING:-1}" =~ ^[1-9][0-9]*$ ]] || { echo "error: bad MAX_RUNNING='$MAX_RUNNING': allowed is a positive integer" >&2; exit 2; }
  {
    echo "#!/usr/bin/env bash"
    echo "#SBATCH --job-name=bumps-$PRESET"
    echo "#SBATCH --array=1-$N${MAX_RUNNING:+%$MAX_RUNNING}"
    echo "#SBATCH --cpus-per-task=$CPT"
    [ "$GPT" -gt 0 ] && echo "#SBATCH --gres=gpu:$GPT"
    [ -n "${PARTITION:-}" ] && echo "#SBATCH --partition=$PARTITION"
    [ -n "${ACCOUNT:-}" ] && echo "#SBATCH --account=$ACCOUNT"
    [ -n "${TIME_LIMIT:-}" ] && echo "#SBATCH --time=$TIME_LIMIT"
    if [ -n "${EXTRA_SBATCH:-}" ]; then echo "$EXTRA_SBATCH" | tr ';' '\n' | sed 's/^ *//; /^$/d; s/^/#SBATCH /'; fi
    echo "#SBATCH --requeue"
    echo "#SBATCH --open-mode=append"
    echo "#SBATCH --output=$(cd "$OUT" && pwd)/slurm_%A_%a.out"
    echo "# a task resumes its run from the last checkpoint when requeued or resubmitted; it uses the CPUs it was given"
    echo "cd \"$PWD\""
    echo "export THREADS=\${SLURM_CPUS_PER_TASK:-$CPT}  # SLURM sets CUDA_VISIBLE_DEVICES to the GPU it gave"; echo "unset NGPU"
    echo "bash run_all.sh job \$(sed -n \"\${SLURM_ARRAY_TASK_ID}p\" \"$(cd "$OUT" && pwd)/jobs.txt\")"
  } > "$OUT/sweep.sbatch.tmp" && mv "$OUT/sweep.sbatch.tmp" "$OUT/sweep.sbatch"
  echo "wrote $OUT/jobs.txt ($N runs) and $OUT/sweep.sbatch ($CPT CPU(s), $GPT GPU(s) per task); submit with: sbatch $OUT/sweep.sbatch"
  echo "to gather (any time; draws what has finished, lists what is missing): bash run_all.sh $PRESET"
  exit 0
fi

if [ -f "$OUT/sweep.sbatch" ] && [ "${LOCAL:-0}" != 1 ]; then  # a SLURM sweep: gather, start nothing
  missing=0
  while read -r _ dir _; do
    [ -f "$dir/DONE" ] && continue
    missing=$((missing + 1)); why="not started"
    [ -f "$dir/FAILED" ] && why="failed: $(cat "$dir/FAILED")"
    if [ -e "$dir/.lock" ] && command -v flock > /dev/null && ! flock -n "$dir/.lock" true; then why="running"; fi
    echo "missing $dir ($why)"
  done < "$OUT/jobs.txt"
  echo "gathering $PRESET (a SLURM sweep: nothing is started here; LOCAL=1 runs the unfinished ones on this machine): $((N - missing)) of $N runs finished"
  [ "$missing" -lt "$N" ] && draw
  exit 0
fi

if [ "$NGPU" -gt 0 ]; then  # CUDA: one run per GPU, pinned by its xargs slot
  export NGPU THREADS=${THREADS:-0}; JOBS=${JOBS:-$NGPU}
else  # CPU: the preset's threads per run (1 for sweeps, all cores for a one-run preset), as many runs as fit
  CORES=$(getconf _NPROCESSORS_ONLN)
  export THREADS=${THREADS:-$RUN_THREADS}; JOBS=${JOBS:-$(( THREADS > 0 && CORES / THREADS > 0 ? CORES / THREADS : 1 ))}
fi
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "error: bad JOBS='$JOBS': allowed is a positive integer" >&2; exit 2; }
[[ "$THREADS" =~ ^[0-9]+$ ]] || { echo "error: bad THREADS='$THREADS': allowed is an integer >= 0 (0 = all cores)" >&2; exit 2; }
echo "run_all.sh $PRESET: $N runs, $JOBS at a time, $THREADS thread(s) each (0 = all); each run's progress: its log.txt"
export SWEEP_LOG=$OUT/.finished SWEEP_N=$N SWEEP_T0=$(date +%s)
: > "$SWEEP_LOG"
SLOTS=$(xargs --process-slot-var=SLOT true < /dev/null 2>/dev/null && echo --process-slot-var=SLOT || true)  # GNU only
xargs -P "$JOBS" -L 1 $SLOTS bash run_all.sh job < "$OUT/jobs.txt" & XPID=$!
HEARTBEAT=${HEARTBEAT:-60}; last=$SECONDS
while kill -0 $XPID 2> /dev/null; do  # every HEARTBEAT s: where each running run is (the last line of its progress bar)
  sleep 1
  if [ $((SECONDS - last)) -ge "$HEARTBEAT" ]; then
    last=$SECONDS
    while read -r _ dir _; do
      [ -f "$dir/log.txt" ] && [ ! -f "$dir/DONE" ] && [ ! -f "$dir/FAILED" ] || continue
      if command -v flock > /dev/null && flock -n "$dir/.lock" true 2> /dev/null; then continue; fi  # not running now
      echo "  $(date +%H:%M) $(basename "$dir"): $(tail -c 600 "$dir/log.txt" | tr '\r' '\n' | grep -av '^\s*$' | tail -n 1 | cut -c1-110)"
    done < "$OUT/jobs.txt"
  fi
done
status=0; wait $XPID || status=$?
draw
echo "run_all.sh $PRESET: $(( $(date +%s) - SWEEP_T0 )) s"
[ $status = 0 ] || { echo "error: some runs failed (see FAILED lines above); rerun to retry them" >&2; exit 1; }
