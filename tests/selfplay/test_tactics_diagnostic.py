"""scripts/tactics_diagnostic.py: which positions count as win-now and must-block, and the hit rate."""
import math

from envs.registry import get_game
from scripts.tactics_diagnostic import hit_rate, random_game_positions, tactical_positions


def test_positions_are_sorted_by_the_tactic_they_need():
    game = get_game("connect_four")
    can_win = game.state_from_actions([0, 6, 0, 6, 0, 5])          # first player: three in column 0
    must_block = game.state_from_actions([0, 6, 0, 6, 0])          # second player: block column 0
    quiet = game.state_from_actions([3])
    positions = tactical_positions([can_win, must_block, quiet])
    assert positions.win_now == [can_win] and positions.winning == [{0}]
    assert positions.must_block == [must_block] and positions.blocking == [{0}]


def test_random_games_yield_the_asked_number_of_win_now_positions_reproducibly():
    game = get_game("connect_four")
    first = random_game_positions(game, 20, seed=3)
    assert sum(bool(state.winning_actions()) for state in first) == 20
    assert [state.history for state in first] == [state.history for state in random_game_positions(game, 20, seed=3)]


def test_hit_rate_counts_actions_among_the_targets():
    assert hit_rate([0, 2, 5], [{0}, {1, 3}, {5, 6}]) == 2 / 3
    assert math.isnan(hit_rate([], []))
