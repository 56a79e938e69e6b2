"""The learner: one optimisation step at a time on batches sampled from replay.

A plain class that owns the network being trained, its optimizer (AdamW) and the
learning-rate schedule (linear warm-up, then cosine decay to a floor). It knows nothing of
processes or queues, so the local trainer and a future Ray backend host it unchanged.
Reanalyse also lives here, because it needs the latest weights: a share of each batch's
rows get their policy targets recomputed by a fresh search with the current network.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from agent.losses import compute_losses
from agent.networks import MuZeroNetwork
from selfplay.config import RunConfig
from agent.batch import UnrollBatch
from selfplay.replay import Replay


@dataclass(frozen=True)
class StepResult:
    """What one learner step reports: loss parts (floats), learning rate and wall time."""

    step: int
    parts: dict
    learning_rate: float
    seconds: float
    reanalysed_rows: int


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an explicit ``cuda`` must exist."""
    from envs.errors import UsageError

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available on this machine")
    if requested not in ("cpu", "cuda"):
        raise UsageError(f"device must be auto, cpu or cuda, got {requested!r}")
    return torch.device(requested)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``learner.precision`` on ``device``: bfloat16, or None for fp32.

    ``auto`` takes bf16 only where it is native: emulated bf16 (a CPU without AVX512-BF16 or
    AMX) is slower than fp32, which would defeat its only purpose, more steps per hour.
    """
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        if device.type == "cuda":
            native = torch.cuda.is_bf16_supported()
        else:
            from agent.inference import cpu_has_native_bf16
            native = cpu_has_native_bf16()
        return torch.bfloat16 if native else None
    return None


class Learner:
    """Trains ``network`` on replay batches; ``step`` counts optimizer steps across resumes."""

    def __init__(self, network: MuZeroNetwork, config: RunConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.network = network.to(device)
        learner = config.learner
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=learner.learning_rate,
                                           weight_decay=learner.weight_decay)
        self.autocast_dtype = resolve_precision(learner.precision, self.device)
        self.step = 0
        self.samples_trained = 0

    def learning_rate(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then cosine from the peak to the floor."""
        learner = self.config.learner
        if learner.warmup_steps > 0 and step < learner.warmup_steps:
            return learner.learning_rate * (step + 1) / learner.warmup_steps
        progress = min(1.0, (step - learner.warmup_steps) / max(1, learner.decay_steps))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return learner.final_learning_rate + (learner.learning_rate - learner.final_learning_rate) * cosine

    def to_loss_batch(self, batch: UnrollBatch) -> UnrollBatch:
        """The replay's numpy batch as torch tensors on the learner's device, with the steps
        the loss counts in ``value_mask`` and uniform weights dropped."""
        uniform = batch.weights is None or bool(np.all(batch.weights == 1.0))
        counted = batch.replace(value_mask=self._loss_mask(batch), weights=None if uniform else batch.weights)
        return counted.map(lambda array: torch.from_numpy(np.ascontiguousarray(array)).to(self.device))

    def _loss_mask(self, batch: UnrollBatch) -> np.ndarray:
        """Which unroll steps the loss counts: up to the terminal position, or every step.

        With ``replay.absorbing_targets`` the steps past the end count too, with the zero
        value and reward targets (and no policy target) that the replay stores there.
        """
        if self.config.replay.absorbing_targets:
            return np.ones_like(batch.value_mask)
        return batch.value_mask

    def train_step(self, batch: UnrollBatch, replay: Replay | None = None) -> StepResult:
        """One optimizer step on ``batch``; new priorities go back to ``replay`` if given."""
        started = time.perf_counter()
        learning_rate = self.learning_rate(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.network.train()
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None):
            result = compute_losses(self.network, self.to_loss_batch(batch), self.config.loss)
        self.optimizer.zero_grad(set_to_none=True)
        result.total.backward()
        if self.config.learner.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.config.learner.max_grad_norm)
        self.optimizer.step()
        self.step += 1
        self.samples_trained += int(batch.actions.shape[0])
        if replay is not None and replay.priority_alpha > 0:
            replay.update_priorities(batch.game_ids, batch.positions, result.value_errors.float().cpu().numpy())
        return StepResult(self.step, dict(result.parts), learning_rate, time.perf_counter() - started, 0)

    # ------------------------------------------------------------------ weights and state
    def weights(self) -> dict[str, np.ndarray]:
        """The network's state as numpy arrays (cheap to pickle to actor processes)."""
        return {name: tensor.detach().cpu().numpy().copy() for name, tensor in self.network.state_dict().items()}

    def optimizer_state(self) -> dict:
        return self.optimizer.state_dict()

    def load_optimizer_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


def reanalyse(batch: UnrollBatch, replay: Replay, agent, game, search, fraction: float,
              rng: np.random.Generator) -> tuple[UnrollBatch, int]:
    """Refresh the policy targets of ``fraction`` of the batch's rows with a new search.

    For each chosen row, every real position t..t+K of its game is rebuilt from the
    stored action prefix, searched by ``agent`` (the learner's latest network), and the
    new search policy replaces the target (in the batch and in replay). Returns the new
    batch and the number of rows refreshed.
    """
    rows = np.flatnonzero(rng.random(batch.actions.shape[0]) < fraction)
    if rows.size == 0:
        return batch, 0
    unroll = batch.target_policy.shape[1]
    states, slots = [], []
    for row in rows.tolist():
        game_id, start = int(batch.game_ids[row]), int(batch.positions[row])
        stored = replay.game(game_id)
        if stored is None:
            continue
        state = game.state_from_actions(stored.action_prefix(start))
        for k in range(unroll):
            position = start + k
            if position >= stored.length or state.is_terminal():
                break
            states.append(state)
            slots.append((row, k, game_id, position))
            state = state.play(int(stored.actions[position]))
    if not states:
        return batch, 0
    result = agent.act(states, search, temperature=0.0, rng=rng)
    target_policy = batch.target_policy.copy()
    for index, (row, k, game_id, position) in enumerate(slots):
        target_policy[row, k] = result.policy[index]
        replay.update_search(game_id, position, result.policy[index], float(result.root_value[index]))
    return batch.replace(target_policy=target_policy), int(rows.size)
