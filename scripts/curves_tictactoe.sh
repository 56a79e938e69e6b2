#!/usr/bin/env bash
# Training curves for issue 8: tic-tac-toe from scratch with pUCT and Gumbel self-play at
# 8 and 32 simulations per move, then the optimal-move share against wall-clock time.
# Usage: scripts/curves_tictactoe.sh [OUT_DIR] [MINUTES] [SEED]
set -euo pipefail
out=${1:-runs/curves-tictactoe}
minutes=${2:-4}
seed=${3:-0}
ponder=${PONDER:-.venv/bin/ponder}
python=${PYTHON:-.venv/bin/python}
runs=()
for root in puct gumbel; do
  for sims in 8 32; do
    dir="$out/$root-$sims"
    if [ ! -d "$dir" ]; then
      "$ponder" train --game tictactoe --out "$dir" --minutes "$minutes" --seed "$seed" \
        --root "$root" --sims "$sims" --set trainer.eval_minutes=0.5 --quiet
    fi
    runs+=("$root, $sims sims=$dir")
  done
done
"$python" scripts/training_curves.py "${runs[@]}" --tag eval/optimal_moves/search \
  --threshold 0.99 --threshold 1.0 --out "$out/curves.png" --markdown "$out/curves.md"
