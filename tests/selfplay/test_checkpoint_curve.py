"""scripts/checkpoint_curve.py: which checkpoints of a run make the curve."""
from pathlib import Path

from scripts.checkpoint_curve import Snapshot, thin


def snapshots(minutes):
    return [Snapshot(Path(f"step_{i}.pt"), i, m) for i, m in enumerate(minutes)]


def test_thin_keeps_the_first_checkpoint_past_each_mark_and_the_last():
    run = snapshots([5.0, 10.0, 15.1, 20.0, 30.2, 33.0])
    kept = [s.minutes for s in thin(run, 15.0)]
    assert kept == [5.0, 15.1, 30.2, 33.0]


def test_thin_with_no_interval_keeps_everything_and_handles_empty():
    run = snapshots([1.0, 2.0])
    assert thin(run, 0.0) == run
    assert thin([], 10.0) == []
