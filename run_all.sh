#!/usr/bin/env bash
# The whole pipeline on one dataset (d = 1, sigma = 1): data -> train -> sample -> analyze, printing the
# metrics table (accuracy and R^2 per checkpoint).
#   bash run_all.sh          # 'paper' when CUDA is present, else 'cpu'
#   bash run_all.sh tiny     # smoke run, about 75 s on 2 CPU cores
#   bash run_all.sh cpu      # the CPU preset (README: what it shows, measured wall time)
#   bash run_all.sh paper    # the paper's model and schedule (GPU scale: 320,000 steps)
# Rerunning resumes training and skips checkpoints whose samples already exist.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
PRESET=${1:-auto}
if [ "$PRESET" = auto ]; then
  PRESET=$($PY -c "import torch; print('paper' if torch.cuda.is_available() else 'cpu')")
fi
case "$PRESET" in
  tiny)  DATA=(--dx=4.0 --dy=4.0)
         TRAIN=(--width=8 --attn_res=4 --pe_dim=16 --steps=40 --ckpt_every=20 --batch_size=16)
         SAMPLE=(--n_samples=50 --sample_steps=10) ;;
  cpu)   DATA=(--dx=1.0 --dy=1.0)
         TRAIN=(--width=8 --attn_res=8,4 --lr=2e-3 --warmup=100 --ema=0.999 --batch_size=64 --steps=8000 --ckpt_every=1000)
         SAMPLE=(--n_samples=500 --sampler=ddim --eta=1.0 --sample_steps=100) ;;
  paper) DATA=(--dx=1.0 --dy=1.0)
         TRAIN=()
         SAMPLE=() ;;
  *) echo "error: unknown preset '$PRESET': allowed are tiny, cpu, paper" >&2; exit 2 ;;
esac
OUT=out/$PRESET/main
t0=$SECONDS
$PY make_data.py --out_dir=$OUT "${DATA[@]}"
$PY train.py --out_dir=$OUT "${TRAIN[@]}"
$PY sample.py --out_dir=$OUT "${SAMPLE[@]}"
$PY analyze.py --out_dir=$OUT
$PY plot_figures.py --out_dir=$OUT --fig_dir=figures/$PRESET
echo "run_all.sh $PRESET: $((SECONDS - t0)) s, results in $OUT"
