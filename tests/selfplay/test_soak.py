"""`ponder bench soak`: the growth it reports is the growth in the samples; a short run end to end."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfplay.soak import growth, replay_full_seconds

REPO = Path(__file__).resolve().parents[2]


def _samples(series: dict[str, list[int]], every: float = 10.0) -> list[dict]:
    length = len(next(iter(series.values())))
    return [{"t": i * every, "rss_kib": {name: values[i] for name, values in series.items()},
             "checkpoint_bytes": 0, "checkpoint_files": 0, "replay_bytes": 0} for i in range(length)]


def test_growth_is_measured_after_the_warm_up_from_first_to_last_fifth():
    warm_then_flat = [100] * 5 + [1000] * 20              # the warm-up's climb is left out
    leaking = [1000 + 10 * i for i in range(25)]            # 10 KiB a sample
    result = growth(_samples({"flat": warm_then_flat, "leak": leaking}), warmup_seconds=50)
    assert result["flat"]["growth_percent"] == 0.0
    # after warm-up: samples 5..24; first fifth 5..8 (median 1065), last fifth 21..24 (median 1225)
    assert result["leak"]["growth_percent"] == pytest.approx(100 * (1225 - 1065) / 1065, abs=0.01)


def test_the_replay_is_full_when_its_file_reaches_its_final_size_not_at_a_write_spike():
    samples = _samples({"trainer": [500] * 12})
    sizes = [10, 20, 30, 40, 50, 50, 50, 95, 50, 50, 50, 50]      # index 7: old and new file side by side
    for sample, size in zip(samples, sizes):
        sample["replay_bytes"] = size
    assert replay_full_seconds(samples) == 40.0
    for sample in samples:
        sample["replay_bytes"] = 0
    assert replay_full_seconds(samples) is None


def test_a_saved_report_is_read_again_and_a_garbled_one_is_one_line(tmp_path):
    series = _samples({"trainer": [400 + 5 * i for i in range(10)] + [450] * 20, "actor0": [300] * 30})
    for index, sample in enumerate(series):
        sample["replay_bytes"] = min(index, 10) * 100
    saved = {"game": "tictactoe", "run": "test", "run_folder": str(tmp_path), "every_seconds": 10.0,
             "series": series, "disk": {"checkpoint_file_bound": 4, "peak_checkpoint_files": 2,
                                         "peak_checkpoint_mib": 1.0, "last_replay_mib": 0.0}}
    (tmp_path / "soak.json").write_text(json.dumps(saved))
    again = subprocess.run([sys.executable, "-m", "scripts.ponder", "bench", "soak", "--from", str(tmp_path / "soak.json"),
                            "--warmup", "0", "--out", str(tmp_path / "again"), "--json"],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["replay_full_minutes"] == round(100 / 60, 1)          # the trainer's climb ends with the fill
    assert report["memory"]["trainer"]["growth_percent"] > 5 and report["memory_flat"]
    assert report["memory_replay_full"]["trainer"]["growth_percent"] == 0.0
    (tmp_path / "bad.json").write_text("{not json")
    bad = subprocess.run([sys.executable, "-m", "scripts.ponder", "bench", "soak", "--from", str(tmp_path / "bad.json")],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a soak.json" in bad.stderr and bad.stderr.count("\n") == 1


def test_too_few_samples_after_warm_up_report_nothing():
    assert growth(_samples({"x": [1, 2, 3]}), warmup_seconds=0) == {}


@pytest.mark.timeout(300)
def test_a_short_soak_writes_its_report(tmp_path):
    out = tmp_path / "soak"
    run = subprocess.run([sys.executable, "-m", "scripts.ponder", "bench", "soak", "--game", "tictactoe",
                          "--minutes", "0.4", "--every", "1", "--warmup", "0.05", "--out", str(out), "--json",
                          "--set", "trainer.eval_games=0"], cwd=REPO, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-2000:]
    printed = json.loads(run.stdout)
    saved = json.loads((out / "soak.json").read_text())
    assert printed["memory"] == saved["memory"] and "trainer" in saved["memory"]
    assert saved["samples"] == len(saved["series"]) >= 5 and (out / "soak.png").stat().st_size > 0
    assert saved["disk"]["peak_checkpoint_files"] <= saved["disk"]["checkpoint_file_bound"]
    again = subprocess.run([sys.executable, "-m", "scripts.ponder", "bench", "soak", "--game", "tictactoe",
                            "--minutes", "0.4", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr and again.stderr.count("\n") == 1


@pytest.mark.timeout(300)
def test_attach_watches_a_run_it_did_not_start_until_that_run_ends(tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "soak"
    trainer = subprocess.Popen([sys.executable, "-m", "scripts.ponder", "train", "--game", "tictactoe", "--out",
                                str(run_dir), "--minutes", "0.4", "--quiet", "--set", "trainer.eval_games=0"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 150          # the run folder exists once the session has started
        while not (run_dir / "config.toml").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)                        # (slow on a loaded machine: torch's import alone)
        watched = subprocess.run([sys.executable, "-m", "scripts.ponder", "bench", "soak", "--attach", str(trainer.pid),
                                  "--run", str(run_dir), "--every", "1", "--warmup", "0", "--out", str(out), "--json"],
                                 cwd=REPO, capture_output=True, text=True, timeout=280)
        assert watched.returncode == 0, watched.stderr[-2000:]
        assert trainer.wait(timeout=60) == 0       # watching never disturbed the run
    finally:
        trainer.kill()
    saved = json.loads((out / "soak.json").read_text())
    assert saved["run"] == f"attached to pid {trainer.pid}" and "trainer" in saved["memory"]
    assert saved["samples"] == len(saved["series"]) >= 5
    assert saved["series"][-1]["checkpoint_files"] >= 1   # it read the run folder it was given


@pytest.mark.parametrize("flags, message", [
    (["--attach", "999999999", "--run", "."], "not a run folder"),
    (["--attach", "1"], "give --run DIR"),
    (["--minutes", "1"], "give --game"),
    (["--game", "tictactoe", "--attach", "1"], "not allowed with argument"),   # one of the three modes
])
def test_attach_refuses_what_it_cannot_watch_in_one_line(tmp_path, flags, message):
    done = subprocess.run([sys.executable, "-m", "scripts.ponder", "bench", "soak", *flags, "--out", str(tmp_path / "s")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1
