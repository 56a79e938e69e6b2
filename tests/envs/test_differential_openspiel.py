"""Differential test: the native Othello and Gomoku against OpenSpiel's (an independent C++ implementation).

PettingZoo has neither game, so OpenSpiel's `othello` and `gomoku` (whose `connect` is "five or
more", free-style like ours) are the reference. Random games are played in lock-step on both;
at every step the player to move, the legal actions (Othello's pass is action size * size in
both), the board and the end must agree, and at the end the winner. Both games share the
action numbering (row-major from the top-left point), so no mapping is needed.
"""
import numpy as np
import pytest

import envs

pyspiel = pytest.importorskip("pyspiel", reason="open_spiel is in the test extras; no wheel for this platform")

OTHELLO_GAMES = 600
GOMOKU_GAMES = 600


def _play_lockstep(reference_game, game, rng, board_of) -> int:
    """One random game on both; returns its length in plies."""
    reference = reference_game.new_initial_state()
    state = game.initial_state()
    plies = 0
    while not state.is_terminal():
        assert not reference.is_terminal()
        assert reference.current_player() == state.to_play
        assert reference.legal_actions() == state.legal_actions()
        np.testing.assert_array_equal(board_of(reference, state.size), state.board)
        action = int(rng.choice(state.legal_actions()))
        reference.apply_action(action)
        state = state.play(action)
        plies += 1
    assert reference.is_terminal()
    np.testing.assert_array_equal(board_of(reference, state.size), state.board)
    returns = reference.returns()
    winner = state.winner()
    assert returns == ([0.0, 0.0] if winner is None else [1.0 if p == winner else -1.0 for p in (0, 1)])
    return plies


def _othello_board(reference, size: int) -> np.ndarray:
    """OpenSpiel's Othello tensor for player 0 is [empty, player 0's discs, player 1's]: as our 0/1/2."""
    planes = np.asarray(reference.observation_tensor(0)).reshape(3, size, size)
    return (planes[1] + 2 * planes[2]).astype(np.int8)


def _gomoku_board(reference, size: int) -> np.ndarray:
    """OpenSpiel's Gomoku observation string: a header line, then one row per line, 'b' / 'w' / '.'."""
    rows = reference.observation_string(0).strip().splitlines()[-size:]
    codes = {".": 0, "b": 1, "w": 2}
    return np.array([[codes[c] for c in row] for row in rows], dtype=np.int8)


def test_othello_matches_openspiel():
    game, reference_game = envs.get_game("othello"), pyspiel.load_game("othello")
    rng = np.random.default_rng(26)
    plies = [_play_lockstep(reference_game, game, rng, _othello_board) for _ in range(OTHELLO_GAMES)]
    assert max(plies) > 60   # passes occurred: 60 placements fill the board


@pytest.mark.parametrize("size,win_length", [(9, 5), (15, 5), (6, 4)])
def test_gomoku_matches_openspiel(size, win_length):
    game = envs.get_game("gomoku", board_size=size, win_length=win_length)
    reference_game = pyspiel.load_game("gomoku", {"size": size, "connect": win_length})
    rng = np.random.default_rng(size * 10 + win_length)
    count = GOMOKU_GAMES if size == 9 else GOMOKU_GAMES // 6
    plies = [_play_lockstep(reference_game, game, rng, _gomoku_board) for _ in range(count)]
    assert min(plies) < size * size   # some games were won before the board filled
