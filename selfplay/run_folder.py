"""A run folder and what survives between training sessions.

A training session (`selfplay.session`), whichever backend it runs on, writes one folder
(``config.toml``, ``checkpoints/``, ``replay/games.npz``, ``tb/``) and resumes it: the
paths, the checkpoint writer, the bookkeeping carried in a checkpoint's ``extra``
(`RunBook`), reading the latest checkpoint back on ``--resume``, and the clean stop on
Ctrl-C live here.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.checkpoint import NUMPY_RNG_EXTRA, TORCH_RNG_EXTRA
from envs.errors import UsageError
from selfplay.config import RunConfig, to_dict

CHECKPOINTS = "checkpoints"
LATEST = "latest.pt"


@dataclass(frozen=True)
class RunPaths:
    """The files and folders of one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def latest(self) -> Path:
        return self.root / CHECKPOINTS / LATEST

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def replay(self) -> Path:
        return self.root / "replay"

    def remove_stale_temporaries(self) -> int:
        """Delete the half-written files a killed writer left (checkpoint and replay temporaries).

        Writes go to a temporary file renamed over the target, so a process killed mid-write
        leaves its temporary behind; without this, every kill would leak one checkpoint's
        worth of disk. Called before a resumed session writes anything; returns the count."""
        stale = [*self.checkpoints.glob(".*.tmp"), *self.replay.glob("*.tmp")]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)


@dataclass(frozen=True)
class RunBook:
    """The run's counters that outlive a session, as a checkpoint's ``extra`` carries them.

    ``session`` counts the sessions before this one (0 for a fresh run); ``elapsed_before``
    is the wall-clock seconds they trained; ``games_total`` the self-play games they stored.
    """

    session: int = 0
    elapsed_before: float = 0.0
    games_total: int = 0

    @classmethod
    def after(cls, extra: dict) -> "RunBook":
        """The book of the session that resumes from a checkpoint with this ``extra``."""
        return cls(session=int(extra.get("session", 0)) + 1,
                   elapsed_before=float(extra.get("elapsed_seconds", 0.0)),
                   games_total=int(extra.get("games_total", 0)))

    def extra(self, *, elapsed: float, games_total: int, samples_trained: int, positions_added: int,
              numpy_rng: str, torch_rng: Any, **more: Any) -> dict:
        """A checkpoint's ``extra`` after ``elapsed`` seconds of this session."""
        return {"samples_trained": samples_trained, "session": self.session,
                "elapsed_seconds": self.elapsed_before + elapsed, "games_total": games_total,
                "replay_positions_added": positions_added, NUMPY_RNG_EXTRA: numpy_rng,
                TORCH_RNG_EXTRA: torch_rng, **more}


def resume_checkpoint(paths: RunPaths, game, network):
    """Load ``latest.pt`` into ``network`` for a resumed session; the `Checkpoint`, or None
    when the run has none yet. Temporaries a killed writer left are deleted first. A
    checkpoint of another game, or whose weights do not fit the network ``config.toml``
    describes, is a one-line UsageError."""
    from agent.checkpoint import load_checkpoint

    paths.remove_stale_temporaries()
    if not paths.latest.exists():
        return None
    checkpoint = load_checkpoint(paths.latest, expect_game=game)
    try:
        network.load_state_dict(checkpoint.model)
    except RuntimeError as error:
        raise UsageError(f"{paths.latest}: the network in config.toml does not match the "
                         f"checkpoint ({str(error).splitlines()[0]})") from None
    return checkpoint


def save_run_checkpoint(paths: RunPaths, network, step: int, optimizer_state: dict, replay, game,
                        config: RunConfig, extra: dict, keep: int) -> Path:
    """Replay first (``replay.save(folder)``), then ``step_N.pt`` and ``latest.pt`` (atomic);
    prune old step files."""
    from agent.checkpoint import make_payload, save_checkpoint

    replay.save(paths.replay)
    payload = make_payload(network, game, config=to_dict(config), step=step,
                           optimizer_state=optimizer_state, extra=extra)
    save_checkpoint(paths.checkpoints / f"step_{step}.pt", payload)
    save_checkpoint(paths.latest, payload)
    steps = sorted((int(p.stem.split("_", 1)[1]), p) for p in paths.checkpoints.glob("step_*.pt")
                   if p.stem.split("_", 1)[1].isdigit())
    for _, old in steps[:-max(1, keep)]:
        old.unlink(missing_ok=True)
    return paths.latest


class InterruptFlag:
    """Turns SIGINT/SIGTERM into a flag the loop checks, so the stop is always clean."""

    def __init__(self) -> None:
        self.flag = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.flag:   # a second Ctrl-C: stop waiting politely
            raise KeyboardInterrupt
        self.flag = True

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:   # not the main thread (e.g. inside a test runner thread)
                pass

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
