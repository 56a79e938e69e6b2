"""`UnrollBatch`: B sampled positions with their K-step unroll targets, the one batch type.

The replay builds it with numpy arrays (`selfplay.replay.Replay.make_batch`); the learner
moves it to torch with `UnrollBatch.map` and hands it to the loss (`agent.losses`). One
definition, so that a new target is one field here, filled in the replay and read in the
loss, with nothing to bridge between two classes. No torch import: the replay and the Ray
hosts that only sample do not pay for it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class UnrollBatch:
    """B windows of K steps from the replay (numpy arrays, or torch tensors after `map`).

    observations:  float32 [B, C, H, W] at position t.
    actions:       int64 [B, K], actions t..t+K-1 (uniform random past the game end).
    target_value:  float32 [B, K+1], value target at t+k, view of the player to move (0 past the end).
    target_reward: float32 [B, K+1], reward of the action into t+k, view of the mover
                   (index 0 is unused, 0).
    target_policy: float32 [B, K+1, A], search policy at t+k (zeros where there is none:
                   at the terminal position and past it, where the policy loss is then 0).
    policy_mask:   float32 [B, K+1], 1 where t+k is a real non-terminal position.
    value_mask:    float32 [B, K+1], 1 where the loss counts step k: from the replay, where
                   the value and reward targets are defined (t+k <= T); the learner widens it
                   to every step with absorbing targets (zeros past the end are then targets).
    weights:       float32 [B], importance-sampling weights (1 for uniform sampling), or
                   None once the learner found them uniform (the loss then skips them).
    game_ids:      int64 [B] and positions: int64 [B], where each row came from.
    target_observations: float32 [B, K, C, H, W] planes at t+1..t+K (zeros where t+k is not
                   a stored position), or None when the replay was not asked for them (only
                   the consistency loss needs them; it counts ``policy_mask[:, 1:]``).
    target_legal:  float32 [B, K+1, A] legal moves at t+k, and
    target_ends:   int64 [B, K+1, A] each action's `envs.game.END_*` code at t+k (-1: illegal,
                   no label),
    action_mask:   float32 [B, K+1] 1 where t+k is a stored position with recorded labels:
                   the action heads' targets, or None when the replay was not asked for them.
    branch_action: int64 [B, K+1] the recorded other move at t+k (0 where none), and
    branch_legal, branch_ends: [B, K+1, A] the labels of the position it leads to, and
    branch_mask:   float32 [B, K+1] 1 where they exist; None with the action targets.
    """

    observations: Any
    actions: Any
    target_value: Any
    target_reward: Any
    target_policy: Any
    policy_mask: Any
    value_mask: Any
    weights: Any
    game_ids: Any
    positions: Any
    target_observations: Any = None
    target_legal: Any = None
    target_ends: Any = None
    action_mask: Any = None
    branch_action: Any = None
    branch_legal: Any = None
    branch_ends: Any = None
    branch_mask: Any = None

    def map(self, convert: Callable[[Any], Any]) -> "UnrollBatch":
        """The same batch with ``convert`` applied to every array present (None stays None)."""
        return UnrollBatch(**{field.name: None if (value := getattr(self, field.name)) is None else convert(value)
                              for field in dataclasses.fields(self)})

    def replace(self, **changes: Any) -> "UnrollBatch":
        return dataclasses.replace(self, **changes)
