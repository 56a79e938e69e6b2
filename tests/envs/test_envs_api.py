"""Every built-in env passes PettingZoo's api_test; registry, options, coordinates and ansi boards."""
import subprocess
import sys
import json

import numpy as np
import pytest
from pettingzoo.test import api_test

import envs
from envs.errors import UsageError

BUILT_IN = [("tictactoe", {}), ("connect_four", {}), ("gomoku", {"board_size": 9}), ("gomoku", {}),
            ("othello", {}), ("othello", {"board_size": 6}), ("go", {})]


@pytest.mark.parametrize("name,options", BUILT_IN)
def test_api_test(name, options):
    api_test(envs.make(name, **options), num_cycles=200)


@pytest.mark.parametrize("name,options", BUILT_IN)
def test_ansi_render_has_coordinates(name, options):
    env = envs.make(name, render_mode="ansi", **options)
    env.reset()
    text = env.render()
    assert isinstance(text, str) and ("1" in text)
    if name in ("gomoku", "othello", "go"):
        assert "a" in text.split("\n")[0]


def test_game_names_and_unknown_game():
    assert envs.game_names()[:5] == ["tictactoe", "connect_four", "gomoku", "othello", "go"]
    with pytest.raises(UsageError):
        envs.get_game("chess")
    with pytest.raises(UsageError):
        envs.get_game("gomoku", board_sise=9)
    with pytest.raises(UsageError):
        envs.get_game("no_such_module_xyz:factory")


def test_register_module_factory():
    game = envs.get_game("pettingzoo.classic.tictactoe_v3:env")
    assert game.num_actions == 9 and game.observation_shape == (2, 3, 3)
    state = game.state_from_actions([0, 1, 3, 2, 6])
    assert state.is_terminal() and state.winner() == 0 and state.outcome() == -1.0
    native = envs.get_game("tictactoe").state_from_actions([0, 1, 3, 2])
    generic = game.state_from_actions([0, 1, 3, 2])
    np.testing.assert_array_equal(native.planes(), generic.planes())
    np.testing.assert_array_equal(native.legal_mask(), generic.legal_mask())


@pytest.mark.parametrize("name,text,action", [("tictactoe", "1", 0), ("tictactoe", "2", 3), ("tictactoe", "4", 1),
                                              ("connect_four", "4", 3), ("gomoku", "a15", 0), ("gomoku", "o1", 224),
                                              ("othello", "pass", 64), ("othello", "d4", 27), ("go", "j1", 80),
                                              ("go", "pass", 81)])
def test_text_coordinates_round_trip(name, text, action):
    game = envs.get_game(name)
    assert game.text_to_action(text) == action
    assert game.action_to_text(action) == text


def test_othello_speaks_its_own_notation():
    """Row 1 at the top, as Othello players write it: d4 and e5 white, black opens at d3, c4, f5, e6."""
    game = envs.get_game("othello")
    state = game.initial_state()
    assert sorted(game.action_to_text(a) for a in state.legal_actions()) == ["c4", "d3", "e6", "f5"]
    assert state.board[game.text_to_action("d4") // 8, 3] == 2 and state.board[4, 4] == 2
    text = state.render()
    assert text.splitlines()[1].startswith("1 ") and text.endswith("X (black) 2, O (white) 2 · X to move: c4 d3 e6 f5")
    assert text.count("*") == 4


@pytest.mark.parametrize("name,text", [("tictactoe", "0"), ("connect_four", "8"), ("connect_four", "x"),
                                       ("gomoku", "z9"), ("othello", "a9"), ("go", "i5"), ("go", "")])
def test_garbled_coordinates_raise_usage_error(name, text):
    with pytest.raises(UsageError):
        envs.get_game(name).text_to_action(text)


def test_state_from_actions_rejects_illegal():
    game = envs.get_game("connect_four")
    with pytest.raises(UsageError):
        game.state_from_actions([0] * 7)
    with pytest.raises(ValueError):
        game.initial_state().play(9)


def test_game_pickles_by_name():
    import pickle

    game = envs.get_game("gomoku", board_size=9, win_length=4)
    clone = pickle.loads(pickle.dumps(game))
    assert clone.options == {"board_size": 9, "win_length": 4} and clone.num_actions == 81


def test_ponder_games_json_and_unknown_game_exit_2():
    out = subprocess.run([sys.executable, "-m", "scripts.ponder", "games", "--json"], capture_output=True, text=True)
    assert out.returncode == 0
    names = [row["name"] for row in json.loads(out.stdout)["games"]]
    assert {"tictactoe", "connect_four", "gomoku", "othello", "go"} <= set(names)
    bad = subprocess.run([sys.executable, "-m", "scripts.ponder", "arena", "--game", "chess", "--a", "random",
                          "--b", "random"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
