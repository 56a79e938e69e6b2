"""Baseline players (strength, legality, parsing) and the gomoku/othello rules."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.errors import UsageError
from envs.gym_bridge import GameVsPlayerEnv
from envs.othello import placements
from envs.players import parse_player
from envs.tictactoe_solver import optimal_actions, reachable_positions


def _score(game, player_a, player_b, games):
    total = 0.0
    for index in range(games):
        order = [player_a, player_b] if index % 2 == 0 else [player_b, player_a]
        state = game.initial_state()
        while not state.is_terminal():
            state = state.play(order[state.to_play].act_batch([state])[0])
        winner = state.winner()
        total += 0.5 if winner is None else float(order[winner] is player_a)
    return total / games


def test_perfect_draws_itself_and_never_loses():
    game = envs.get_game("tictactoe")
    assert _score(game, parse_player("perfect", game, 1), parse_player("perfect", game, 2), 40) == 0.5
    assert _score(game, parse_player("perfect", game, 1), parse_player("random", game, 2), 60) > 0.75
    assert min(_score(game, parse_player("perfect", game, 3), parse_player("random", game, s), 2) for s in range(30)) >= 0.5


def test_solver_reachable_positions_and_known_values():
    positions = reachable_positions()
    assert len(positions) == 4520 and len({p.key() for p in positions}) == 4520
    game = envs.get_game("tictactoe")
    # X in a corner, O on an edge next to it: X wins, and the centre is among the winning moves.
    state = game.state_from_actions([0, 1])
    assert 4 in optimal_actions(state)
    # X threatens 0-3-6... O must block at square 6.
    assert optimal_actions(game.state_from_actions([0, 4, 3])) == {6}


def test_alphabeta_full_depth_is_exact_at_tictactoe():
    game = envs.get_game("tictactoe")
    player = parse_player("alphabeta:9", game, 0)
    for state in reachable_positions()[::97]:
        assert player.act_batch([state])[0] in optimal_actions(state)


@pytest.mark.parametrize("spec", ["heuristic", "alphabeta:2", "rollout-mcts:50"])
def test_players_take_immediate_wins_and_block(spec):
    game = envs.get_game("connect_four")
    player = parse_player(spec, game, 0)
    # Player 0 has three in column 0 (actions 0,1,0,1,0): playing 0 wins.
    assert player.act_batch([game.state_from_actions([0, 1, 0, 1, 0, 1])])[0] == 0
    if spec != "rollout-mcts:50":
        # Player 1 to move must block column 0.
        assert player.act_batch([game.state_from_actions([0, 1, 0, 1, 0])])[0] == 0


def test_heuristic_beats_random_and_mcts_beats_heuristic_at_connect_four():
    game = envs.get_game("connect_four")
    assert _score(game, parse_player("heuristic", game, 1), parse_player("random", game, 2), 60) > 0.85
    assert _score(game, parse_player("rollout-mcts:300", game, 1), parse_player("heuristic", game, 2), 6) > 0.8


@pytest.mark.parametrize("spec", ["", "mcts", "random:3", "alphabeta", "alphabeta:x", "rollout-mcts:0", "perfect:1"])
def test_garbled_player_strings(spec):
    with pytest.raises(UsageError):
        parse_player(spec, envs.get_game("tictactoe"), 0)


def test_perfect_only_for_tictactoe():
    with pytest.raises(UsageError):
        parse_player("perfect", envs.get_game("connect_four"), 0)


def test_gomoku_win_length_and_draw():
    game = envs.get_game("gomoku", board_size=5, win_length=4)
    state = game.state_from_actions([0, 5, 6, 10, 12, 15, 18])  # a diagonal of four for the first player
    assert state.is_terminal() and state.winner() == 0
    state = game.state_from_actions([0, 5, 1, 6, 2, 7])
    assert state.winning_actions() == [3] and state.threat_actions() == [8]


def _naive_placements(board, piece):
    size = board.shape[0]
    legal = np.zeros_like(board, dtype=bool)
    for r in range(size):
        for c in range(size):
            if board[r, c]:
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if dr == dc == 0:
                        continue
                    rr, cc, seen = r + dr, c + dc, 0
                    while 0 <= rr < size and 0 <= cc < size and board[rr, cc] == 3 - piece:
                        rr, cc, seen = rr + dr, cc + dc, seen + 1
                    if seen and 0 <= rr < size and 0 <= cc < size and board[rr, cc] == piece:
                        legal[r, c] = True
    return legal


@pytest.mark.parametrize("size", [6, 8])
def test_othello_moves_match_a_naive_rule_check(size):
    game = envs.get_game("othello", board_size=size)
    rng = np.random.default_rng(size)
    passes = 0
    for _ in range(15):
        state = game.initial_state()
        while not state.is_terminal():
            piece = state.to_play + 1
            expected = _naive_placements(state.board, piece)
            np.testing.assert_array_equal(placements(state.board == piece, state.board == 3 - piece), expected)
            mask = state.legal_mask()
            if not expected.any():
                assert mask[-1] and mask.sum() == 1
                passes += 1
            action = int(rng.choice(np.flatnonzero(mask)))
            state = state.play(action)
        assert not _naive_placements(state.board, 1).any() and not _naive_placements(state.board, 2).any()
    assert game.initial_state().legal_mask().sum() == 4


@pytest.mark.parametrize("name,opponent", [("tictactoe", "perfect"), ("connect_four", "heuristic"), ("othello", "random")])
def test_gym_bridge_passes_check_env(name, opponent):
    env = GameVsPlayerEnv(name, opponent, learner_player=None, render_mode="ansi")
    check_env(env, skip_render_check=False)
    observation, info = env.reset(seed=1)
    assert observation["observation"].shape == envs.get_game(name).observation_shape
    total = 0.0
    for _ in range(20):
        observation, _ = env.reset()
        done = False
        while not done:
            action = int(np.flatnonzero(observation["action_mask"])[0])
            observation, reward, done, _, _ = env.step(action)
        total += reward
    if name == "tictactoe":
        assert total <= 0  # nobody beats the perfect player


def test_action_ends_agree_with_playing_every_move():
    """`State.action_ends`: the native fast versions (tic-tac-toe, Connect Four) and the games
    using the default (Othello with its passes, Gomoku) against playing each legal action."""
    import numpy as np
    from hypothesis import given, settings, strategies as st

    from envs import get_game
    from envs.game import END_DRAW, END_LOSS, END_NONE, END_WIN, State

    def check(game, seed):
        rng = np.random.default_rng(seed)
        state = game.initial_state()
        while not state.is_terminal():
            ends = state.action_ends()
            assert ends.dtype == np.int8 and ends.shape == (game.num_actions,)
            legal = state.legal_mask()
            assert (ends[~legal] == END_NONE).all()
            for action in np.flatnonzero(legal):
                after = state.play(int(action))
                if not after.is_terminal():
                    assert ends[action] == END_NONE
                elif after.winner() is None:
                    assert ends[action] == END_DRAW
                else:
                    assert ends[action] == (END_WIN if after.winner() == state.to_play else END_LOSS)
            assert (ends == State.action_ends(state)).all()
            state = state.play(int(rng.choice(np.flatnonzero(legal))))

    games = [get_game("tictactoe"), get_game("connect_four"), get_game("othello:board_size=6"),
             get_game("gomoku:board_size=7,win_length=4")]

    @settings(max_examples=25, deadline=None)
    @given(index=st.integers(0, len(games) - 1), seed=st.integers(0, 2**32 - 1))
    def run(index, seed):
        check(games[index], seed)

    run()


def test_a_full_board_ends_in_a_draw_label():
    from envs import get_game
    from envs.game import END_DRAW

    game = get_game("tictactoe")
    state = game.state_from_actions([0, 4, 8, 1, 7, 6, 2, 5])      # one square left, no line
    ends = state.action_ends()
    assert ends[3] == END_DRAW and ends.sum() == END_DRAW
