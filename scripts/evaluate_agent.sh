#!/usr/bin/env bash
# The evaluation of a trained agent for the games without a perfect solver here (Othello,
# Gomoku; issue 26), for one checkpoint of a run:
#   - arena: GAMES games (default 100) from random openings, colours swapped in pairs, of the
#     agent at SIMS simulations (default 200) over ROOT (default puct: its learned model)
#     against each of OPPONENTS (default: alphabeta:4 and rollout-mcts:1000);
#   - ablation: `ponder ablate` of the checkpoint with the recipe's [benchmark] (policy-only,
#     shallow and deep search over the learned model and over the rules), ABLATE_GAMES games
#     per pairing (default 40);
#   - curve: strength against training wall-clock from the run's kept checkpoints (which have
#     no learned model yet, so their searches use the rules), CURVE_GAMES games (default 20)
#     against each of CURVE_OPPONENTS (default: the first of OPPONENTS), one checkpoint per
#     CURVE_MINUTES (default 15); each match is kept in OUT_DIR/curve_matches and not replayed
#     (play it while the run trains: STEPS=curve, again when it has more checkpoints).
# Usage: scripts/evaluate_agent.sh EXPERIMENT CHECKPOINT OUT_DIR [RUN_DIR]
#   e.g. scripts/evaluate_agent.sh gomoku/g-v RUN/checkpoints/fitted.pt OUT RUN
# STEPS (default "arena ablation curve") picks what runs; a step's files already in OUT_DIR are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
EXPERIMENT=$1
CHECKPOINT=$2
OUT=$3
RUN_DIR=${4:-}
SIMS=${SIMS:-200}
ROOT=${ROOT:-puct}
GAMES=${GAMES:-100}
OPPONENTS=${OPPONENTS:-alphabeta:4 rollout-mcts:1000}
GAME=$("$PYTHON" -c '
import sys
from selfplay.experiments import load_experiment
game = load_experiment(sys.argv[1]).config.game
options = ",".join(f"{key}={value}" for key, value in sorted(game.options.items()))
print(game.name + (":" + options if options else ""))' "$EXPERIMENT")
mkdir -p "$OUT"
for step in ${STEPS:-arena ablation curve}; do
  case $step in
    arena)
      for opponent in $OPPONENTS; do
        file="$OUT/arena_$(echo "$opponent" | tr ':/+' '___').json"
        [ -s "$file" ] || "$PONDER" arena --game "$GAME" --a "agent:$CHECKPOINT:$SIMS:$ROOT" --b "$opponent" \
          --games "$GAMES" --seed 1 --json > "$file"
        echo "$opponent: $(cat "$file")"
      done
      ;;
    ablation)
      [ -s "$OUT/ablation/results.json" ] || "$PONDER" ablate --checkpoint "$CHECKPOINT" --experiment "$EXPERIMENT" \
        --games "${ABLATE_GAMES:-40}" --fidelity-games "${FIDELITY_GAMES:-20}" --out "$OUT/ablation"
      ;;
    curve)
      [ -n "$RUN_DIR" ] || { echo "the curve needs RUN_DIR" >&2; exit 2; }
      set -- $OPPONENTS
      curve_opponents=()
      for opponent in ${CURVE_OPPONENTS:-$1}; do curve_opponents+=(--opponent "$opponent"); done
      "$PYTHON" scripts/checkpoint_curve.py "$RUN_DIR/checkpoints" "${curve_opponents[@]}" --sims "$SIMS" \
        --games "${CURVE_GAMES:-20}" --every-minutes "${CURVE_MINUTES:-15}" \
        --cache "$OUT/curve_matches" --out "$OUT/curve.png" --markdown "$OUT/curve.md"
      ;;
    *) echo "unknown step $step (arena, ablation, curve)" >&2; exit 2 ;;
  esac
done
