"""One training session, whichever backend runs the actors and the learner.

`ponder train` is one `TrainingSession` with one `Backend`: local processes
(`selfplay.local_backend`) or Ray (`selfplay.ray_backend`). The session holds everything
that does not depend on where the work runs, written once:

- the run folder: ``config.toml``, resuming from ``checkpoints/latest.pt`` (weights, the
  run's counters as a `RunBook`), and checkpoints on the ``trainer.checkpoint_minutes``
  cadence and at the end (`selfplay.run_folder`);
- seeding: ``trainer.seed`` seeds torch before the network is built, so both backends
  start from the same weights; the backends seed their own streams from it and the
  session number;
- the stop rules (``trainer.max_steps``, ``trainer.max_minutes``, Ctrl-C or SIGTERM, which
  always ends in a checkpoint);
- the periodic and final evaluation, and the monitor (`selfplay.progress.TrainingMonitor`).

A backend only does the work: start its actors and learner from the session's network
and checkpoint, advance (play and train a little, within the samples-per-position ratio of
`selfplay.throttle`), report what it did, hand over a snapshot of the learner for a
checkpoint and a network to evaluate, and stop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from selfplay.config import RunConfig, write_toml
from selfplay.progress import Advance, Counters, TrainingMonitor
from selfplay.run_folder import InterruptFlag, RunBook, RunPaths, resume_checkpoint, save_run_checkpoint


@dataclass(frozen=True)
class TrainSummary:
    """The outcome of one session (this session only, except ``step``)."""

    step: int
    steps_this_session: int
    samples_trained: int
    games: int
    positions: int
    seconds: float
    stopped_by: str            # "steps", "minutes", "interrupt"
    evaluation: dict
    checkpoint: Path


@dataclass(frozen=True)
class SessionStart:
    """What a backend starts from.

    network: the run's `MuZeroNetwork` on the CPU, built after seeding torch and holding the
    checkpoint's weights when resuming; checkpoint: the `agent.checkpoint.Checkpoint` resumed
    from (None for a fresh run); session: how many sessions ran before this one (part of
    every actor's seed, so that a resumed run does not replay its first games).
    """

    config: RunConfig
    game: Any
    network: Any
    checkpoint: Any
    session: int
    paths: RunPaths
    resume: bool


@dataclass(frozen=True)
class LearnerSnapshot:
    """The learner's state for a checkpoint, however the backend holds it.

    network: a module holding the current weights; replay: has ``save(folder)`` (the local
    `Replay`, or the Ray replay host's proxy); numpy_rng: the replay sampler's bit-generator
    state as JSON; extra: backend-specific entries for the checkpoint's ``extra``.
    """

    network: Any
    step: int
    optimizer: dict
    samples_trained: int
    positions_added: int
    numpy_rng: str
    torch_rng: Any
    replay: Any
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    """Where a session's actors and learner run. ``label`` names the progress line."""

    label: str

    def start(self, start: SessionStart) -> str:
        """Start actors and learner; return the progress line's first description."""

    def advance(self, steps_left: int | None) -> Advance:
        """Play and train a little (at most ``steps_left`` learner steps; None: no limit);
        return what finished. Raises RuntimeError when it cannot go on (every actor lost)."""

    def counters(self) -> Counters:
        """The running totals (`selfplay.progress.Counters`)."""

    def finish(self) -> Advance:
        """Let in-flight work end (it counts), then stop the actors, before the last checkpoint."""

    def snapshot(self) -> LearnerSnapshot:
        """The learner's state for a checkpoint."""

    def evaluation_agent(self) -> Any:
        """An `agent.agent.Agent` over the current weights, to evaluate."""

    def close(self) -> None:
        """Release everything started (always called, also after a failure; idempotent)."""


class TrainingSession:
    """Trains ``config`` into the run folder ``out`` with ``backend`` until a stop rule fires."""

    def __init__(self, config: RunConfig, out: Path, resume: bool, backend: Backend,
                 show_progress: bool = True) -> None:
        self.config = config
        self.paths = RunPaths(Path(out))
        self.resume = resume
        self.backend = backend
        self.show_progress = show_progress

    def run(self) -> TrainSummary:
        import torch
        from torch.utils.tensorboard import SummaryWriter

        from agent.networks import MuZeroNetwork
        from envs.registry import get_game

        config, trainer, backend = self.config, self.config.trainer, self.backend
        self.game = get_game(config.game.name, **config.game.options)
        torch.manual_seed(trainer.seed)
        network = MuZeroNetwork(self.game, config.network)
        checkpoint = resume_checkpoint(self.paths, self.game, network) if self.resume else None
        self.book = RunBook.after(checkpoint.extra) if checkpoint is not None else RunBook()
        start_step = checkpoint.step if checkpoint is not None else 0
        self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        write_toml(config, self.paths.config)
        writer = SummaryWriter(str(self.paths.tensorboard), purge_step=start_step if self.resume else None)
        monitor = TrainingMonitor(writer, self.show_progress, backend.label, trainer, start_step)
        interrupted = InterruptFlag()
        started = time.monotonic()
        stopped_by = "steps"
        evaluation: dict = {}
        try:
            interrupted.install()
            monitor.start(backend.start(SessionStart(config, self.game, network, checkpoint, self.book.session,
                                                     self.paths, self.resume)))
            stopped_by = self._loop(monitor, interrupted, started, start_step)
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        except BaseException:
            interrupted.uninstall()
            monitor.stop()
            writer.close()
            backend.close()
            raise
        interrupted.uninstall()
        elapsed = time.monotonic() - started
        try:
            monitor.record(backend.finish(), backend.counters())
            counters = backend.counters()
            if counters.step > start_step or not self.paths.latest.exists():
                if trainer.eval_games > 0:
                    evaluation = self._evaluate()
                    monitor.log_evaluation(counters.step, evaluation)
                self._save(elapsed)
            monitor.write(counters)
        finally:
            monitor.stop()
            writer.close()
            backend.close()
        return TrainSummary(step=counters.step, steps_this_session=counters.step - start_step,
                            samples_trained=counters.samples, games=counters.games, positions=counters.positions,
                            seconds=elapsed, stopped_by=stopped_by, evaluation=monitor.evaluation or evaluation,
                            checkpoint=self.paths.latest)

    def _loop(self, monitor: TrainingMonitor, interrupted: InterruptFlag, started: float, start_step: int) -> str:
        """Advance the backend until a stop rule fires; evaluate and checkpoint on their cadence."""
        trainer, backend = self.config.trainer, self.backend
        last_checkpoint = last_eval = started
        saved_step = start_step
        while True:
            step = backend.counters().step
            if interrupted.flag:
                return "interrupt"
            if trainer.max_steps and step - start_step >= trainer.max_steps:
                return "steps"
            if trainer.max_minutes and time.monotonic() - started >= trainer.max_minutes * 60:
                return "minutes"
            steps_left = trainer.max_steps - (step - start_step) if trainer.max_steps else None
            advance = backend.advance(steps_left)
            counters = backend.counters()
            monitor.record(advance, counters)
            now = time.monotonic()
            if trainer.eval_minutes and now - last_eval >= trainer.eval_minutes * 60 and counters.step > start_step:
                monitor.log_evaluation(counters.step, self._evaluate())
                last_eval = time.monotonic()
            if (trainer.checkpoint_minutes and now - last_checkpoint >= trainer.checkpoint_minutes * 60
                    and counters.step > saved_step):        # a checkpoint only for new steps
                self._save(now - started)
                last_checkpoint, saved_step = time.monotonic(), counters.step
            monitor.refresh(counters, now - started)

    def _evaluate(self) -> dict:
        from selfplay.evaluation import evaluate_run

        if self.config.trainer.eval_games <= 0:
            return {}
        return evaluate_run(self.game, self.backend.evaluation_agent(), self.config, self.backend.counters().step)

    def _save(self, elapsed: float) -> Path:
        snapshot = self.backend.snapshot()
        counters = self.backend.counters()
        extra = self.book.extra(elapsed=elapsed, games_total=self.book.games_total + counters.games,
                                samples_trained=snapshot.samples_trained, positions_added=snapshot.positions_added,
                                numpy_rng=snapshot.numpy_rng, torch_rng=snapshot.torch_rng, **snapshot.extra)
        return save_run_checkpoint(self.paths, snapshot.network, snapshot.step, snapshot.optimizer, snapshot.replay,
                                   self.game, self.config, extra, self.config.trainer.keep_checkpoints)


def train(config: RunConfig, out: Path, resume: bool, backend: Backend, show_progress: bool = True) -> TrainSummary:
    """One training session of ``config`` into the run folder ``out`` (see `TrainingSession`)."""
    return TrainingSession(config, out, resume, backend, show_progress).run()
