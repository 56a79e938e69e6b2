"""The K-step unrolled MuZero training loss.

From the observation at the start of a sampled window, h gives the root hidden state; g is
then applied K times with the actions actually played. At every step k = 0..K the policy
is fitted to the search policy (visit distribution, or Gumbel's improved policy), the value
to the value target, and at k >= 1 the reward of the transition into step k. As in the
paper, the recurrent steps' losses are scaled by 1/K and the gradient flowing back into
the hidden state is halved at each dynamics step, so that the unroll neither dominates the
representation nor explodes. Weight decay is the optimizer's job (see `LossConfig`).

Sign conventions follow docs/architecture.md (Conventions): values from the view of the player to move at that
step, rewards from the view of the player who took the action.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from agent.batch import UnrollBatch
from agent.config import LossConfig
from agent.networks import MuZeroNetwork
from agent.support import scalar_to_probabilities


@dataclass(frozen=True)
class LossResult:
    """The loss of one batch.

    ``total`` is the scalar to backpropagate; ``parts`` holds floats for TensorBoard
    (``policy``, ``value``, ``reward``, ``consistency``, ``legal``, ``end``, ``total``, each
    a batch mean);
    ``value_errors`` ``[N]`` is |predicted root value - target| (detached), the priority
    of each sample in prioritised replay.
    """

    total: torch.Tensor
    parts: dict[str, float]
    value_errors: torch.Tensor


def scale_gradient(tensor: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``scale`` in the backward pass."""
    return tensor * scale + tensor.detach() * (1.0 - scale)


def _scalar_loss(network_support: int, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample loss ``[N]``: squared error on tanh scalars, cross-entropy on a support."""
    if network_support:
        target_probabilities = scalar_to_probabilities(target, network_support)
        return -(target_probabilities * F.log_softmax(raw, dim=-1)).sum(dim=-1)
    return (torch.tanh(raw.squeeze(-1)) - target) ** 2


def _policy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy ``[N]`` of logits to a target distribution."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1)


def _consistency_loss(network: MuZeroNetwork, predicted_hidden: torch.Tensor,
                      target_planes: torch.Tensor) -> torch.Tensor:
    """Per-sample negative cosine similarity ``[N]`` between the unrolled hidden state (through
    the predictor) and the representation of the real next position (stop-gradient)."""
    with torch.no_grad():
        target = network.project(network.represent(target_planes), with_predictor=False)
    online = network.project(predicted_hidden, with_predictor=True)
    return -F.cosine_similarity(online, target, dim=-1)


def action_head_terms(legal_logits: torch.Tensor, end_logits: torch.Tensor, legal_target: torch.Tensor,
                      end_codes: torch.Tensor, positive_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (legality, game end) losses ``[R]`` of the action heads' outputs
    (``legal_logits [R, A]``, ``end_logits [R, A, classes]``): binary cross-entropy of every
    action's legality against ``legal_target [R, A]``, and cross-entropy of the end class
    against ``end_codes [R, A]`` (`envs.game.END_*`; -1: no label, e.g. an illegal move)
    averaged over the labelled actions, an action that ends the game counting
    ``positive_weight`` times. The one definition of the heads' loss: self-play training
    (`compute_losses`) and the model fit (`agent.model_fit`) both use it."""
    legal = F.binary_cross_entropy_with_logits(legal_logits.float(), legal_target.float(),
                                               reduction="none").mean(dim=-1)
    labelled = (end_codes >= 0).float()
    per_action = F.cross_entropy(end_logits.flatten(0, 1).float(), end_codes.clamp(min=0).flatten(),
                                 reduction="none").view_as(labelled)
    weights = labelled * torch.where(end_codes > 0, positive_weight, 1.0).float()
    end = (per_action * weights).sum(dim=-1) / labelled.sum(dim=-1).clamp(min=1.0)
    return legal, end


def _action_losses(network: MuZeroNetwork, hidden: torch.Tensor, batch: UnrollBatch, step: int,
                   rows: int, positive_weight: float = 1.0, branch: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """`action_head_terms` of the heads at unroll ``step`` of ``batch``, zero where the step
    has no labels (``action_mask``). With ``branch`` the labels are those of the branch position."""
    legal_logits, end_logits = network.action_heads(hidden)
    masks, targets, codes = ((batch.branch_mask, batch.branch_legal, batch.branch_ends) if branch
                             else (batch.action_mask, batch.target_legal, batch.target_ends))
    legal, end = action_head_terms(legal_logits, end_logits, targets[:rows, step], codes[:rows, step],
                                   positive_weight)
    mask = masks[:rows, step].float()
    return legal * mask, end * mask


def _pad_rows(values: torch.Tensor, rows: int) -> torch.Tensor:
    """``values [M]`` of the unrolled rows as ``[rows]``, zero for the rows not unrolled."""
    return values if values.shape[0] == rows else F.pad(values, (0, rows - values.shape[0]))


def compute_losses(network: MuZeroNetwork, batch: UnrollBatch, config: LossConfig | None = None) -> LossResult:
    """Unroll ``network`` over ``batch`` and return the weighted loss, its parts and value errors.

    With ``config.unroll_fraction`` < 1 only the first ``ceil(fraction * N)`` rows are
    unrolled (the replay samples rows at random, so they are a random subset); their
    recurrent losses are scaled by N / M, so that each unroll step keeps the weight it has
    with the whole batch unrolled while g costs a fraction of it.
    """
    config = config or LossConfig()
    steps = batch.actions.shape[1]
    for name in ("target_policy", "target_value", "target_reward", "value_mask"):
        if getattr(batch, name).shape[1] != steps + 1:
            raise ValueError(f"targets must cover K+1 = {steps + 1} steps, got {name} "
                             f"{tuple(getattr(batch, name).shape)}")
    if config.consistency and batch.target_observations is None:
        raise ValueError("the consistency loss needs batch.target_observations")
    masks = batch.value_mask.to(batch.target_value.dtype)
    value_support = network.config.value_support
    reward_support = network.config.reward_support

    heads = network.action_heads is not None
    if heads and (batch.target_legal is None or batch.target_ends is None or batch.action_mask is None):
        raise ValueError("a network with action heads needs batch.target_legal, target_ends and action_mask")
    branches = min(config.branch_steps, steps + 1) if heads and batch.branch_action is not None else 0
    rows = batch.observations.shape[0]

    hidden = network.represent(batch.observations)
    logits, raw_value = network.predict(hidden)
    policy_loss = _policy_loss(logits, batch.target_policy[:, 0]) * masks[:, 0]
    value_loss = _scalar_loss(value_support, raw_value, batch.target_value[:, 0]) * masks[:, 0]
    value_errors = (network.value_to_scalar(raw_value.detach()) - batch.target_value[:, 0]).abs()
    reward_loss = torch.zeros_like(value_loss)
    consistency_loss = torch.zeros_like(value_loss)
    legal_loss = torch.zeros_like(value_loss)
    end_loss = torch.zeros_like(value_loss)
    if heads:
        read = hidden.detach() if config.action_heads_detached else hidden
        legal_loss, end_loss = _action_losses(network, read, batch, 0, rows, config.end_positive_weight)

    unrolled = min(rows, math.ceil(config.unroll_fraction * rows)) if steps else 0
    step_scale = (1.0 / steps if steps else 1.0) * (rows / unrolled if unrolled else 1.0)
    hidden = hidden[:unrolled]
    recurrent = {name: torch.zeros(unrolled, device=value_loss.device, dtype=value_loss.dtype)
                 for name in ("policy", "value", "reward", "consistency", "legal", "end")}

    def step_aside(state: torch.Tensor, step: int) -> None:
        """One step of g with the branch move at ``step``, the heads fitted to where it leads."""
        aside, _ = network.dynamics(scale_gradient(state, config.hidden_gradient_scale),
                                    batch.branch_action[:unrolled, step])
        legal_term, end_term = _action_losses(network, aside, batch, step, unrolled, config.end_positive_weight,
                                              branch=True)
        recurrent["legal"] = recurrent["legal"] + scale_gradient(legal_term, step_scale)
        recurrent["end"] = recurrent["end"] + scale_gradient(end_term, step_scale)

    if branches and unrolled:
        step_aside(hidden, 0)
    for step in range(steps):
        hidden = scale_gradient(hidden, config.hidden_gradient_scale)
        hidden, raw_reward = network.dynamics(hidden, batch.actions[:unrolled, step])
        logits, raw_value = network.predict(hidden)
        mask = masks[:unrolled, step + 1]
        terms = {
            "policy": _policy_loss(logits, batch.target_policy[:unrolled, step + 1]) * mask,
            "value": _scalar_loss(value_support, raw_value, batch.target_value[:unrolled, step + 1]) * mask,
            "reward": _scalar_loss(reward_support, raw_reward, batch.target_reward[:unrolled, step + 1]) * mask,
        }
        if config.consistency:
            consistency_mask = batch.policy_mask[:unrolled, step + 1].to(mask.dtype)
            terms["consistency"] = _consistency_loss(
                network, hidden, batch.target_observations[:unrolled, step]) * consistency_mask
        if heads:
            terms["legal"], terms["end"] = _action_losses(network, hidden, batch, step + 1, unrolled,
                                                          config.end_positive_weight)
        for name, term in terms.items():
            recurrent[name] = recurrent[name] + scale_gradient(term, step_scale)
        if step + 1 < branches:
            step_aside(hidden, step + 1)
    policy_loss = policy_loss + _pad_rows(recurrent["policy"], rows)
    value_loss = value_loss + _pad_rows(recurrent["value"], rows)
    reward_loss = reward_loss + _pad_rows(recurrent["reward"], rows)
    consistency_loss = consistency_loss + _pad_rows(recurrent["consistency"], rows)
    legal_loss = legal_loss + _pad_rows(recurrent["legal"], rows)
    end_loss = end_loss + _pad_rows(recurrent["end"], rows)

    per_sample = (config.policy_weight * policy_loss + config.value_weight * value_loss
                  + config.reward_weight * reward_loss)
    if config.consistency:
        per_sample = per_sample + config.consistency_weight * consistency_loss
    if heads:
        per_sample = per_sample + config.legal_weight * legal_loss + config.end_weight * end_loss
    if batch.weights is not None:
        per_sample = per_sample * batch.weights
    total = per_sample.mean()
    parts = {
        "policy": float(policy_loss.detach().mean()),
        "value": float(value_loss.detach().mean()),
        "reward": float(reward_loss.detach().mean()),
        "consistency": float(consistency_loss.detach().mean()),
        "legal": float(legal_loss.detach().mean()),
        "end": float(end_loss.detach().mean()),
        "total": float(total.detach()),
    }
    return LossResult(total=total, parts=parts, value_errors=value_errors)


def unrolled_loss(network: MuZeroNetwork, batch: UnrollBatch, config: LossConfig | None = None
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """The architecture.md entry point: (total loss tensor, dict of float parts)."""
    result = compute_losses(network, batch, config)
    return result.total, result.parts
