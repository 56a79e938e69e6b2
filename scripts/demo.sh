#!/usr/bin/env bash
# `make demo`: the main job in about ten minutes on a 2-core CPU (the README says how long it took).
#   1. Tic-tac-toe trained from scratch for DEMO_MINUTES (default 5): a run learning to perfect
#      play, and its ablation, which shows why a perfect network leaves search nothing to add.
#   2. The shipped Connect Four agent (agent/pretrained/connect_four.pt) ablated on a ladder from
#      policy-only to 256 simulations against the baseline players, searching its learned model
#      and, beside it, the same network searching the real rules (what the learned model costs):
#      Elo per doubling with its interval and the Pons mistake rates.
# Each ablation prints its table and the sentence that reads it; games are cached in DEMO_DIR,
# so running it again replays nothing that finished.
# Usage: scripts/demo.sh [DEMO_DIR] [DEMO_MINUTES]; TTT_GAMES and TTT_SIMS size the tic-tac-toe
# ablation, C4_GAMES, C4_POSITIONS, C4_SIMS, C4_ROOTS, C4_OPPONENTS and C4_FIDELITY_GAMES the
# Connect Four one (the suite runs the same script cut down: tests/test_demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-$(dirname "$PONDER")/python}
DEMO_DIR=${1:-runs/demo}
DEMO_MINUTES=${2:-5}
C4_AGENT=${C4_AGENT:-agent/pretrained/connect_four.pt}
started=$(date +%s)

echo "== 1/2: tic-tac-toe from scratch (${DEMO_MINUTES} minutes), then what search adds to it"
if [ ! -f "$DEMO_DIR/checkpoints/latest.pt" ]; then
  "$PONDER" train --game tictactoe --out "$DEMO_DIR" --minutes "$DEMO_MINUTES" --seed 0
fi
ttt_sims=()
[ -n "${TTT_SIMS:-}" ] && ttt_sims=(--sims "$TTT_SIMS")
"$PONDER" ablate --checkpoint "$DEMO_DIR" --out "$DEMO_DIR/ablation" --games "${TTT_GAMES:-40}" --seed 0 "${ttt_sims[@]}"

echo
echo "== 2/2: the shipped Connect Four agent, policy-only to 256 simulations"
# over its learned model and the rules; an agent trained without an unroll has no learned model to search
default_roots=$("$PYTHON" -c "import sys; from agent.checkpoint import load_checkpoint
from agent.agent import trains_learned_model
ck = load_checkpoint(sys.argv[1]); print('puct,puct+rules' if trains_learned_model(ck.config, ck.extra) else 'puct+rules')" "$C4_AGENT")
"$PONDER" ablate --checkpoint "$C4_AGENT" --out "$DEMO_DIR/ablation_connect_four" \
  --sims "${C4_SIMS:-0,4,16,64,256}" --root "${C4_ROOTS:-$default_roots}" \
  --opponents "${C4_OPPONENTS:-random,heuristic,alphabeta:4}" --games "${C4_GAMES:-20}" \
  --shallow 4 --deep 256 --positions "${C4_POSITIONS:-100}" --fidelity-games "${C4_FIDELITY_GAMES:-10}" --seed 0

echo
echo "Done in $(( ($(date +%s) - started) / 60 )) min. Next:"
echo "  .venv/bin/ponder play --game connect_four          # play the agent in this terminal"
echo "  .venv/bin/tensorboard --logdir $DEMO_DIR/tb         # the tic-tac-toe run's curves"
echo "  $DEMO_DIR/ablation/report.md                        # tic-tac-toe's full report"
echo "  $DEMO_DIR/ablation_connect_four/report.md           # Connect Four's, with the model's fidelity"
