#!/usr/bin/env bash
# Training curves for issue 8: a game from scratch with pUCT and Gumbel self-play at 8 and
# 32 simulations per move, then the evaluation score against wall-clock time.
#   tictactoe:    the optimal-move share with search (every reachable position), target 1.0.
#   connect_four: the score with search against alphabeta:4 (20 games per evaluation).
# Usage: scripts/curves.sh GAME [OUT_DIR] [MINUTES] [SEED] [-- TRAIN ARGS...]
#   TRAIN ARGS go to every run's `ponder train`, e.g. `-- --set search.model=rules` for the
#   Connect Four curves of docs/notebook.md (self-play over the real rules, as the shipped agent).
# Re-running skips the runs whose folders exist, so an interrupted sweep continues.
set -euo pipefail
cd "$(dirname "$0")/.."
game=${1:?usage: scripts/curves.sh GAME [OUT_DIR] [MINUTES] [SEED]}
out=${2:-runs/curves-$game}
seed=${4:-0}
extra=()
if [ $# -gt 4 ]; then
  [ "$5" = "--" ] || { echo "scripts/curves.sh: extra train arguments follow a '--' after SEED" >&2; exit 2; }
  extra=("${@:6}")
fi
ponder=${PONDER:-.venv/bin/ponder}
python=${PYTHON:-.venv/bin/python}
case "$game" in
  tictactoe)
    minutes=${3:-4}
    evaluation=(--set trainer.eval_minutes=0.5)
    curve=(--tag eval/optimal_moves/search --threshold 0.99 --threshold 1.0) ;;
  connect_four)
    minutes=${3:-30}
    evaluation=(--set trainer.eval_minutes=3 --set 'trainer.eval_opponents=["heuristic", "alphabeta:4"]')
    curve=(--tag eval/score_vs_alphabeta_4/search --threshold 0.5 --threshold 0.95) ;;
  *) echo "scripts/curves.sh: no curve defined for $game (tictactoe, connect_four)" >&2; exit 2 ;;
esac
runs=()
for root in puct gumbel; do
  for sims in 8 32; do
    dir="$out/$root-$sims"
    if [ ! -d "$dir" ]; then
      "$ponder" train --game "$game" --out "$dir" --minutes "$minutes" --seed "$seed" \
        --root "$root" --sims "$sims" "${evaluation[@]}" "${extra[@]}" --quiet
    fi
    runs+=("$root, $sims sims=$dir")
  done
done
"$python" scripts/training_curves.py "${runs[@]}" "${curve[@]}" --out "$out/curves.png" --markdown "$out/curves.md"
