"""Game options written on the name (`--game gomoku:board_size=9`)."""
import pytest

import envs
from envs.errors import UsageError
from envs.registry import split_game_spec


def test_split_game_spec_parses_typed_options():
    assert split_game_spec("gomoku:board_size=9,win_length=4") == ("gomoku", {"board_size": 9, "win_length": 4})
    assert split_game_spec("connect_four") == ("connect_four", {})
    assert split_game_spec("mypkg.games:make_env") == ("mypkg.games:make_env", {})


def test_options_on_the_name_reach_the_game():
    game = envs.get_game("gomoku:board_size=9,win_length=5")
    assert game.num_actions == 81
    assert game.observation_shape[1:] == (9, 9)


@pytest.mark.parametrize("spec", ["gomoku:board_size=", "gomoku:=9", "gomoku:size=9", "gomoku:board_size=x"])
def test_garbled_options_are_usage_errors(spec):
    with pytest.raises(UsageError):
        envs.get_game(spec)
