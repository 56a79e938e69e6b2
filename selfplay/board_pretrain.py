"""The board model's g trained alone, one move at a time, before the fit
(``model_fit.board_pretrain_minutes``).

Why: the fit (`selfplay.model_fit.fit_network`) trains g on paths unrolled on its own
predictions, with h run on every real position of the path and the heads trained beside it: an
optimizer step there is mostly other work than g's, and early on g reads its own poor guesses.
On Othello, whose moves flip lines of discs, 884 such steps (6.25 minutes) left g predicting
only 57% of next boards exactly (`scripts/model_fidelity.py`, "boards exact"), where g alone on
single transitions predicted 97.8% after 4 minutes on one thread
(`scripts/board_dynamics_reach.py`). Here g first learns what each move does from real boards
of the run's replay (teacher forcing: its input is always the real board); the fit then
teaches it to carry its own errors along a path, and trains the heads.

Each batch is drawn afresh (a few milliseconds): the replay's stored positions with, as on the
fit's paths, the move played there (probability ``model_fit.follow``) or a uniformly random
legal one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from agent.networks import MuZeroNetwork
from selfplay.config import ModelFitConfig
from selfplay.fit_budget import FitBudget, FitProgress, cosine_scale

HELD_OUT = 2_048        # transitions drawn apart, on which "exact" is measured
PHASE = "board model"   # `FitProgress.phase` of this phase's reports


def transitions(sampler, count: int, follow: float, rng: np.random.Generator
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(planes ``[N, C, H, W]``, actions ``[N]``, next planes ``[N, C, H, W]``) of ``count``
    stored positions of ``sampler`` (a `selfplay.model_fit.PathSampler`) drawn uniformly."""
    planes = np.zeros((count, *sampler.planes_shape), dtype=np.float32)
    following = np.zeros_like(planes)
    actions = np.zeros(count, dtype=np.int64)
    for row, index in enumerate(rng.integers(0, len(sampler), count)):
        state = sampler.states[index]
        if rng.random() < follow:
            action = sampler.played[index]
            after_index = sampler.next_index[index]
            after = sampler.states[after_index] if after_index >= 0 else state.play(action)
        else:
            moves = state.legal_actions()
            action = int(moves[rng.integers(len(moves))])
            after = state.play(action)
        planes[row], actions[row], following[row] = state.planes(), action, after.planes()
    return torch.from_numpy(planes), torch.from_numpy(actions), torch.from_numpy(following)


def exact_share(network: MuZeroNetwork, planes: torch.Tensor, actions: torch.Tensor, following: torch.Tensor) -> float:
    """The share of next boards g predicts exactly, every cell read as set above 0.5 (as the
    search snaps them)."""
    with torch.no_grad():
        predicted = network.board_logits(planes, actions).float() > 0
    same = (predicted == (following > 0.5)).flatten(1).all(dim=1)
    return float(same.float().mean())


def pretrain_board_dynamics(network: MuZeroNetwork, sampler, config: ModelFitConfig,
                            report: Callable | None = None, report_every: int = 200,
                            should_stop: Callable[[], bool] | None = None, steps: int | None = None) -> dict:
    """Train g (``network.board_dynamics``, in place, nothing else) on single transitions for
    ``config.board_pretrain_minutes``, or ``steps`` optimizer steps when given; returns the
    checkpoint's bookkeeping (steps, seconds, exact share on held-out transitions)."""
    if not network.board_model:
        raise ValueError("the board model's pretraining needs dynamics = board")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 2])
    held_out = transitions(sampler, HELD_OUT, config.follow, rng)
    parameters = list(network.board_dynamics.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    progress = FitProgress(phase=PHASE)
    network.train()
    budget = FitBudget(config.board_pretrain_minutes, steps)
    while not (should_stop and should_stop()):
        fraction = budget.fraction(progress.steps)
        if fraction is None:
            break
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * cosine_scale(fraction)
        planes, actions, following = transitions(sampler, config.batch, config.follow, rng)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            logits = network.board_logits(planes, actions).float()
        loss = F.binary_cross_entropy_with_logits(logits, following)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.steps += 1
        progress.seconds = budget.elapsed()
        progress.parts = {"board": float(loss.detach())}
        if report is not None and progress.steps % report_every == 0:
            progress.parts["exact"] = exact_share(network, *held_out)
            report(progress)
    network.eval()
    exact = exact_share(network, *held_out)
    if report is not None:
        report(FitProgress(progress.steps, progress.seconds, phase=PHASE,
                           note=f"board model: {exact:.2%} of {HELD_OUT:,} held-out next boards exact "
                                f"after {progress.steps} steps alone"))
    return {"board_pretrain_steps": progress.steps, "board_pretrain_seconds": round(progress.seconds, 1),
            "board_pretrain_exact": round(exact, 5)}
