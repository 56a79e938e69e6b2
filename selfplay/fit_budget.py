"""A fit phase's budget (wall-clock minutes, or a fixed number of optimizer steps: tests and
benchmarks, the same work on any machine), the cosine learning-rate scale over it, and the
progress every phase reports (`FitProgress`)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from selfplay.config import ModelFitConfig


class FitBudget:
    """Started when made; ``fraction(done)`` says how far through it ``done`` steps are."""

    def __init__(self, minutes: float, steps: int | None = None) -> None:
        self.seconds, self.steps, self.start = minutes * 60.0, steps, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def fraction(self, done: int) -> float | None:
        """0..1 through the budget; None once it is spent."""
        if self.steps is not None:
            return None if done >= self.steps else done / self.steps
        elapsed = self.elapsed()
        return None if elapsed >= self.seconds else elapsed / self.seconds


def cosine_scale(fraction: float) -> float:
    """The learning rate's share at ``fraction`` of a budget: a cosine from 1 to 5%."""
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * fraction))


@dataclass
class FitProgress:
    """Where a fit stands, for the progress callback and the checkpoint's bookkeeping:
    ``phase`` "board model" (g alone, `selfplay.board_pretrain`), "model" (g and the heads,
    `fit_network`) or "end detector" (`fit_detector_phase`); ``note``, when set, is a one-line
    verdict to print instead of a progress line."""

    steps: int = 0
    seconds: float = 0.0
    parts: dict | None = None
    phase: str = "model"
    note: str = ""

    def budget_minutes(self, config: ModelFitConfig) -> float:
        """The wall-clock budget of this progress's phase in ``config``."""
        return {"board model": config.board_pretrain_minutes, "model": config.minutes,
                "end detector": config.board_ends_minutes}[self.phase]
