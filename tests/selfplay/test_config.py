"""Run config: presets, TOML round trip, --set overrides with type checking."""
import dataclasses

import pytest

from envs.errors import UsageError
from selfplay import config as run_config


@pytest.mark.parametrize("game", ["tictactoe", "connect_four", "gomoku"])
def test_toml_round_trip_is_exact(tmp_path, game):
    config = run_config.preset(game)
    path = tmp_path / "config.toml"
    run_config.write_toml(config, path)
    assert run_config.read_toml(path) == config


def test_round_trip_keeps_none_and_tuples(tmp_path):
    config = run_config.apply_overrides(run_config.preset("tictactoe"),
                                        ["search.value_bounds=none", "game.options={board_size = 9}"])
    path = tmp_path / "config.toml"
    run_config.write_toml(config, path)
    again = run_config.read_toml(path)
    assert again.search.value_bounds is None
    assert again.game.options == {"board_size": 9}
    restored = run_config.apply_overrides(again, ["search.value_bounds=[-2, 2]"])
    assert restored.search.value_bounds == (-2.0, 2.0)


def test_overrides_are_typed():
    config = run_config.apply_overrides(run_config.preset("tictactoe"),
                                        ["learner.batch_size=64", "search.root=gumbel",
                                         "learner.learning_rate=1", "loss.consistency=true"])
    assert config.learner.batch_size == 64 and isinstance(config.learner.learning_rate, float)
    assert config.search.root == "gumbel" and config.loss.consistency is True


@pytest.mark.parametrize("order", [("board_ends=false", "board_ends_minutes=0"),
                                   ("board_ends_minutes=0", "board_ends=false")])
def test_a_sections_keys_are_checked_together_in_any_order(order, tmp_path):
    """Turning off a setting another key depends on is one change, not a contradiction midway."""
    start = run_config.apply_overrides(run_config.preset("connect_four"),
                                       ["model_fit.board_ends=true", "model_fit.board_ends_minutes=2"])
    config = run_config.apply_overrides(start, [f"model_fit.{assignment}" for assignment in order])
    assert config.model_fit.board_ends is False and config.model_fit.board_ends_minutes == 0
    path = tmp_path / "off.toml"
    path.write_text("[model_fit]\n" + "\n".join(order) + "\n")
    assert run_config.read_toml(path, start).model_fit == config.model_fit
    with pytest.raises(UsageError, match="needs board_ends"):            # still a contradiction when it is one
        run_config.apply_overrides(start, ["model_fit.board_ends=false"])


@pytest.mark.parametrize("assignment, words", [
    ("learner.batch=64", "unknown key learner.batch"),
    ("learners.batch_size=64", "unknown section"),
    ("learner.batch_size=1.5", "expects an integer"),
    ("learner.batch_size=true", "expects an integer"),
    ("learner.learning_rate=fast", "expects a number"),
    ("search.root=beam", "root must be one of"),
    ("search.num_simulations=0", "num_simulations"),
    ("nothing", "expected section.key=value"),
    ("a.b.c=1", "expected section.key=value"),
])
def test_bad_overrides_are_one_line_usage_errors(assignment, words):
    with pytest.raises(UsageError) as caught:
        run_config.apply_overrides(run_config.preset("tictactoe"), [assignment])
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_bad_toml_is_a_usage_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[learner\nbatch_size = 3\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        run_config.read_toml(path)
    path.write_text("[trainer]\nsamples_per_position = \"lots\"\n")
    with pytest.raises(UsageError, match="expects a number"):
        run_config.read_toml(path)
    with pytest.raises(UsageError, match="does not exist"):
        run_config.read_toml(tmp_path / "missing.toml")


def test_toml_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "partial.toml"
    path.write_text("[game]\nname = \"connect_four\"\n[learner]\nbatch_size = 32\n")
    config = run_config.read_toml(path)
    expected = dataclasses.replace(run_config.preset("connect_four"),
                                   learner=dataclasses.replace(run_config.preset("connect_four").learner,
                                                               batch_size=32))
    assert config == expected


def _train_config(*argv):
    import argparse

    from selfplay.train_cli import add_arguments, resolve_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve_config(parser.parse_args(["--out", "/nonexistent/ponder-run", "--game", "tictactoe", *argv])).trainer


def test_a_budget_flag_replaces_the_presets_other_budget_but_keeps_an_explicit_one():
    """Tic-tac-toe's preset has 5 minutes: `--steps` alone drops it; `--set trainer.max_minutes`
    with `--steps` bounds the run twice (a test that hangs then fails on time, not forever)."""
    steps = _train_config("--steps", "7")
    assert (steps.max_steps, steps.max_minutes) == (7, 0.0)
    both = _train_config("--steps", "7", "--set", "trainer.max_minutes=1.5")
    assert (both.max_steps, both.max_minutes) == (7, 1.5)
    minutes = _train_config("--minutes", "2", "--set", "trainer.max_steps=100")
    assert (minutes.max_steps, minutes.max_minutes) == (100, 2.0)
    assert _train_config("--minutes", "2").max_steps == 0
