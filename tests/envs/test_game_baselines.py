"""`alphabeta:D`'s game knowledge for Othello and Gomoku: ``evaluate`` and ``search_actions``.

Static values in (-1, 1) with the right signs and symmetries, move lists that hold the wins
(and in Gomoku only the neighbourhood of the stones), stable discs that never flip, and
shallow searches that take wins and corners, block, and beat random play.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import envs
from envs.alphabeta import AlphaBetaPlayer
from envs.othello import OthelloState, _to_bits, stable_bits
from envs.players import parse_player

GOMOKU = "gomoku:board_size=9,win_length=5"


def _othello(rows: list[str], to_play: int = 0) -> OthelloState:
    """An Othello position from text rows (X black = player 0, O white, . empty), row 0 on top."""
    board = np.array([[".XO".index(char) for char in row] for row in rows], dtype=np.int8)
    history = (len(rows) ** 2,) * to_play   # a pass (or none): only the parity of the history counts
    return OthelloState(len(rows), board, history)


def _swapped(state: OthelloState, to_play: int) -> OthelloState:
    board = state.board.copy()
    board[state.board == 1], board[state.board == 2] = 2, 1
    return OthelloState(state.size, board, (state.size ** 2,) * to_play)


def _gomoku(points: dict[int, str], to_play: int) -> "envs.gomoku.GomokuState":
    """A 9x9 five-in-a-row position from {action: "X" or "O"} with ``to_play`` to move."""
    from envs.gomoku import GomokuState

    board = np.zeros((9, 9), dtype=np.int8)
    for action, mark in points.items():
        board.flat[action] = "XO".index(mark) + 1
    return GomokuState(9, 5, board, (0,) * (int((board != 0).sum()) // 2 * 2 + to_play))


def _random_states(game, seed: int, limit: int = 200):
    rng = np.random.default_rng(seed)
    state = game.initial_state()
    states = [state]
    while not state.is_terminal() and len(states) < limit:
        state = state.play(int(rng.choice(state.legal_actions())))
        states.append(state)
    return states


OTHELLO_CORNERS = ["X......X",
                   "........",
                   "...O....",
                   "...OO...",
                   "...OX...",
                   "....O...",
                   "........",
                   "X......X"]


def test_othello_evaluate_signs_and_symmetry():
    corners = _othello(OTHELLO_CORNERS, to_play=0)
    assert 0 < corners.evaluate() < 1                       # all four corners beat two more discs
    assert -1 < _othello(OTHELLO_CORNERS, to_play=1).evaluate() < 0
    for state in _random_states(envs.get_game("othello"), 3)[:-1:5]:
        value = state.evaluate()
        # the same board with the other side to move: exactly the negative ...
        assert _othello_flip_mover(state).evaluate() == pytest.approx(-value, abs=1e-12)
        # ... and colours swapped with the other side to move: the same position, the same value
        assert _swapped(state, 1 - state.to_play).evaluate() == pytest.approx(value, abs=1e-12)
    x_square = _othello(["........", ".X......", "..XO....", "...XO...", "...OX...",
                         "........", "........", "........"], to_play=0)
    safe = _othello(["........", "........", "..XO....", "...XO...", "...OX...",
                     "........", "........", "........"], to_play=0)
    assert x_square.evaluate() < safe.evaluate()            # an X-square next to an empty corner costs


def _othello_flip_mover(state: OthelloState) -> OthelloState:
    return OthelloState(state.size, state.board.copy(), (state.size ** 2,) * (1 - state.to_play))


def test_othello_search_actions_orders_legal_moves():
    game = envs.get_game("othello")
    for state in _random_states(game, 5)[:-1]:
        actions = state.search_actions()
        assert sorted(actions) == state.legal_actions()
        corners = [a for a in actions if a in (0, 7, 56, 63)]
        assert actions[:len(corners)] == corners            # corners first
    # black can take a8 (flipping b8) or play in the centre
    state = _othello([".OX.....", "........", "........", "...OX...", "...XO...",
                      "........", "........", "........"], to_play=0)
    assert state.search_actions()[0] == 0
    assert AlphaBetaPlayer(2, seed=0).act(state) == 0
    # only a pass is legal: the hook says so
    passing = _othello(["XXXXXXXX"] * 7 + ["XXXXXXO."], to_play=1)
    assert passing.legal_actions() == [64] and passing.search_actions() == [64]


def test_othello_stable_discs_never_flip():
    game = envs.get_game("othello:board_size=6")
    for seed in range(6):
        states = _random_states(game, seed)
        for index, state in enumerate(states):
            occupied = _to_bits(state.board != 0)
            for piece in (1, 2):
                stable = stable_bits(_to_bits(state.board == piece), occupied, state.size)
                cells = [i for i in range(state.size ** 2) if stable >> i & 1]
                for later in states[index + 1:]:
                    assert (later.board.reshape(-1)[cells] == piece).all()
        final = states[-1]
        if final.is_terminal():   # a full board: every disc is stable
            occupied = _to_bits(final.board != 0)
            if occupied == (1 << 36) - 1:
                assert stable_bits(_to_bits(final.board == 1), occupied, 6) == _to_bits(final.board == 1)


def test_gomoku_evaluate_signs_and_symmetry():
    row = 4 * 9
    # player 0 to move with an open four (c5-f5): a win next move
    open_four = _gomoku({row + 2: "X", row + 3: "X", row + 4: "X", row + 5: "X",
                         0: "O", 8: "O", 72: "O", 80: "O"}, to_play=0)
    assert open_four.evaluate() > 0.9
    # player 1 to move facing X's open three, O's stones scattered: negative
    open_three = _gomoku({row + 3: "X", row + 4: "X", row + 5: "X", 0: "O", 80: "O"}, to_play=1)
    assert -1 < open_three.evaluate() < 0
    # the same three with its owner to move: positive, and more than the defender loses
    own_three = _gomoku({row + 3: "X", row + 4: "X", row + 5: "X", 0: "O", 80: "O"}, to_play=0)
    assert own_three.evaluate() > -open_three.evaluate() > 0
    # two ways to five for the opponent: lost
    two_threats = _gomoku({row + 2: "X", row + 3: "X", row + 4: "X", row + 5: "X", 0: "O", 8: "O", 80: "O"}, to_play=1)
    assert two_threats.evaluate() < -0.9
    game = envs.get_game(GOMOKU)
    for state in _random_states(game, 7)[:-1:3]:
        swapped = state.board.copy()
        swapped[state.board == 1], swapped[state.board == 2] = 2, 1
        from envs.gomoku import GomokuState

        mirror = GomokuState(9, 5, swapped, (0,) * (len(state.history) + 1))
        assert mirror.to_play == 1 - state.to_play
        assert mirror.evaluate() == pytest.approx(state.evaluate(), abs=1e-12)


def _near(state, distance: int = 2) -> set[int]:
    size = state.size
    stones = np.argwhere(state.board != 0)
    return {r * size + c for r in range(size) for c in range(size) if state.board[r, c] == 0
            and any(max(abs(r - sr), abs(c - sc)) <= distance for sr, sc in stones)}


def test_gomoku_search_actions_wins_blocks_and_neighbourhood():
    game = envs.get_game(GOMOKU)
    assert game.initial_state().search_actions() == [40]
    checked_wins = checked_blocks = 0
    for seed in range(4):
        for state in _random_states(game, seed)[:-1]:
            actions = state.search_actions()
            assert len(set(actions)) == len(actions) and set(actions) <= set(state.legal_actions())
            wins, threats = state.winning_actions(), state.threat_actions()
            if wins:
                assert set(actions) == set(wins)
                checked_wins += 1
            elif threats:
                assert set(actions) == set(threats)
                checked_blocks += 1
            elif len(state.history):
                assert set(actions) == _near(state)
    assert checked_wins and checked_blocks


@pytest.mark.parametrize("depth", [2, 3])
def test_gomoku_alphabeta_wins_and_blocks(depth):
    row = 4 * 9
    player = AlphaBetaPlayer(depth, seed=0)
    # X to move with four in a row (a closed four: one winning point, f5 = row + 5)
    closed = {row + 1: "X", row + 2: "X", row + 3: "X", row + 4: "X", row: "O", 0: "O", 80: "O"}
    assert player.act(_gomoku(closed, to_play=0)) == row + 5
    # O to move must block that point
    closed_o = {row + 1: "X", row + 2: "X", row + 3: "X", row + 4: "X", row: "O", 0: "O"}
    assert player.act(_gomoku(closed_o, to_play=1)) == row + 5
    # O to move against an open three (d5-f5) must close one end (c5 or g5): after any other
    # move X makes an open four
    three = {row + 3: "X", row + 4: "X", row + 5: "X", 0: "O", 80: "O"}
    assert player.act(_gomoku(three, to_play=1)) in (row + 2, row + 6)


def test_gomoku_alphabeta_beats_random():
    game = envs.get_game(GOMOKU)
    searcher, random_player = parse_player("alphabeta:2", game, 1), parse_player("random", game, 2)
    for first in (0, 1):
        order = (searcher, random_player) if first == 0 else (random_player, searcher)
        state = game.initial_state()
        while not state.is_terminal():
            state = state.play(order[state.to_play].act_batch([state])[0])
        assert state.winner() == first


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(["othello", "othello:board_size=6", GOMOKU, "gomoku:board_size=7,win_length=4"]),
       seed=st.integers(0, 2**32 - 1))
def test_evaluate_stays_inside_the_open_interval(name, seed):
    game = envs.get_game(name)
    for state in _random_states(game, seed):
        value = state.evaluate()
        assert np.isfinite(value) and -1 < value < 1
        if not state.is_terminal():
            actions = state.search_actions()
            assert actions and set(actions) <= set(state.legal_actions())
            assert set(state.winning_actions()) <= set(actions)
