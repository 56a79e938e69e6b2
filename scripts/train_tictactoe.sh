#!/usr/bin/env bash
# Train tic-tac-toe from scratch (the tuned preset, 5 minutes on a 2-core CPU), then measure
# it: optimal-move share over every reachable position and matches against `perfect`.
# Usage: scripts/train_tictactoe.sh [RUN_DIR] [MINUTES] [extra `ponder train` options...]
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
RUN_DIR=${1:-runs/tictactoe}
MINUTES=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
"$PONDER" train --game tictactoe --out "$RUN_DIR" --minutes "$MINUTES" --seed 0 "$@"
"$PONDER" ablate --checkpoint "$RUN_DIR" --out "$RUN_DIR/ablation" --games 40 --seed 0
echo "TensorBoard: .venv/bin/tensorboard --logdir $RUN_DIR/tb"
