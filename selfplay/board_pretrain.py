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

The path fit can also undo what g learned here: it starts a fresh optimizer at the full
learning rate (this phase ends at 5% of it), and on Othello's second seed its 1,460 steps left
g exact on only 46% of boards one move ahead, from 98% after this phase. The heads never read
g's boards in the fit (they learn on h of the real positions), so g can be swapped back
afterwards at no cost to them: `keep_the_more_exact` keeps whichever g is more exact on the
held-out transitions.
"""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class PretrainedBoard:
    """g as its training alone left it: ``steps`` and ``seconds`` of that training, ``weights``
    a copy of ``board_dynamics``' state dict, ``held_out`` the (planes, actions, next planes)
    it was measured on and ``exact`` its share exact there."""

    steps: int
    seconds: float
    weights: dict[str, torch.Tensor]
    held_out: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    exact: float

    @property
    def bookkeeping(self) -> dict:
        """The checkpoint's extra for this phase."""
        return {"board_pretrain_steps": self.steps, "board_pretrain_seconds": round(self.seconds, 1),
                "board_pretrain_exact": round(self.exact, 5)}


def hardest(network: MuZeroNetwork, planes: torch.Tensor, actions: torch.Tensor, following: torch.Tensor,
            config: ModelFitConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``config.batch`` transitions of those given whose next boards g predicts worst
    (cross-entropy per cell, averaged over the board; no gradients)."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        logits = network.board_logits(planes, actions).float()
    per_row = F.binary_cross_entropy_with_logits(logits, following, reduction="none").flatten(1).mean(1)
    rows = per_row.topk(config.batch).indices
    return planes[rows], actions[rows], following[rows]


def pretrain_board_dynamics(network: MuZeroNetwork, sampler, config: ModelFitConfig,
                            report: Callable | None = None, report_every: int = 200,
                            should_stop: Callable[[], bool] | None = None,
                            steps: int | None = None) -> PretrainedBoard:
    """Train g (``network.board_dynamics``, in place, nothing else) on single transitions for
    ``config.board_pretrain_minutes``, or ``steps`` optimizer steps when given."""
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
        planes, actions, following = transitions(sampler, config.batch * config.board_pretrain_pool, config.follow, rng)
        if config.board_pretrain_pool > 1:
            planes, actions, following = hardest(network, planes, actions, following, config)
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
    weights = {name: tensor.detach().clone() for name, tensor in network.board_dynamics.state_dict().items()}
    return PretrainedBoard(progress.steps, progress.seconds, weights, held_out, exact)


def keep_the_more_exact(network: MuZeroNetwork, pretrained: PretrainedBoard, report: Callable | None = None) -> dict:
    """After the path fit: put the pretrained g back into ``network`` when the fit left g less
    exact on the held-out transitions (ties keep the fit's); returns the checkpoint's
    bookkeeping: ``model_fit_board_exact`` (the fit's g there) and ``board_model_from``
    ("path fit" or "pretraining", the g the checkpoint carries)."""
    network.eval()
    fitted = exact_share(network, *pretrained.held_out)
    kept = fitted >= pretrained.exact
    if not kept:
        network.board_dynamics.load_state_dict(pretrained.weights)
    if report is not None:
        verdict = "kept the path fit's" if kept else "put back the one trained alone"
        report(FitProgress(phase=PHASE, note=f"board model: the path fit left g {fitted:.2%} exact on the held-out "
                                             f"next boards, {pretrained.exact:.2%} before it: {verdict}"))
    return {"model_fit_board_exact": round(fitted, 5), "board_model_from": "path fit" if kept else "pretraining"}
