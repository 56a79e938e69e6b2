"""Fitting the learned model to a trained network: g learns to step h's hidden states.

An agent trained over the rules (``loss.unroll_steps = 0``, `c4-o`) has a strong h and f and
an untrained g. This module trains g, the reward head and the action heads so that
searching the learned model reproduces what searching the rules would see, while h and f
stay frozen: unrolled from h(s) along actions a1..aK, g's k-th hidden state is fitted to
h of the real k-th position (a squared error on the [0, 1]-scaled hidden states, the
EfficientZero consistency idea without a projection), f of it to f of that real hidden state
(policy by KL, value by squared error), the reward to the real reward, and the action heads
to the rules' labels of every action there. Because h and f do not move, nothing that makes
the network strong is traded for the model: the model's only job is to emulate h.

The paths are not only the games played: a sampler (`selfplay.model_fit`) branches off them
with moves drawn from f's prior and uniformly, the positions a search expands. The
search later stops on the action heads' game ends, so steps past the end of a game are
masked out (``alive``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from agent.losses import action_head_terms
from envs.game import END_DRAW, END_LOSS, END_NONE, END_WIN
from agent.networks import MuZeroNetwork

# the parts of the network the fit trains; everything else (h, f) is frozen
MODEL_MODULES = ("dynamics_conv", "dynamics_norm", "dynamics_blocks", "board_dynamics", "reward_head", "action_heads",
                 "board_ends")


@dataclass(frozen=True)
class ModelFitBatch:
    """Real positions along ``K``-step action paths, ``B`` paths (float32 unless said).

    planes   ``[K+1, B, C, H, W]`` observation of each position (zeros past a game's end);
    actions  int64 ``[K, B]`` the action taken from position k;
    alive    ``[K+1, B]`` 1 where position k exists and the game is not over there;
    rewards  ``[K, B]`` reward of action k to the player who took it (-1, 0, 1);
    legal    ``[K+1, B, A]`` the rules' legal moves at position k (zeros where not alive);
    ends     int64 ``[K+1, B, A]`` each action's `END_*` code at position k;
    end_planes ``[M, C, H, W]`` and end_classes int64 ``[M]``: positions one move after stored
             ones and where games ended, for the end detector (None: only the paths').
    """

    planes: torch.Tensor
    actions: torch.Tensor
    alive: torch.Tensor
    rewards: torch.Tensor
    legal: torch.Tensor
    ends: torch.Tensor
    end_planes: torch.Tensor | None = None
    end_classes: torch.Tensor | None = None

    @property
    def unroll_steps(self) -> int:
        return int(self.actions.shape[0])


@dataclass(frozen=True)
class ModelFitWeights:
    """Weights of the fit's loss terms (the policy, value and reward terms weigh 1)."""

    hidden: float = 10.0           # squared error of [0, 1] hidden states, about 0.01 once fitted
    heads: float = 1.0
    end_positive: float = 10.0     # an action that ends the game against one that does not


def model_parameters(network: MuZeroNetwork) -> list[torch.nn.Parameter]:
    """The parameters the fit trains (g, reward head, action heads); freezes all the others."""
    if network.action_heads is None:
        raise ValueError("fitting the model needs a network with action heads")
    trained = []
    for name, parameter in network.named_parameters():
        train = name.split(".")[0] in MODEL_MODULES
        parameter.requires_grad_(train)
        if train:
            trained.append(parameter)
    return trained


def set_fit_modes(network: MuZeroNetwork) -> None:
    """h and f in eval mode (their BatchNorm statistics must not move), the model in train mode."""
    network.eval()
    for name in MODEL_MODULES:
        module = getattr(network, name)
        if module is not None:
            module.train()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def prior_kl(real_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``KL(softmax(real_logits) || softmax(logits))`` per row ``[R]``: how far the prior f reads
    from a modelled hidden state is from the one it reads from the real position (in float32,
    or in the logits' precision when that is float64)."""
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    real_log = F.log_softmax(real_logits.to(dtype), -1)
    return (real_log.exp() * (real_log - F.log_softmax(logits.to(dtype), -1))).sum(-1)


def _heads_loss(network: MuZeroNetwork, hidden: torch.Tensor, legal: torch.Tensor, ends: torch.Tensor,
                mask: torch.Tensor, end_positive: float) -> torch.Tensor:
    """The action heads' loss (`agent.losses.action_head_terms`: the ends of the legal moves
    are labelled) averaged over the alive rows."""
    legal_logits, end_logits = network.action_heads(hidden)
    codes = torch.where(legal > 0, ends.long(), -1)
    legal_term, end_term = action_head_terms(legal_logits, end_logits, legal, codes, end_positive)
    return _masked_mean(legal_term + end_term, mask)


def position_end_classes(batch: ModelFitBatch, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(`END_*` class ``[B]`` of position ``step`` for the player who moved into it, mask ``[B]``
    where that position exists): a position that exists but is not alive ended the game there,
    won or lost by the move into it as its reward says, else drawn."""
    if step == 0:
        return torch.full_like(batch.actions[0], END_NONE), batch.alive[0]
    exists = batch.alive[step - 1]
    ended = (exists > 0) & (batch.alive[step] == 0)
    reward = batch.rewards[step - 1]
    result = torch.where(reward > 0, END_WIN, torch.where(reward < 0, END_LOSS, END_DRAW))
    return torch.where(ended, result, END_NONE).long(), exists


def _board_ends_loss(network: MuZeroNetwork, planes: torch.Tensor, classes: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the end detector on ``planes`` averaged over the ``mask`` rows."""
    per_row = F.cross_entropy(network.board_ends(planes).float(), classes, reduction="none")
    return (per_row * mask).sum() / mask.sum().clamp(min=1.0)


def model_fit_loss(network: MuZeroNetwork, batch: ModelFitBatch, weights: ModelFitWeights = ModelFitWeights(),
                   fit_detector: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """(loss to backpropagate, float parts by name) of one batch: `board_fit_loss` for the
    board model, `latent_fit_loss` for MuZero's. ``fit_detector`` False leaves the end
    detector out (it trains on its own, `selfplay.end_detector`)."""
    if network.board_model:
        return board_fit_loss(network, batch, weights, fit_detector)
    return latent_fit_loss(network, batch, weights)


def board_fit_loss(network: MuZeroNetwork, batch: ModelFitBatch, weights: ModelFitWeights = ModelFitWeights(),
                   fit_detector: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """The board model's fit (h and f frozen): g's predicted planes against the real ones
    (binary cross-entropy per cell, unrolled on its own predictions, so that it learns to carry
    its errors); the reward and action heads on h of the real positions, which is what they
    read inside the search once g predicts the planes (`board_fit_fidelity` measures that)."""
    steps, paths = batch.unroll_steps, batch.actions.shape[1]
    with torch.no_grad():
        network.eval()
        real_hidden = network.represent(batch.planes.flatten(0, 1))
        real_hidden = real_hidden.view(steps + 1, paths, *real_hidden.shape[1:])
    set_fit_modes(network)
    heads = _heads_loss(network, real_hidden[0], batch.legal[0], batch.ends[0], batch.alive[0], weights.end_positive)
    board = torch.zeros(())
    reward_error = torch.zeros(())
    detector = fit_detector and network.board_ends is not None
    # the detector's ends weigh as the rest (no end_positive: `end_examples` brings the wins in one)
    ends = _board_ends_loss(network, batch.planes[0], *position_end_classes(batch, 0)) if detector else torch.zeros(())
    planes = batch.planes[0]
    for step in range(steps):
        moved = batch.alive[step]          # the move exists: the position after it is real, ended or not
        logits = network.board_logits(planes, batch.actions[step]).float()
        error = F.binary_cross_entropy_with_logits(logits, batch.planes[step + 1], reduction="none")
        board = board + _masked_mean(error.flatten(1).mean(-1), moved)
        planes = torch.sigmoid(logits)
        if detector:      # on the real planes and on g's (what the search will read), g not moved by it
            classes, exists = position_end_classes(batch, step + 1)
            ends = ends + 0.5 * (_board_ends_loss(network, batch.planes[step + 1], classes, exists)
                                 + _board_ends_loss(network, planes.detach(), classes, exists))
        raw_reward = network.reward_head(network.latent(real_hidden[step + 1]))
        reward = network.reward_to_scalar(raw_reward).float()
        reward_error = reward_error + _masked_mean((reward - batch.rewards[step]) ** 2, moved)
        heads = heads + _heads_loss(network, real_hidden[step + 1], batch.legal[step + 1], batch.ends[step + 1],
                                    batch.alive[step + 1], weights.end_positive)
    if detector and batch.end_planes is not None and batch.end_planes.shape[0]:
        # the positions one move on (`PathSampler.end_examples`), per example
        ends = ends + _board_ends_loss(network, batch.end_planes, batch.end_classes,
                                       torch.ones(batch.end_classes.shape[0]))
    total = (weights.hidden * board + reward_error + weights.heads * (heads + ends)) / steps
    parts = {"board": float(board.detach()) / steps, "reward": float(reward_error.detach()) / steps,
             "heads": float(heads.detach()) / (steps + 1), "total": float(total.detach())}
    if detector:
        parts["ends"] = float(ends.detach()) / (steps + 1)
    return total, parts


def board_fit_fidelity(network: MuZeroNetwork, batch: ModelFitBatch, end_threshold: float = 0.5) -> dict[str, float]:
    """How far the search's view through the board model is from the real game's, per unroll
    step on average: ``cells`` the share of planes' cells wrong after rounding, ``policy`` KL of
    f's prior, ``value`` absolute error of f's value (f of h of the predicted against the real
    planes, the most likely board when the network snaps its planes as the search does). With an
    end detector, ``ends_recall`` and ``ends_precision`` of the game ends it reads on the
    predicted planes as the search reads them (`agent.model_ends.read_position_ends` at
    ``end_threshold``, `score_position_ends`).
    No gradients; the network is left in eval mode."""
    from agent.hidden import board_planes
    from agent.model_ends import PositionEnds, read_position_ends, score_position_ends

    steps = batch.unroll_steps
    network.eval()
    totals = {"cells": 0.0, "policy": 0.0, "value": 0.0}
    found = real_ends = predicted_ends = 0
    with torch.no_grad():
        planes = batch.planes[0]
        for step in range(steps):
            # the planes the search steps through (`MuZeroNetwork.snap_planes`)
            planes = board_planes(network.board_logits(planes, batch.actions[step]).float(), network.snap_planes)
            if network.board_ends is not None:
                classes, exists = position_end_classes(batch, step + 1)
                keep = (exists > 0).numpy()
                reading = read_position_ends(network.board_ends(planes), end_threshold)
                counts = score_position_ends(PositionEnds(reading.ended[keep], reading.reward[keep]),
                                             classes.numpy()[keep])
                found, real_ends, predicted_ends = (total + count for total, count in
                                                    zip((found, real_ends, predicted_ends), counts))
            alive = batch.alive[step + 1]
            real = batch.planes[step + 1]
            wrong = ((planes > 0.5).float() != real).float().flatten(1).mean(-1)
            predicted_logits, predicted_raw = network.predict(network.represent(planes))
            real_logits, real_raw = network.predict(network.represent(real))
            kl = prior_kl(real_logits, predicted_logits)
            gap = (network.value_to_scalar(predicted_raw) - network.value_to_scalar(real_raw)).float().abs()
            for name, values in (("cells", wrong), ("policy", kl), ("value", gap)):
                totals[name] += float(_masked_mean(values, alive)) / steps
    if network.board_ends is not None:
        totals["ends_recall"] = found / max(real_ends, 1)
        totals["ends_precision"] = found / max(predicted_ends, 1)
    return totals


def latent_fit_loss(network: MuZeroNetwork, batch: ModelFitBatch, weights: ModelFitWeights = ModelFitWeights()
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """MuZero's g fitted to h: (loss to backpropagate, float parts by name); h and f give the targets.

    The parts are means per unroll step: ``hidden`` (squared error), ``policy`` (KL from the
    real position's prior), ``value`` (squared error), ``reward``, ``heads`` (over the root
    and every step); ``hidden_spread`` is the variance of the real hidden states, the error
    of a g that knew nothing but their mean.
    """
    steps, paths = batch.unroll_steps, batch.actions.shape[1]
    with torch.no_grad():
        was_training = network.training
        network.eval()
        real_hidden = network.represent(batch.planes.flatten(0, 1))
        real_logits, real_values = network.predict(real_hidden)
        real_hidden = real_hidden.view(steps + 1, paths, *real_hidden.shape[1:])
        real_logits = real_logits.view(steps + 1, paths, -1)
        real_value = network.value_to_scalar(real_values).float().view(steps + 1, paths)
        network.train(was_training)
    set_fit_modes(network)

    parts = {name: torch.zeros(()) for name in ("hidden", "policy", "value", "reward")}
    heads = _heads_loss(network, real_hidden[0], batch.legal[0], batch.ends[0], batch.alive[0], weights.end_positive)
    hidden = real_hidden[0]
    for step in range(steps):
        hidden, raw_reward = network.dynamics(hidden, batch.actions[step])
        reward = network.reward_to_scalar(raw_reward).float()
        parts["reward"] = parts["reward"] + _masked_mean((reward - batch.rewards[step]) ** 2, batch.alive[step])
        alive = batch.alive[step + 1]
        error = ((hidden.float() - real_hidden[step + 1]) ** 2).flatten(1).mean(-1)
        parts["hidden"] = parts["hidden"] + _masked_mean(error, alive)
        logits, raw_value = network.predict(hidden)
        parts["policy"] = parts["policy"] + _masked_mean(prior_kl(real_logits[step + 1], logits), alive)
        value = network.value_to_scalar(raw_value).float()
        parts["value"] = parts["value"] + _masked_mean((value - real_value[step + 1]) ** 2, alive)
        heads = heads + _heads_loss(network, hidden, batch.legal[step + 1], batch.ends[step + 1], alive,
                                    weights.end_positive)
    total = (weights.hidden * parts["hidden"] + parts["policy"] + parts["value"] + parts["reward"]
             + weights.heads * heads) / steps
    floats = {name: float(value.detach()) / steps for name, value in parts.items()}
    floats["heads"] = float(heads.detach()) / (steps + 1)
    floats["total"] = float(total.detach())
    # the hidden error's yardstick: predicting every position's hidden state as the batch mean
    # would score this (the per-element variance of h's real hidden states)
    floats["hidden_spread"] = float(real_hidden[0].float().var(dim=0).mean())
    return total, floats
