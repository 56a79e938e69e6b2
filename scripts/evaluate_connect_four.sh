#!/usr/bin/env bash
# The Connect Four agent evaluation of docs/notebook.md (issues 8, 23 and 30), for one checkpoint:
#   - 140 games (40 with seed 0, 100 with seed 1) from random openings at 200 simulations against
#     alphabeta:4, rollout-mcts:1000 and the reference agent that searches the real rules
#     (c4-o, agent/pretrained/connect_four_rules.pt, also at 200 simulations);
#   - every position of Pons' six sets searched with 200 simulations over the agent's learned
#     model (ROOT) and over the real rules (puct+rules): mistakes, and mistakes that hand the
#     opponent a win in one;
#   - the learned model's fidelity by unroll depth along the run's self-play games and from the
#     Pons positions (legal moves, wins and game ends against the rules; scripts/model_fidelity.py).
# Usage: scripts/evaluate_connect_four.sh CHECKPOINT [OUT_DIR] [RUN_DIR]
# ROOT (default puct) is the agent's root; STEPS (default "arena fidelity") picks what runs;
# POSITIONS samples that many positions per Pons set (default: all); SEEDS (default "0 1") the
# arena's seeds (seed 0 plays 40 games, seed 1 100).
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
CHECKPOINT=$1
OUT=${2:-eval}
RUN_DIR=${3:-}
ROOT=${ROOT:-puct}
REFERENCE=${REFERENCE:-agent/pretrained/connect_four_rules.pt}
mkdir -p "$OUT"
for step in ${STEPS:-arena fidelity}; do
  case $step in
    arena)
      for opponent in alphabeta:4 rollout-mcts:1000 "agent:$REFERENCE:200:puct+rules"; do
        name=$(echo "$opponent" | tr ':/+' '___')
        for seed in ${SEEDS:-0 1}; do
          set -- "$seed" "$([ "$seed" = 0 ] && echo 40 || echo 100)"
          file="$OUT/arena_${name}_seed$1.json"
          [ -s "$file" ] || "$PONDER" arena --game connect_four --a "agent:$CHECKPOINT:200:$ROOT" --b "$opponent" \
            --games "$2" --seed "$1" --json > "$file"
          echo "$opponent seed $1: $(cat "$file")"
        done
      done
      ;;
    fidelity)
      replay=()
      [ -n "$RUN_DIR" ] && replay=(--replay "$RUN_DIR")
      positions=()
      [ -n "${POSITIONS:-}" ] && positions=(--positions "$POSITIONS")
      "$PYTHON" scripts/model_fidelity.py "$CHECKPOINT" --games 40 "${replay[@]}" --pons --pons-sims 200 \
        --root "$ROOT" "${positions[@]}" --json "$OUT/fidelity.json" --markdown "$OUT/fidelity.md"
      ;;
    *) echo "unknown step $step (arena, fidelity)" >&2; exit 2 ;;
  esac
done
