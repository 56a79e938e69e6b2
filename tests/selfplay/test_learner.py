"""The learner's mixed precision: bfloat16 autocast of the loss, float32 weights and optimizer."""
import numpy as np
import pytest
import torch

from agent.networks import MuZeroNetwork
from envs.errors import UsageError
from selfplay import config as run_config
from selfplay.learner import Learner, resolve_precision
from selfplay.replay import Replay
from tests.selfplay.test_replay import DRAW, FIRST_PLAYER_WINS, GAME, SECOND_PLAYER_WINS, history_of


def learner_and_batch(precision: str):
    config = run_config.apply_overrides(run_config.preset("tictactoe"),
                                        [f"learner.precision={precision}", "loss.consistency=true"])
    replay = Replay.from_config(config)
    for actions in (FIRST_PLAYER_WINS, SECOND_PLAYER_WINS, DRAW):
        replay.add_game(history_of(actions))
    torch.manual_seed(0)
    learner = Learner(MuZeroNetwork(GAME, config.network), config, torch.device("cpu"))
    return learner, replay.sample(32, np.random.default_rng(0))


def test_bf16_steps_learn_like_fp32_and_keep_float32_state():
    """Same weights, same batch: the bf16 loss is the fp32 loss up to bfloat16 rounding, ten
    steps lower it as fp32's do, and weights and Adam moments stay float32."""
    runs = {}
    for precision in ("fp32", "bf16"):
        learner, batch = learner_and_batch(precision)
        losses = [learner.train_step(batch).parts["total"] for _ in range(10)]
        runs[precision] = losses
        assert all(p.dtype == torch.float32 for p in learner.network.parameters())
        assert all(v.dtype == torch.float32 for state in learner.optimizer.state.values() for v in state.values()
                   if torch.is_tensor(v) and v.is_floating_point())
    assert runs["bf16"][0] != runs["fp32"][0]                      # autocast really ran
    assert runs["bf16"][0] == pytest.approx(runs["fp32"][0], rel=0.02)
    assert runs["bf16"][-1] == pytest.approx(runs["fp32"][-1], rel=0.05)
    assert runs["bf16"][-1] < 0.6 * runs["bf16"][0] and runs["fp32"][-1] < 0.6 * runs["fp32"][0]


def test_precision_resolves_and_rejects_unknown_values():
    assert resolve_precision("fp32", torch.device("cpu")) is None
    assert resolve_precision("bf16", torch.device("cpu")) is torch.bfloat16
    assert resolve_precision("auto", torch.device("cpu")) in (None, torch.bfloat16)
    with pytest.raises(UsageError, match="precision must be one of fp32, bf16, auto"):
        run_config.apply_overrides(run_config.preset("tictactoe"), ["learner.precision=fp16"])


def test_bench_learner_times_each_precision_on_real_replay_batches(capsys):
    import argparse
    import json

    from selfplay import bench_learner

    parser = argparse.ArgumentParser()
    bench_learner.add_arguments(parser)
    args = parser.parse_args(["--game", "tictactoe", "--repeats", "2", "--steps", "1", "--json",
                              "--set", "learner.batch_size=16"])
    assert bench_learner.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch"] == 16 and set(result["steps_per_second"]) == {"fp32", "bf16"}
    assert all(len(rates) == 2 and min(rates) > 0 for rates in result["steps_per_second_all"].values())
    assert result["speedup_vs_first"]["fp32"] == 1.0
    with pytest.raises(UsageError, match="--precision"):
        bench_learner.run(parser.parse_args(["--game", "tictactoe", "--precision", "fp16"]))


def test_bf16_steps_update_prioritised_replay():
    """Prioritised replay takes the step's value errors as float32 even when the loss ran in bf16."""
    config = run_config.apply_overrides(run_config.preset("tictactoe"),
                                        ["learner.precision=bf16", "replay.priority_alpha=0.6"])
    replay = Replay.from_config(config)
    for actions in (FIRST_PLAYER_WINS, SECOND_PLAYER_WINS, DRAW):
        replay.add_game(history_of(actions))
    learner = Learner(MuZeroNetwork(GAME, config.network), config, torch.device("cpu"))
    batch = replay.sample(16, np.random.default_rng(0))
    learner.train_step(batch, replay)
    again = replay.sample(16, np.random.default_rng(0))
    assert np.isfinite(again.weights).all() and not np.all(again.weights == 1.0)
