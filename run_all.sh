#!/usr/bin/env bash
# The whole reproduction: every run behind Figs. 3, 4, 5, 8 and 9 (data -> train -> sample -> analyze, one
# folder per run under out/$PRESET), then the figures (figures/$PRESET) and the claims table (results/$PRESET).
#   bash run_all.sh          # 'paper' when CUDA is present, else 'cpu'
#   bash run_all.sh tiny     # or quick, cpu, cpu-more, cpu-seeds, grid, paper: the presets live in presets.py
#                            # (README: their times); `python presets.py NAME` prints one's runs and settings
#   SEEDS=1,2 bash run_all.sh cpu      # the preset's runs with these seeds instead of its own
#   JOBS=4 THREADS=1 bash run_all.sh   # runs at a time, torch threads per run (defaults: see the end of this file)
#   OVERLAP=1 bash run_all.sh          # score each checkpoint while the next is sampled (default on a GPU only)
#   PACK=8 bash run_all.sh paper       # train the runs 8 at a time as one packed network (train_pack.py), then evaluate
#                                      # each as usual (default 1; on CUDA the K bench.py measured fastest, if it did)
#   SLURM=1 bash run_all.sh paper      # write out/paper/jobs.txt + sweep.sbatch for `sbatch`, run nothing (README)
# Rerunning skips finished runs (a DONE file holding the same settings; one finished in another preset's folder is
# linked: `grid` reuses `cpu`'s runs), resumes unfinished ones and redraws the
# figures. Once a sweep.sbatch exists for a preset, rerunning only gathers: it draws what has finished and lists the
# runs still missing, without starting or touching them (LOCAL=1 runs the missing ones here instead).
# Ctrl-C (or SIGTERM) stops the driver, every run and every stage within seconds; the same command resumes.
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in -h|--help|help) sed -n '2,/^set -euo/p' run_all.sh | sed '$d; s/^# \{0,1\}//'; exit 0;; esac
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
bad() { echo "error: bad $1='$2': allowed is $3" >&2; exit 2; }  # every environment setting is checked before its first use
[[ "${THREADS:-0}" =~ ^[0-9]+$ ]] || bad THREADS "$THREADS" "an integer >= 0 (0 = all cores)"
[[ "${JOBS:-1}" =~ ^[1-9][0-9]*$ ]] || bad JOBS "$JOBS" "a positive integer"
[[ "${HEARTBEAT:-60}" =~ ^[1-9][0-9]*$ ]] || bad HEARTBEAT "$HEARTBEAT" "seconds, a positive integer"
[[ "${PACK:-1}" =~ ^[1-9][0-9]*$ ]] || bad PACK "$PACK" "a positive integer (runs trained as one network; 1 = each alone)"
for v in OVERLAP SLURM LOCAL; do [[ "${!v:-0}" =~ ^[01]$ ]] || bad "$v" "${!v}" "0 or 1"; done

if [ "${1:-}" = job ]; then  # one run: bash run_all.sh job PRESET DIR DX DY SIGMA HOLE SEED (a line of jobs.txt)
  shift; settings=$($PY presets.py run "$@") || exit 2
  eval "$settings"; dir=$2  # flag arrays MAKE_DATA TRAIN SAMPLE ANALYZE PROBE, the preset's GPU RUN_THREADS ELICIT REPORT, SEED, SIG, DONE_SAME, DO_PROBE, REUSE
  finished() {  # one line per finished run, with the sweep's progress when run_all.sh started this job
    [ -n "${SWEEP_LOG:-}" ] || { echo "$1"; return; }
    echo "$2" >> "$SWEEP_LOG"
    local n ran left el eta=""
    n=$(wc -l < "$SWEEP_LOG"); ran=$(grep -vc '^skip' "$SWEEP_LOG" || true); left=$((SWEEP_N - n)); el=$(( $(date +%s) - SWEEP_T0 ))
    if [ "$ran" -gt 0 ] && [ "$left" -gt 0 ]; then eta=", ~$(( el * left / ran / 60 )) min left"; fi
    echo "[$n/$SWEEP_N runs, $((el / 60)) min elapsed$eta] $1"
  }
  [ "$DONE_SAME" = 1 ] && { finished "skip $dir (done)" skip; exit 0; }  # finished with the same settings
  if [ -L "$dir" ]; then rm -- "$dir"; fi  # a link to another preset's run that no longer matches: never work through it
  if [ -n "$REUSE" ]; then  # the same run, finished in another preset's folder: link it (presets.py reusable)
    ln -s "$REUSE" "$dir" && { finished "reuse $dir (a link to $REUSE, done with the same settings)" skip; exit 0; }
  fi
  mkdir -p "$dir"
  if command -v flock > /dev/null; then  # one process per run folder, whichever machine started it (SLURM or local)
    exec 9> "$dir/.lock"
    flock -n 9 || { echo "busy $dir: another process is running it (left alone; its sweep draws once it is done)" >&2; exit 3; }
  fi
  rm -f "$dir/DONE"  # being (re)done: not done until it finishes, for a gather or another preset meanwhile
  TH="--threads=${THREADS:-$RUN_THREADS}"
  if [ -n "${NGPU:-}" ] && [ "$NGPU" -gt 0 ]; then export CUDA_VISIBLE_DEVICES=$(( ${SLOT:-0} % NGPU )); fi
  echo "start $dir (log: $dir/log.txt)${WHY:+; redone: settings changed since it finished: $WHY}"; t0=$SECONDS
  rm -f "$dir/FAILED"
  stage() { echo "== $1" >> "$dir/log.txt"; shift; "$@" >> "$dir/log.txt" 2>&1; }
  # appended, never emptied: a resumed run keeps the log of its earlier part; each start says when, what and at which commit
  echo "=== $(date '+%F %T') start: bash run_all.sh job $* (commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown))" >> "$dir/log.txt"
  evaluate() {  # sample every checkpoint, then score; OVERLAP=1 (the default on a GPU) scores each file as it is written
    if [ "${OVERLAP:-$GPU}" = 1 ]; then
      stage sample "$PY" sample.py --out_dir="$dir" "${SAMPLE[@]}" "$TH" & local sp=$! a=0 s=0
      stage analyze "$PY" analyze.py --out_dir="$dir" "${ANALYZE[@]}" --follow=$sp || a=$?
      wait $sp || s=$?
      [ $a = 0 ] && [ $s = 0 ]
    else
      stage sample "$PY" sample.py --out_dir="$dir" "${SAMPLE[@]}" "$TH" && stage analyze "$PY" analyze.py --out_dir="$dir" "${ANALYZE[@]}"
    fi
  }
  if stage make_data "$PY" make_data.py --out_dir="$dir" "${MAKE_DATA[@]}" &&
     stage train "$PY" train.py --out_dir="$dir" --seed="$SEED" "${TRAIN[@]}" "$TH" &&
     evaluate && { [ "$DO_PROBE" = 0 ] || stage probe "$PY" probe.py --out_dir="$dir" "${PROBE[@]}" "$TH"; } &&
     { [ "$ELICIT" = 0 ] || stage elicit "$PY" elicit.py --out_dir="$dir" "$TH"; }; then
    echo "$SIG" > "$dir/DONE.tmp" && mv "$dir/DONE.tmp" "$dir/DONE"
    finished "done  $dir ($((SECONDS - t0)) s)" ran
  else
    tr '\r' '\n' < "$dir/log.txt" | grep -av '^\s*$' | tail -n 1 > "$dir/FAILED"
    finished "FAILED $dir: $(cat "$dir/FAILED") (log: $dir/log.txt)" ran; exit 1
  fi
  exit 0
fi

PRESET=${1:-auto}
# GPUs as torch counts them, asked only where a GPU driver is present (importing torch costs ~2 s of CPU)
if command -v nvidia-smi > /dev/null || [ -e /dev/nvidia0 ] || [ -e /dev/kfd ]; then
  NGPU=$($PY -c "import torch; print(torch.cuda.device_count())" 2>/dev/null) || NGPU=
else
  NGPU=$($PY -c "import importlib.util as u; print(0 if u.find_spec('torch') else '')" 2>/dev/null) || NGPU=
fi
[ -n "$NGPU" ] || { echo "error: $PY cannot import torch: install requirements.txt (README) or set PYTHON=" >&2; exit 2; }
if [ "$PRESET" = auto ]; then PRESET=$([ "$NGPU" -gt 0 ] && echo paper || echo cpu); fi
settings=$($PY presets.py shell "$PRESET") || exit 2
eval "$settings"  # GPU CPUS RUN_THREADS RESULTS ELICIT REPORT FORMATS EXPECT (presets.py shell)
ROOT=${ROOT:-.}  # out/, figures/ and results/ go under here
[ -d "$ROOT" ] || { echo "error: ROOT=$ROOT does not exist: create it first (out/, figures/ and results/ go under it)" >&2; exit 2; }
OUT=$ROOT/out/$PRESET
mkdir -p "$OUT"
N=$($PY presets.py jobs "$PRESET" "$OUT")  # OUT/jobs.txt: one line per run (presets.py)

draw() {  # the tables and claims (report.py), then every figure (plot_figures.py), from every finished run
  local flags=(--sweep_dir="$OUT" --results="$ROOT/results/$RESULTS" "${REPORT[@]}")  # REPORT: presets.report_flags
  # the scripts echo each override; here the preset set them, so those lines are dropped. The tables first (the
  # figures read them), the verdicts printed last
  local said; said=$("$PY" report.py "${flags[@]}" | sed '/^override /d') || return 1
  "$PY" plot_figures.py "${flags[@]}" --fig_dir="$ROOT/figures/$PRESET" --formats="$FORMATS" | sed '/^override /d'
  echo "$said"
  if [ "$PRESET" = wide ]; then  # width 16 beside width 8 (and the GPU's width 64): figures/study/widths.png
    "$PY" plot_figures.py --fig_dir="$ROOT/figures/study" --widths="$(ls -d "$ROOT"/results/{study-explore,study,wide,gpu-science} 2> /dev/null | paste -sd,)" | sed '/^override /d'
  fi
  echo "figures in $ROOT/figures/$PRESET, claims and tables in $ROOT/results/$RESULTS"
}

if [ "${SLURM:-0}" = 1 ]; then  # one array task per run; `bash run_all.sh $PRESET` afterwards gathers and draws
  $PY presets.py sbatch "$PRESET" "$OUT" || exit 2
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
if [ -z "${PACK:-}" ] && [ "$NGPU" -gt 0 ] && [ -f results/gpu/bench.json ]; then  # the K bench.py found fastest on a GPU
  PACK=$($PY -c "import json; print(json.load(open('results/gpu/bench.json')).get('packed_best_k') or 1)")
fi
if [ "${PACK:-1}" -gt 1 ]; then  # training first, K runs per network, one pack at a time with every thread; then the jobs evaluate
  echo "run_all.sh $PRESET: training the unfinished runs $PACK at a time as one network (PACK=$PACK; logs: each run's log.txt)"
  $PY presets.py pack "$PRESET" "$OUT" "$PACK" "${THREADS:-0}" || { echo "error: packed training failed: nothing drawn; rerun to resume it" >&2; exit 1; }
fi
echo "run_all.sh $PRESET: $N runs, $JOBS at a time, $THREADS thread(s) each (0 = all); measured: $EXPECT; each run's progress: its log.txt"
children() {  # pgrep where procps is installed, else /proc
  pgrep -P "$1" 2> /dev/null || for f in /proc/[0-9]*/stat; do read -r p _ _ pp _ < "$f" 2> /dev/null && [ "$pp" = "$1" ] && echo "$p"; done
}
tree() { local c; for c in $(children "$1"); do tree "$c"; done; echo "$1"; }  # a process and its descendants
stop() {  # Ctrl-C or SIGTERM: every run and stage of the sweep ends (twice: a job started meanwhile goes too); resumable
  trap - INT TERM
  for _ in 1 2; do kill -TERM $(tree "$XPID") 2> /dev/null || true; sleep 0.5; done
  wait 2> /dev/null || true
  echo "run_all.sh $PRESET: stopped ($1): no run goes on; rerun the same command to resume (finished runs are kept)" >&2
  exit 130
}
XPID=
trap 'stop interrupt' INT
trap 'stop SIGTERM' TERM
SWEEP_T0=$(date +%s)
export SWEEP_LOG=$OUT/.finished SWEEP_N=$N SWEEP_T0
: > "$SWEEP_LOG"
SLOTS=()  # GNU xargs numbers its slots (a GPU per slot); others do not
if xargs --process-slot-var=SLOT true < /dev/null 2> /dev/null; then SLOTS=(--process-slot-var=SLOT); fi
xargs -P "$JOBS" -L 1 "${SLOTS[@]}" bash run_all.sh job < "$OUT/jobs.txt" & XPID=$!
HEARTBEAT=${HEARTBEAT:-60}; last=$SECONDS
while kill -0 $XPID 2> /dev/null; do  # every HEARTBEAT s: where each running run is (the last line of its progress bar)
  sleep 1
  if [ $((SECONDS - last)) -ge "$HEARTBEAT" ]; then
    last=$SECONDS
    while read -r _ dir _; do
      if [ ! -f "$dir/log.txt" ] || [ -f "$dir/DONE" ] || [ -f "$dir/FAILED" ]; then continue; fi
      if command -v flock > /dev/null && flock -n "$dir/.lock" true 2> /dev/null; then continue; fi  # not running now
      echo "  $(date +%H:%M) $(basename "$dir"): $(tail -c 600 "$dir/log.txt" | tr '\r' '\n' | grep -av '^\s*$' | tail -n 1 | cut -c1-110)"
    done < "$OUT/jobs.txt"
  fi
done
status=0; wait $XPID || status=$?
trap - INT TERM
echo "run_all.sh $PRESET: $(( $(date +%s) - SWEEP_T0 )) s"
undone=0  # figures and verdicts only from a complete sweep: a partial one would judge the old runs
while read -r _ dir _; do
  [ -f "$dir/DONE" ] && continue
  undone=$((undone + 1))
  if [ -f "$dir/FAILED" ]; then echo "failed: $dir: $(cat "$dir/FAILED")" >&2; else echo "not done: $dir (busy in another process, or stopped)" >&2; fi
done < "$OUT/jobs.txt"
if [ $status != 0 ] || [ $undone -gt 0 ]; then
  echo "error: $undone of $N runs are not done (listed above; logs in their log.txt), so no figures or verdicts were drawn; rerun when they are (one whose settings changed: delete its folder first)" >&2
  exit 1
fi
draw
