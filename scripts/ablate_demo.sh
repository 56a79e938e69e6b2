#!/usr/bin/env bash
# The ablation of `make demo`, runnable on its own: train tic-tac-toe for MINUTES (skipped when
# RUN_DIR already holds a checkpoint), then `ponder ablate` with the tic-tac-toe defaults
# (ladder 0..64, puct and gumbel, opponents random, heuristic, alphabeta:4, rollout-mcts:1000,
# perfect; 40 games per pairing). Finished games are cached in RUN_DIR/ablation, so running
# it again after an interruption replays nothing that finished.
# Usage: scripts/ablate_demo.sh [RUN_DIR] [MINUTES] [extra `ponder ablate` options...]
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
RUN_DIR=${1:-runs/demo}
MINUTES=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
if [ ! -f "$RUN_DIR/checkpoints/latest.pt" ]; then
    "$PONDER" train --game tictactoe --out "$RUN_DIR" --minutes "$MINUTES" --seed 0
fi
time "$PONDER" ablate --checkpoint "$RUN_DIR" --out "$RUN_DIR/ablation" --games 40 --seed 0 "$@"
echo "Report: $RUN_DIR/ablation/report.md"
