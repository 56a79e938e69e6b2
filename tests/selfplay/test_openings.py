"""Evaluation games start from seeded random openings, in colour-swapped pairs."""
import pytest

from envs.errors import UsageError
from envs.registry import get_game
from selfplay.arena import play_games, summarize
from selfplay.openings import default_opening_plies, random_openings


class FirstLegalMove:
    """A deterministic player: two of them from one position always play the same game."""

    name = "first-legal"

    def act_batch(self, states):
        return [int(state.legal_actions()[0]) for state in states]


def test_openings_are_seeded_distinct_and_leave_the_game_going():
    game = get_game("connect_four")
    openings = random_openings(game, 20, 2, seed=3)
    assert openings == random_openings(game, 20, 2, seed=3)
    assert openings != random_openings(game, 20, 2, seed=4)
    assert len(set(openings)) == 20 and all(len(moves) == 2 for moves in openings)
    assert not any(game.state_from_actions(moves).is_terminal() for moves in openings)


def test_more_pairs_than_openings_repeat_rather_than_fail():
    game = get_game("tictactoe")
    openings = random_openings(game, 12, 1, seed=0)
    assert len(set(openings)) == 9 and default_opening_plies(game) == 1


def test_bad_opening_lengths_are_usage_errors():
    game = get_game("tictactoe")
    with pytest.raises(UsageError):
        random_openings(game, 1, -1, seed=0)
    with pytest.raises(UsageError, match="ended the game"):
        random_openings(game, 1, 9, seed=0)          # every 9-ply tic-tac-toe game is over


def test_deterministic_players_play_different_games_from_different_openings():
    game = get_game("connect_four")
    from_the_empty_board = play_games(game, FirstLegalMove(), FirstLegalMove(), range(8))
    assert summarize(from_the_empty_board, game.name, "a", "b", 0).distinct_games == 2

    openings = random_openings(game, 4, 2, seed=0)
    records = play_games(game, FirstLegalMove(), FirstLegalMove(), range(8), openings)
    assert summarize(records, game.name, "a", "b", 0, 2).distinct_games == 8
    for even, odd in zip(records[0::2], records[1::2]):
        assert even.moves[:2] == odd.moves[:2] == openings[even.index // 2]
        assert even.opening_plies == 2 and even.a_moves + even.b_moves == len(even.moves) - 2
        after_opening = game.state_from_actions(even.moves[:2]).to_play
        assert even.a_player == after_opening and odd.a_player == 1 - after_opening   # A first, then second
