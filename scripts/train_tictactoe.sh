#!/usr/bin/env bash
# Train tic-tac-toe from scratch (the tuned preset, 5 minutes on a 2-core CPU), then measure
# it: optimal-move share over every reachable position (policy alone and 25-sim search),
# 100 games against `perfect`, and the ablation report.
# Usage: scripts/train_tictactoe.sh [RUN_DIR] [MINUTES] [SEED] [extra `ponder train` options...]
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
RUN_DIR=${1:-runs/tictactoe}
MINUTES=${2:-5}
SEED=${3:-0}
shift $(( $# > 3 ? 3 : $# ))
echo "load before training: $(uptime)"
"$PONDER" train --game tictactoe --out "$RUN_DIR" --minutes "$MINUTES" --seed "$SEED" "$@"
echo "load after training: $(uptime)"
"$PYTHON" scripts/check_tictactoe.py "$RUN_DIR" --sims 0,25 --arena 100 --detail
"$PONDER" arena --game tictactoe --a "agent:$RUN_DIR:25" --b perfect --games 100 --json
if [ "${SKIP_ABLATION:-0}" != 1 ]; then
    "$PONDER" ablate --checkpoint "$RUN_DIR" --out "$RUN_DIR/ablation" --games 40 --seed 0
fi
echo "TensorBoard: .venv/bin/tensorboard --logdir $RUN_DIR/tb"
