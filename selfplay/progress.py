"""What a training session shows a person: the rich progress line and the TensorBoard scalars.

The local and the Ray backend watch different things (a queue of finished games, or reports
from Ray actors) but report them in the same small records (`FinishedGame`, `TrainChunk`,
`Counters`), which one `TrainingMonitor` turns into the same scalars and progress line.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

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


# ----------------------------------------------------------------------------- what a backend reports

@dataclass(frozen=True)
class FinishedGame:
    """What the monitor keeps of one finished self-play game (built where the game ended,
    so that a Ray actor sends these few numbers and not the game).

    length: positions stored in replay; plies: moves played, the random opening included;
    first_player_result: +1 / 0 / -1 for the first player; first_root_value: the search
    value of the first stored position; policy_entropy: the mean entropy of the search
    policies stored as targets (nats; nan when none was).
    """

    length: int
    plies: int
    first_player_result: float
    first_root_value: float
    policy_entropy: float

    @classmethod
    def of(cls, game) -> "FinishedGame":
        """The summary of a finished `selfplay.replay.GameHistory`."""
        reward = float(game.rewards[-1])
        mover = int(game.to_play[-1])          # the player whose move ended the game earned ``reward``
        result = 0.0 if reward == 0.0 else (reward if mover == 0 else -reward)
        policies = np.asarray(game.policies, dtype=np.float64)
        entropy = -(policies * np.log(np.clip(policies, 1e-12, None))).sum(axis=1)
        targets = policies.sum(axis=1) > 0     # fast searches (actor.fast_fraction) store no policy
        return cls(length=int(game.length), plies=int(game.length + game.opening.shape[0]),
                   first_player_result=result, first_root_value=float(game.root_values[0]),
                   policy_entropy=float(entropy[targets].mean()) if targets.any() else float("nan"))


@dataclass(frozen=True)
class TrainChunk:
    """What the learner did in ``steps`` consecutive optimizer steps ending at ``step``.

    parts: the mean of each loss part over those steps; learning_rate: the last one;
    seconds: the steps' wall time (sampling included); reanalysed: rows refreshed.
    """

    step: int
    steps: int
    parts: dict
    learning_rate: float
    seconds: float
    reanalysed: int = 0


@dataclass
class Advance:
    """What one `Backend.advance` (or its final drain) reported: games that finished,
    learner chunks that ended, and the latest `ActorStats` (as dicts) of the actors that
    reported."""

    games: list[FinishedGame] = field(default_factory=list)
    chunks: list[TrainChunk] = field(default_factory=list)
    actor_stats: dict[int, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Counters:
    """A backend's running totals for this session (``step`` and the replay's for the run).

    positions: self-play positions this session, as the backend's throttle counts them;
    samples: batch rows trained this session; actor_failures: actor processes lost (and
    restarted, on Ray).
    """

    step: int
    samples: int
    positions: int
    games: int
    replay_positions: int
    replay_games: int
    actor_failures: int = 0


# ----------------------------------------------------------------------------- the monitor

class TrainingMonitor:
    """TensorBoard scalars and the progress line of a training session, whatever the backend.

    Fed each `Advance` with the backend's `Counters`; writes the loss parts averaged over
    the steps since the last write, and the self-play numbers of the games since then,
    every ``trainer.log_every_steps`` learner steps.
    """

    def __init__(self, writer, show_progress: bool, label: str, trainer_config, start_step: int) -> None:
        self.writer = writer
        self.start_step = start_step
        self.log_every = max(1, trainer_config.log_every_steps)
        self.logged_step = start_step
        self.line = ProgressLine(show_progress, label, trainer_config.max_steps, trainer_config.max_minutes)
        self.games: list[FinishedGame] = []
        self.parts_sum: dict[str, float] = {}
        self.steps_summed = 0
        self.learner_seconds = 0.0
        self.learning_rate = 0.0
        self.loss: float | None = None
        self.actor_stats: dict[int, dict] = {}
        self.rate_time = time.monotonic()
        self.rate_positions = 0
        self.rate_games = 0
        self.positions_per_second = 0.0
        self.evaluation: dict = {}

    def start(self, description: str) -> None:
        self.line.start(description)

    def stop(self) -> None:
        self.line.stop()

    def record(self, advance: Advance, counters: Counters) -> None:
        """Take in what the backend did; write the scalars when a log point was passed."""
        self.games.extend(advance.games)
        self.actor_stats.update(advance.actor_stats)
        for chunk in advance.chunks:
            for name, value in chunk.parts.items():
                self.parts_sum[name] = self.parts_sum.get(name, 0.0) + float(value) * chunk.steps
            self.steps_summed += chunk.steps
            self.learner_seconds += chunk.seconds
            self.learning_rate = chunk.learning_rate
        if counters.step // self.log_every > self.logged_step // self.log_every:
            self.write(counters)

    def write(self, counters: Counters) -> None:
        """Every scalar but the evaluation's, at ``counters.step``."""
        writer, step = self.writer, counters.step
        self.logged_step = step
        if self.steps_summed:
            for name, total in self.parts_sum.items():
                writer.add_scalar(f"loss/{name}", total / self.steps_summed, step)
            if "total" in self.parts_sum:
                self.loss = self.parts_sum["total"] / self.steps_summed
            if self.learner_seconds > 0:
                writer.add_scalar("learner/steps_per_second", self.steps_summed / self.learner_seconds, step)
            self.parts_sum, self.steps_summed, self.learner_seconds = {}, 0, 0.0
        writer.add_scalar("learner/learning_rate", self.learning_rate, step)
        now = time.monotonic()
        window = now - self.rate_time
        if window >= 1.0:
            self.positions_per_second = (counters.positions - self.rate_positions) / window
            games_per_minute = 60.0 * (counters.games - self.rate_games) / window
            self.rate_time, self.rate_positions, self.rate_games = now, counters.positions, counters.games
            writer.add_scalar("selfplay/positions_per_second", self.positions_per_second, step)
            writer.add_scalar("selfplay/games_per_minute", games_per_minute, step)
        writer.add_scalar("replay/positions", counters.replay_positions, step)
        writer.add_scalar("replay/games", counters.replay_games, step)
        writer.add_scalar("selfplay/actor_failures", counters.actor_failures, step)
        if self.games:
            games, self.games = self.games, []
            results = np.array([game.first_player_result for game in games])
            writer.add_scalar("selfplay/game_length", float(np.mean([game.plies for game in games])), step)
            writer.add_scalar("selfplay/outcome_first_player_wins", float(np.mean(results > 0)), step)
            writer.add_scalar("selfplay/outcome_second_player_wins", float(np.mean(results < 0)), step)
            writer.add_scalar("selfplay/outcome_draws", float(np.mean(results == 0)), step)
            writer.add_scalar("selfplay/root_value_first_position",
                              float(np.mean([game.first_root_value for game in games])), step)
            entropies = [game.policy_entropy for game in games if game.policy_entropy == game.policy_entropy]
            if entropies:                      # (nan: a game whose every move was a fast search)
                writer.add_scalar("selfplay/policy_entropy", float(np.mean(entropies)), step)
        total = sum(stats["seconds_total"] for stats in self.actor_stats.values())
        if total > 0:
            search = sum(stats["seconds_in_search"] for stats in self.actor_stats.values())
            writer.add_scalar("selfplay/search_share_of_actor_time", search / total, step)

    def log_evaluation(self, step: int, evaluation: dict) -> None:
        self.evaluation = evaluation
        log_evaluation(self.writer, step, evaluation)

    def refresh(self, counters: Counters, elapsed: float) -> None:
        if not self.line.due():
            return
        done = counters.step - self.start_step
        parts = run_parts(counters.step, done, elapsed, self.positions_per_second, counters.games,
                          counters.replay_positions, self.loss)
        if "optimal_moves/search" in self.evaluation:
            parts.append(f"optimal {self.evaluation['optimal_moves/search']:.1%}")
        if counters.actor_failures:
            parts.append(f"{counters.actor_failures} actor restarts")
        self.line.update(parts, done, elapsed)
