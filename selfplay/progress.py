"""What both training backends show a person: the rich progress line and the evaluation scalars.

The local and the Ray trainer watch different things (a queue of finished games, or reports
from Ray actors) but present them the same way, so the presentation lives here once.
"""
from __future__ import annotations

import sys
import time

REFRESH_SECONDS = 0.5


class ProgressLine:
    """One rich progress bar on stderr: by steps when the run is bounded by steps, else by time.

    ``update`` is cheap to call every loop iteration; it redraws at most every half second.
    A disabled line (``--quiet``) does nothing at all, and rich is not even imported.
    """

    def __init__(self, enabled: bool, label: str, max_steps: int, max_minutes: float) -> None:
        self.enabled = enabled
        self.label = label
        self.by_steps = bool(max_steps)
        self.total = max_steps if max_steps else (max_minutes * 60 or None)
        self.progress = None
        self.task = None
        self.last_refresh = 0.0

    def start(self, description: str) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn(f"[bold]{self.label}[/]"), BarColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(file=sys.stderr), transient=False)
        self.task = self.progress.add_task(description, total=self.total)
        self.progress.start()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def due(self) -> bool:
        """Whether a redraw is wanted now (so callers skip building the text otherwise)."""
        return self.progress is not None and time.monotonic() - self.last_refresh >= REFRESH_SECONDS

    def update(self, parts: list[str], steps_done: int, elapsed: float) -> None:
        if self.progress is None:
            return
        self.last_refresh = time.monotonic()
        self.progress.update(self.task, description=" | ".join(parts),
                             completed=steps_done if self.by_steps else elapsed)


def run_parts(step: int, steps_done: int, elapsed: float, positions_per_second: float, games: int,
              replay_positions: int, loss: float | None) -> list[str]:
    """The fields every backend's progress line starts with."""
    parts = [f"step {step}", f"{steps_done / max(elapsed, 1e-9):.1f} steps/s",
             f"{positions_per_second:.0f} pos/s", f"{games} games", f"replay {replay_positions}"]
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    return parts


def log_evaluation(writer, step: int, evaluation: dict) -> None:
    """The periodic evaluation as ``eval/...`` scalars, flushed so TensorBoard shows it at once."""
    for name, value in evaluation.items():
        writer.add_scalar(f"eval/{name}", value, step)
    writer.flush()
