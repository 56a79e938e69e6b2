"""Experiments as files: every game has a base recipe (its preset), recipes inherit, train reproduces one."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from envs.errors import UsageError
from envs.registry import game_names
from selfplay import config as run_config
from selfplay.config import apply_overrides, preset, to_dict
from selfplay.experiments import experiment_names, load_experiment

REPO = Path(__file__).resolve().parents[2]
BUILT_IN = ("tictactoe", "connect_four", "gomoku", "othello", "go")

# the c4-o command of docs/notebook.md, flag by flag
C4O_FLAGS = ["search.model=rules", "learner.precision=bf16", "trainer.samples_per_position=8",
             "learner.decay_steps=24000", "replay.root_value_weight=0.5", "actor.random_opening_fraction=0.15",
             "actor.random_opening_moves=4", "loss.unroll_steps=0", "loss.consistency=false", "actor.num_actors=2",
             "trainer.keep_checkpoints=1000", "trainer.max_minutes=118", "trainer.seed=0"]


def test_every_built_in_game_has_a_base_recipe_that_is_its_preset():
    assert set(BUILT_IN) <= set(game_names())
    for game in BUILT_IN:
        base = load_experiment(f"{game}/base")
        assert base.inherits is None and base.config.game.name == game
        assert to_dict(preset(game)) == to_dict(base.config)
    assert preset("tictactoe").trainer.max_minutes == 5.0 and preset("tictactoe").network.channels == 64
    assert preset("connect_four").loss.consistency and preset("connect_four").replay.symmetries == "mirror"


def test_the_shipped_recipe_is_the_documented_command():
    c4o = load_experiment("connect_four/c4-o")
    assert c4o.inherits == "connect_four/base"
    assert to_dict(c4o.config) == to_dict(apply_overrides(preset("connect_four"), C4O_FLAGS))
    assert c4o.benchmark.opponents == ("alphabeta:4", "rollout-mcts:1000") and c4o.benchmark.games == 140
    c4p = load_experiment("connect_four/c4-p")
    assert c4p.inherits == "connect_four/c4-o" and c4p.config.search.model == "rules"
    assert c4p.config.network.action_heads and c4p.config.loss.unroll_steps == 5


def test_every_recipe_passes_the_config_checks_and_a_contradiction_is_one_line():
    for name in experiment_names():
        run_config.check_trainable(load_experiment(name).config)      # UsageError would fail here
    contradictory = apply_overrides(preset("connect_four"), ["loss.unroll_steps=0", "search.model=learned"])
    with pytest.raises(UsageError, match="unroll_steps=0 trains no dynamics network") as error:
        run_config.check_trainable(contradictory)
    assert "\n" not in str(error.value)


def test_a_symmetry_the_game_cannot_take_is_refused_before_training():
    run_config.check_trainable(apply_overrides(preset("othello"), ["replay.symmetries=dihedral"]))  # cells + pass
    with pytest.raises(UsageError, match="replay.symmetries=dihedral does not fit connect_four") as error:
        run_config.check_trainable(apply_overrides(preset("connect_four"), ["replay.symmetries=dihedral"]))
    assert "\n" not in str(error.value)


def test_names_list_bases_first():
    names = experiment_names()
    assert names.index("connect_four/base") < names.index("connect_four/c4-o")
    assert all(f"{game}/base" in names for game in BUILT_IN)


def _recipes(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return lambda: tmp_path


@pytest.mark.parametrize("files, name, message", [
    ({"tictactoe/base": ""}, "tictactoe/nope", "unknown experiment"),
    ({"tictactoe/base": "", "tictactoe/a": "[experiment]\ninherits = 'b'\n",
      "tictactoe/b": "[experiment]\ninherits = 'a'\n"}, "tictactoe/a", "inheritance loops"),
    ({"tictactoe/base": "[learner]\nbatch_sise = 3\n"}, "tictactoe/base", "unknown key learner.batch_sise"),
    ({"tictactoe/base": "[experiment]\ncolour = 'red'\n"}, "tictactoe/base", "unknown \\[experiment\\] key"),
    ({"tictactoe/base": "[benchmark]\ngame = 3\n"}, "tictactoe/base", "unknown benchmark key"),
    ({"tictactoe/base": "[benchmark]\ngames = 'many'\n"}, "tictactoe/base", "benchmark.games expects an integer"),
    ({"tictactoe/base": "[learner\n"}, "tictactoe/base", "not valid TOML"),
    ({"tictactoe/base": "[game]\nname = 'connect_four'\n"}, "tictactoe/base", "not 'tictactoe'"),
])
def test_a_bad_recipe_is_one_line(tmp_path, monkeypatch, files, name, message):
    monkeypatch.setattr(run_config, "recipes_folder", _recipes(tmp_path, files))
    with pytest.raises(UsageError, match=message) as error:
        load_experiment(name)
    assert "\n" not in str(error.value)


def test_a_recipe_without_a_benchmark_is_measured_as_its_nearest_ancestor(tmp_path, monkeypatch):
    monkeypatch.setattr(run_config, "recipes_folder", _recipes(tmp_path, {
        "tictactoe/base": "", "tictactoe/a": "[benchmark]\nsims = 32\nopponents = ['perfect']\n",
        "tictactoe/b": "[experiment]\ninherits = 'a'\n", "tictactoe/c": "[experiment]\ninherits = 'b'\n",
        "tictactoe/d": "[experiment]\ninherits = 'c'\n[benchmark]\nsims = 8\n"}))
    assert load_experiment("tictactoe/base").benchmark is None
    assert load_experiment("tictactoe/c").benchmark == load_experiment("tictactoe/a").benchmark
    assert load_experiment("tictactoe/c").benchmark.sims == 32
    assert load_experiment("tictactoe/d").benchmark.sims == 8 and load_experiment("tictactoe/d").benchmark.opponents == ()


def test_train_starts_from_the_recipe_and_flags_apply_on_top(tmp_path):
    from selfplay.train_cli import add_arguments, resolve_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--experiment", "connect_four/c4-o", "--out", str(tmp_path / "run"),
                              "--set", "learner.batch_size=128", "--steps", "10"])
    config = resolve_config(args)
    expected = load_experiment("connect_four/c4-o").config
    assert config.search.model == "rules" and config.loss.unroll_steps == 0 and config.learner.batch_size == 128
    assert config.trainer.max_steps == 10 and config.trainer.max_minutes == 0.0
    assert config.replay == expected.replay and config.actor == expected.actor


def test_ponder_experiments_lists_them():
    listed = subprocess.run([sys.executable, "-m", "scripts.ponder", "experiments", "--json"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["experiments"]}
    assert rows["connect_four/c4-o"]["config"]["search"]["model"] == "rules"
    assert rows["connect_four/c4-o"]["benchmark"]["roots"] == ["puct+rules"]
