"""The arena: summaries, alternating colours, reproducibility across worker counts, usage errors."""
import json
import subprocess
import sys

import pytest

import envs
from envs.errors import UsageError
from selfplay.arena import play_match


def test_match_is_seeded_and_independent_of_workers():
    game = envs.get_game("connect_four")
    one = play_match(game, "heuristic", "random", games=12, seed=5, workers=1, batch_size=4)
    two = play_match(game, "heuristic", "random", games=12, seed=5, workers=2, batch_size=4)
    assert [r.moves for r in one.records] == [r.moves for r in two.records]
    assert [r.a_player for r in one.records] == [i % 2 for i in range(12)]
    s = one.summary
    assert s.games == 12 == s.a_wins + s.b_wins + s.draws
    assert s.score_ci95[0] <= s.score <= s.score_ci95[1]


def test_perfect_vs_perfect_all_draws():
    summary = play_match(envs.get_game("tictactoe"), "perfect", "perfect", games=30, workers=1).summary
    assert summary.draws == 30 and summary.score == 0.5


def test_bad_player_raises_usage_error():
    with pytest.raises(UsageError):
        play_match(envs.get_game("tictactoe"), "random", "rollout-mcts:abc", games=2, workers=1)


def test_cli_json_keys_and_exit_codes():
    command = [sys.executable, "-m", "scripts.ponder", "arena", "--game", "tictactoe", "--a", "heuristic",
               "--b", "random", "--games", "10", "--json"]
    out = subprocess.run(command, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("games", "a_wins", "b_wins", "draws", "score", "score_ci95", "ms_per_move_a", "ms_per_move_b"):
        assert key in data
    assert data["games"] == 10 and len(data["score_ci95"]) == 2
    bad = subprocess.run(command[:6] + ["nonsense"] + command[7:], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
