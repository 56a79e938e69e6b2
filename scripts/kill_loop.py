"""Crash safety under repetition: SIGKILL a training run at many random moments (issue 27).

    python -m scripts.kill_loop [--kills 50] [--out DIR] [--seed 0] [--json]

A tiny tic-tac-toe run checkpoints every ~0.6 s. Each round resumes it (the first starts
it), waits a random 0-4 s, then kills the trainer with SIGKILL at one of three kinds of
moment, chosen at random: right then, during the next checkpoint write, or during the next
replay write. After every kill it checks what a user relies on:

- ``checkpoints/latest.pt`` loads (checksum verified) and holds the optimizer state;
- ``replay/games.npz`` loads (checksum verified);
- the step count and the replay's count of positions added never go back;
- the actors died with the trainer (no orphans);
- the next ``--resume`` cleans up the temporaries the kill left, so disk stays bounded.

At the end one ``--resume --steps 3`` must finish and add exactly three steps. Prints one
line per kill and the count survived; exit 1 if any check failed.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from selfplay.processes import alive, children_of

REPO = Path(__file__).resolve().parents[1]
# A run small enough that a session restarts in seconds and checkpoints every ~0.6 s.
RUN_FLAGS = ["--minutes", "10", "--sims", "2", "--quiet",
             "--set", "actor.games_per_actor=16", "--set", "learner.batch_size=32",
             "--set", "replay.min_positions=40", "--set", "trainer.eval_games=0",
             "--set", "trainer.checkpoint_minutes=0.01", "--set", "trainer.samples_per_position=2.0"]
MOMENTS = ("random", "checkpoint-write", "replay-write")


@dataclass
class KillRecord:
    round: int
    moment: str
    caught_writing: bool      # a temporary file existed at the moment of the kill
    seconds_alive: float
    step: int
    replay_positions: int
    stale_temporaries: int    # left by the kill, removed by the next resume
    orphans: int
    ok: bool
    problem: str


def _temporaries(out: Path) -> list[Path]:
    return [*(out / "checkpoints").glob(".*.tmp"), *(out / "replay").glob("*.tmp")]


def _written_since(folder: Path, pattern: str, since: float) -> bool:
    for path in folder.glob(pattern):
        try:
            if path.stat().st_mtime >= since:
                return True
        except FileNotFoundError:   # renamed into place meanwhile
            continue
    return False


def _start(out: Path, resume: bool) -> subprocess.Popen:
    head = ["--out", str(out), "--resume"] if resume else ["--out", str(out), "--game", "tictactoe"]
    return subprocess.Popen([sys.executable, "-m", "scripts.ponder", "train", *head, *RUN_FLAGS],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process: subprocess.Popen, seconds: float, poll: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if condition():
            return True
        time.sleep(poll)
    return False


def _kill_once(out: Path, resume: bool, moment: str, rng) -> tuple[float, bool, list[int], str]:
    """Start or resume the run, kill it at ``moment``; (seconds alive, caught writing, actors, error)."""
    wall_started = time.time()
    process = _start(out, resume)
    started = time.monotonic()
    try:
        # every session must get past its own first checkpoint write (or at least start) first
        if not _wait_for(lambda: (out / "checkpoints" / "latest.pt").exists(), process, 120, 0.05):
            return time.monotonic() - started, False, [], f"exited early: {process.stderr.read()[-300:]!r}"
        actors = children_of(process.pid)
        time.sleep(float(rng.uniform(0.0, 4.0)))
        if moment != "random":  # then the next write (not a temporary an earlier kill left behind)
            folder, pattern = ((out / "checkpoints", ".*.tmp") if moment == "checkpoint-write"
                               else (out / "replay", "*.tmp"))
            since = time.time()
            _wait_for(lambda: _written_since(folder, pattern, since), process, 120, 0.002)
        process.send_signal(signal.SIGKILL)
        caught = any(_written_since(path.parent, path.name, wall_started) for path in _temporaries(out))
        process.wait(timeout=30)
        return time.monotonic() - started, caught, actors, ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _check(out: Path, previous_step: int, previous_positions: int) -> tuple[int, int, str]:
    """(step, positions ever added to the replay, problem or '') of the run folder as a kill left it."""
    from agent.checkpoint import CheckpointError, load_checkpoint
    from selfplay.config import read_toml
    from selfplay.replay import Replay, ReplayError

    try:
        checkpoint = load_checkpoint(out / "checkpoints" / "latest.pt")
    except CheckpointError as error:
        return previous_step, previous_positions, f"latest.pt refused: {error}"
    if checkpoint.step > 0 and not checkpoint.optimizer:
        return checkpoint.step, previous_positions, "latest.pt lacks the optimizer state"
    replay = Replay.from_config(read_toml(out / "config.toml"))
    try:
        replay.load(out / "replay")
    except ReplayError as error:
        return checkpoint.step, previous_positions, f"replay refused: {error}"
    positions = replay.positions_added   # a counter saved with the games: never goes back
    if checkpoint.step < previous_step:
        return checkpoint.step, positions, f"step went back from {previous_step} to {checkpoint.step}"
    if positions < previous_positions:
        return checkpoint.step, positions, f"the replay went back from {previous_positions} to {positions} positions"
    return checkpoint.step, positions, ""


def run(kills: int, out: Path, seed: int, show) -> list[KillRecord]:
    import numpy as np

    rng = np.random.default_rng(seed)
    records: list[KillRecord] = []
    step = positions = 0
    for index in range(kills):
        moment = MOMENTS[int(rng.integers(len(MOMENTS)))]
        seconds, caught, actors, problem = _kill_once(out, resume=index > 0, moment=moment, rng=rng)
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in actors) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = sum(alive(pid) for pid in actors)
        stale = len(_temporaries(out))
        if not problem:
            step, positions, problem = _check(out, step, positions)
        if not problem and orphans:
            problem = f"{orphans} actor(s) outlived the trainer"
        record = KillRecord(index + 1, moment, caught, round(seconds, 2), step, positions, stale, orphans,
                            not problem, problem)
        records.append(record)
        show(record)
    return records


def final_resume(out: Path) -> tuple[bool, str]:
    """One more session with ``--steps 3`` must finish and add exactly three steps, leaving no temporaries."""
    from agent.checkpoint import load_checkpoint

    before = load_checkpoint(out / "checkpoints" / "latest.pt").step
    flags = [flag for flag in RUN_FLAGS if flag not in ("--minutes", "10")]
    done = subprocess.run([sys.executable, "-m", "scripts.ponder", "train", "--out", str(out), "--resume",
                           "--steps", "3", *flags], cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return False, f"the last resume failed: {done.stderr.strip()[-300:]!r}"
    after = load_checkpoint(out / "checkpoints" / "latest.pt").step
    if after != before + 3:
        return False, f"the last resume went from step {before} to {after}, not {before + 3}"
    if _temporaries(out):
        return False, f"temporaries left after a clean session: {[p.name for p in _temporaries(out)]}"
    return True, f"the last resume went from step {before} to {after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.kill_loop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--out", type=Path, help="run folder (default: a temporary folder, removed after)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be >= 1")
    with tempfile.TemporaryDirectory(prefix="ponder-kill-") as scratch:
        out = args.out or Path(scratch) / "run"
        if out.exists():
            parser.error(f"--out {out} already exists: give a new folder")

        def show(record: KillRecord) -> None:
            if not args.json:
                mark = "ok" if record.ok else f"FAILED: {record.problem}"
                print(f"kill {record.round:3d} {record.moment:16s} writing={str(record.caught_writing):5s} "
                      f"after {record.seconds_alive:5.1f}s step {record.step:5d} replay {record.replay_positions:6d} "
                      f"stale {record.stale_temporaries} {mark}", flush=True)

        started = time.monotonic()
        records = run(args.kills, out, args.seed, show)
        finished, final = final_resume(out) if all(r.ok for r in records) else (False, "skipped: a kill failed")
        survived = sum(r.ok for r in records)
        summary = {"kills": len(records), "survived": survived, "caught_writing": sum(r.caught_writing for r in records),
                   "by_moment": {m: sum(r.moment == m for r in records) for m in MOMENTS},
                   "final_resume_ok": finished, "final_resume": final,
                   "seconds": round(time.monotonic() - started, 1), "records": [asdict(r) for r in records]}
        if args.json:
            print(json.dumps(summary))
        else:
            print(f"survived {survived}/{len(records)} kills ({summary['caught_writing']} during a write; "
                  f"{summary['by_moment']}); {final}; {summary['seconds']:.0f} s")
    return 0 if survived == len(records) and finished else 1


if __name__ == "__main__":
    sys.exit(main())
