#!/usr/bin/env bash
# Train Connect Four from scratch in resumable chunks (default: 4 x 30 minutes = 2 hours),
# then run the ablation report. Re-running continues the same run folder.
# Usage: scripts/train_connect_four.sh [RUN_DIR] [CHUNKS] [MINUTES_PER_CHUNK] [extra options...]
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
RUN_DIR=${1:-runs/connect_four}
CHUNKS=${2:-4}
MINUTES=${3:-30}
shift $(( $# > 3 ? 3 : $# ))
for chunk in $(seq 1 "$CHUNKS"); do
  if [ -f "$RUN_DIR/config.toml" ]; then
    "$PONDER" train --out "$RUN_DIR" --resume --minutes "$MINUTES" "$@"
  else
    "$PONDER" train --game connect_four --out "$RUN_DIR" --minutes "$MINUTES" --seed 0 "$@"
  fi
done
"$PONDER" ablate --checkpoint "$RUN_DIR" --out "$RUN_DIR/ablation" --sims 0,8,50,200 --games 40 --seed 0
echo "TensorBoard: .venv/bin/tensorboard --logdir $RUN_DIR/tb"
