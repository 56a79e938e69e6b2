"""scripts/checkpoint_curve.py: which checkpoints of a run make the curve, and its cache of matches."""
from pathlib import Path

import selfplay.arena
from scripts.checkpoint_curve import Snapshot, cached_match, thin
from selfplay.arena import MatchSummary


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


def test_a_cached_match_is_played_once_per_checkpoint_and_opponent(tmp_path, monkeypatch):
    played = []

    class Result:
        def __init__(self, summary):
            self.summary = summary

    def fake_match(game, a, b, games, seed=0, workers=None):
        played.append((a, b))
        return Result(MatchSummary("tictactoe", a, b, games, 3, 1, 0, 0.75, (0.4, 1.0), 1.0, 2.0, seed))

    monkeypatch.setattr(selfplay.arena, "play_match", fake_match)
    first, second = snapshots([5.0, 10.0])
    agent = "agent:{}:200:puct"
    summary = cached_match(tmp_path, None, first, agent.format(first.path), "alphabeta:4", 4, 0, 1)
    again = cached_match(tmp_path, None, first, agent.format(first.path), "alphabeta:4", 4, 0, 1)
    assert again == summary and summary.score_ci95 == (0.4, 1.0)
    cached_match(tmp_path, None, second, agent.format(second.path), "alphabeta:4", 4, 0, 1)
    cached_match(tmp_path, None, first, agent.format(first.path), "heuristic", 4, 0, 1)
    cached_match(tmp_path, None, first, agent.format(first.path), "alphabeta:4", 8, 0, 1)
    assert len(played) == 4 and len(list(tmp_path.glob("*.json"))) == 4
    cached_match(None, None, first, agent.format(first.path), "alphabeta:4", 4, 0, 1)   # no cache: always played
    assert len(played) == 5
    other_run = Snapshot(Path("other/step_0.pt"), first.step, first.minutes)   # same step, another run
    cached_match(tmp_path, None, other_run, agent.format(other_run.path), "alphabeta:4", 4, 0, 1)
    assert len(played) == 6
