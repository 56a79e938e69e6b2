"""The budget of a fit phase: wall-clock minutes, or a fixed number of optimizer steps (tests
and benchmarks: the same work on any machine), and the cosine learning-rate scale over it."""
from __future__ import annotations

import math
import time


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
