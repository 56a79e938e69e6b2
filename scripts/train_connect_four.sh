#!/usr/bin/env bash
# Connect Four from scratch, the procedure of docs/notebook.md (which says how much of it the
# measured run got): the preset for 115 minutes of training (one chunk by default; more
# chunks resume the same run folder, e.g. `RUN 4 29`), keeping every 5-minute checkpoint, then
#   - the ablation report (policy-only, shallow and deep search; Elo; Pons accuracy), with
#     pUCT and Gumbel over the learned model and pUCT over the real rules (puct+rules: what
#     the learned model costs the search),
#   - the strength curve: each 15-minute checkpoint at 200 sims against heuristic and
#     alphabeta:4 (scripts/checkpoint_curve.py), searching as the run trained (over the
#     rules for a run with search.model=rules).
# Usage: scripts/train_connect_four.sh [RUN_DIR] [CHUNKS] [MINUTES_PER_CHUNK] [extra train options...]
# ABLATE_ROOTS (default puct,gumbel,puct+rules) names the ablation's roots: a run trained without an
# unroll (loss.unroll_steps=0) has no trained learned model, so give it puct+rules,gumbel+rules.
# Re-running continues the run folder; the ablation reuses its cached games.
# EXPERIMENT=connect_four/NAME starts from that recipe (`ponder experiments`) instead of the preset:
#   EXPERIMENT=connect_four/c4-p scripts/train_connect_four.sh runs/c4-p 1 118   # the learned-model agent
#   EXPERIMENT=connect_four/c4-o ABLATE_ROOTS=puct+rules,gumbel+rules scripts/train_connect_four.sh runs/c4-o 1 118
# The shipped agent is `c4-v` (`ponder train --experiment connect_four/c4-v --out RUN --seed 1`, which
# fits its learned model itself; docs/results.md). The rules reference, agent/pretrained/connect_four_rules.pt
# (`c4-o`: c4-m's recipe with AlphaZero's loss, no unroll of the learned model,
# and two actors; one chunk of 118 minutes; its ablation over the rules only):
#   ABLATE_ROOTS=puct+rules,gumbel+rules scripts/train_connect_four.sh runs/c4-o 1 118 --set search.model=rules \
#     --set loss.unroll_steps=0 --set loss.consistency=false --set actor.num_actors=2 \
#     --set learner.precision=bf16 --set trainer.samples_per_position=8 --set learner.decay_steps=24000 \
#     --set replay.root_value_weight=0.5 --set actor.random_opening_fraction=0.15 --set actor.random_opening_moves=4
# The agent shipped before it (`c4-m`: c4-j's recipe with the mixed value target and 15% of games from 1-4
# random plies; one chunk of 118 minutes):
#   scripts/train_connect_four.sh runs/c4-m 1 118 --set search.model=rules --set learner.precision=bf16 \
#     --set trainer.samples_per_position=8 --set learner.decay_steps=18000 --set replay.root_value_weight=0.5 \
#     --set actor.random_opening_fraction=0.15 --set actor.random_opening_moves=4
# c4-m with c4-k's openings (`c4-n`: 0.97 vs alphabeta:4 and 0.95 vs rollout-mcts:1000, but
# Beginning-Hard 13.9% and 0.26 against c4-m; docs/notebook.md):
#   scripts/train_connect_four.sh runs/c4-n 1 118 --set search.model=rules --set learner.precision=bf16 \
#     --set trainer.samples_per_position=8 --set learner.decay_steps=18000 --set replay.root_value_weight=0.5 \
#     --set actor.random_opening_fraction=0.25 --set actor.random_opening_moves=6
# The agent shipped before c4-m (`c4-j`: self-play over the real rules, bf16 learner, 8 samples per
# position; one chunk of 118 minutes):
#   scripts/train_connect_four.sh runs/c4-j 1 118 --set search.model=rules --set learner.precision=bf16 \
#     --set trainer.samples_per_position=8 --set learner.decay_steps=18000
# The broader-openings run (`c4-k`: 0.95 vs alphabeta:4 but 0.34 against c4-j; docs/notebook.md):
#   scripts/train_connect_four.sh runs/c4-k 1 118 --set search.model=rules --set learner.precision=bf16 \
#     --set trainer.samples_per_position=8 --set learner.decay_steps=18000 \
#     --set actor.random_opening_fraction=0.25 --set actor.random_opening_moves=6
# The mixed value target (`c4-l`: 0.5 outcome + 0.5 search value; Middle-Medium 5.5%, 0.36 against c4-j):
#   scripts/train_connect_four.sh runs/c4-l 1 118 --set search.model=rules --set learner.precision=bf16 \
#     --set trainer.samples_per_position=8 --set learner.decay_steps=18000 --set replay.root_value_weight=0.5
# The agent shipped before those (`c4-h`, self-play over the real rules, 2 hours; it ran as 20 + 100 minutes):
#   scripts/train_connect_four.sh runs/c4-h 2 60 --set search.model=rules
# The preset's own run (`c4-g`, 2 x 60 minutes): scripts/train_connect_four.sh runs/c4-g 2 60
# An earlier agent (`c4-f`, before the consistency loss was in the preset):
#   scripts/train_connect_four.sh runs/c4-f 1 90 --set loss.consistency=false
# c4-m's recipe on a GPU machine (one H200, 16 cores, 7 minutes: what the 15-minute lease allowed):
#   CURVE_EVERY_MINUTES=0 scripts/train_connect_four.sh runs/c4-gpu2 1 7 --device cuda --actors 14 \
#     --set trainer.checkpoint_minutes=0.9 --set search.model=rules --set learner.precision=bf16 \
#     --set trainer.samples_per_position=8 --set learner.decay_steps=18000 --set replay.root_value_weight=0.5 \
#     --set actor.random_opening_fraction=0.15 --set actor.random_opening_moves=4
# The first GPU run of docs/notebook.md (one H100, 16 cores; the curve every 1.4-minute checkpoint;
# the last settings give back the preset it ran with, before discount 0.98 and consistency):
#   CURVE_EVERY_MINUTES=1 scripts/train_connect_four.sh runs/c4-gpu 1 8.6 --device cuda --actors 14 \
#     --set trainer.checkpoint_minutes=1.4 --set learner.decay_steps=20000 \
#     --set actor.temperature_moves=12 --set replay.discount=1 --set search.discount=1 \
#     --set loss.consistency=false
set -euo pipefail
cd "$(dirname "$0")/.."
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
RUN_DIR=${1:-runs/connect_four}
CHUNKS=${2:-1}
MINUTES=${3:-115}
shift $(( $# > 3 ? 3 : $# ))
for chunk in $(seq 1 "$CHUNKS"); do
  if [ -f "$RUN_DIR/config.toml" ]; then
    "$PONDER" train --out "$RUN_DIR" --resume --minutes "$MINUTES" "$@"
  elif [ -n "${EXPERIMENT:-}" ]; then
    "$PONDER" train --experiment "$EXPERIMENT" --out "$RUN_DIR" --minutes "$MINUTES" "$@"
  else
    "$PONDER" train --game connect_four --out "$RUN_DIR" --minutes "$MINUTES" --seed 0 \
      --set trainer.keep_checkpoints=1000 "$@"
  fi
done
"$PONDER" ablate --checkpoint "$RUN_DIR" --out "$RUN_DIR/ablation" --sims 0,8,32,200 --root "${ABLATE_ROOTS:-puct,gumbel,puct+rules}" \
  --opponents random,heuristic,alphabeta:4,rollout-mcts:1000 --games 20 --shallow 8 --deep 200 \
  --fidelity-games 20 --positions 300 --seed 0
"$PYTHON" scripts/checkpoint_curve.py "$RUN_DIR/checkpoints" --opponent heuristic --opponent alphabeta:4 \
  --sims 200 --games 20 --every-minutes "${CURVE_EVERY_MINUTES:-15}" --out "$RUN_DIR/strength_curve.png" --markdown "$RUN_DIR/strength_curve.md"
echo "TensorBoard: .venv/bin/tensorboard --logdir $RUN_DIR/tb"
