"""Crash safety: kill -9 never leaves a corrupt latest.pt nor orphan actors; Ctrl-C stops cleanly."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfplay.processes import alive, children_of

REPO = Path(__file__).resolve().parents[2]
# checkpoints every ~0.6 s so that a kill lands around checkpoint writes
FAST = ["--game", "tictactoe", "--minutes", "3", "--sims", "2", "--quiet",
        "--set", "actor.games_per_actor=16", "--set", "learner.batch_size=32",
        "--set", "replay.min_positions=40", "--set", "trainer.eval_games=0",
        "--set", "trainer.checkpoint_minutes=0.01", "--set", "trainer.samples_per_position=2.0"]


def start(out):
    return subprocess.Popen([sys.executable, "-m", "scripts.ponder", "train", "--out", str(out), *FAST],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out, process, seconds=120):
    latest = out / "checkpoints" / "latest.pt"
    deadline = time.monotonic() + seconds
    while not latest.exists():
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    return latest


def wait_gone(pids, seconds=20):
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


@pytest.mark.timeout(300)
def test_kill_9_leaves_a_loadable_checkpoint_and_no_orphans(tmp_path):
    from agent.checkpoint import load_checkpoint

    out = tmp_path / "run"
    process = start(out)
    try:
        wait_for_checkpoint(out, process)
        actors = children_of(process.pid)
        time.sleep(1.3)                      # a couple more checkpoint writes, then die mid-run
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    checkpoint = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert checkpoint.step > 0
    assert wait_gone(actors) == []           # actors notice their parent is gone and exit
    resumed = subprocess.run([sys.executable, "-m", "scripts.ponder", "train", "--out", str(out), "--resume",
                              "--steps", "3", *FAST[4:]], cwd=REPO, capture_output=True,
                             text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_checkpoint(out / "checkpoints" / "latest.pt").step == checkpoint.step + 3


@pytest.mark.timeout(300)
def test_ctrl_c_stops_cleanly_with_a_final_checkpoint(tmp_path):
    from agent.checkpoint import load_checkpoint

    out = tmp_path / "run"
    process = start(out)
    try:
        wait_for_checkpoint(out, process)
        time.sleep(1.0)
        actors = children_of(process.pid)
        assert actors, "the trainer runs its actors in child processes"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert wait_gone(actors, seconds=5) == []
    summary_step = load_checkpoint(out / "checkpoints" / "latest.pt").step
    assert summary_step > 0
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.timeout(400)
def test_the_kill_loop_script_survives_its_kills_and_resumes(tmp_path):
    """`scripts/kill_loop.py` (the 50-kill benchmark) on two kills: it must keep working."""
    import json

    run = subprocess.run([sys.executable, "-m", "scripts.kill_loop", "--kills", "2", "--seed", "3", "--json",
                          "--out", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=380)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = json.loads(run.stdout)
    assert summary["kills"] == summary["survived"] == 2 and summary["final_resume_ok"]
    assert not list((tmp_path / "run" / "checkpoints").glob(".*.tmp"))  # the last resume cleaned up
