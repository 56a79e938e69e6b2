"""Fitting the learned model to a trained network (`agent.model_fit`, `selfplay.model_fit`,
`ponder fit-model`, a recipe's [model_fit] phase): h and f do not move, the model learns, the
paths are real games, and the fitted agent searches its learned model."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.agent import Agent, trains_learned_model
from agent.config import NetworkConfig
from agent.model_fit import MODEL_MODULES, model_fit_loss, model_parameters, set_fit_modes
from agent.networks import MuZeroNetwork
from envs import get_game
from envs.game import END_NONE
from selfplay.config import ModelFitConfig
from selfplay.model_fit import PathSampler, fit_network
from selfplay.replay import GameHistory

REPO = Path(__file__).resolve().parents[2]
# a tic-tac-toe run over the rules without an unroll (as c4-o): its learned model is untrained
RULES_RUN = ["--game", "tictactoe", "--steps", "10", "--sims", "2", "--actors", "1", "--quiet",
             "--set", "actor.games_per_actor=16", "--set", "learner.batch_size=32", "--set", "network.channels=8",
             "--set", "replay.min_positions=40", "--set", "trainer.eval_games=0",
             "--set", "trainer.samples_per_position=2.0", "--set", "loss.unroll_steps=0",
             "--set", "loss.consistency=false", "--set", "search.model=rules"]


def ponder(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "scripts.ponder", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def random_games(game, count, rng):
    """Finished uniformly random games as replay entries (what the sampler rebuilds)."""
    games = []
    for _ in range(count):
        state, actions, planes = game.initial_state(), [], []
        opening = [int(rng.choice(state.legal_actions()))]
        state = state.play(opening[0])
        while not state.is_terminal():
            action = int(rng.choice(state.legal_actions()))
            planes.append(state.planes())
            actions.append(action)
            state = state.play(action)
        size = len(actions)
        games.append(GameHistory(observations=np.stack(planes), actions=np.array(actions, dtype=np.int64),
                                 rewards=np.zeros(size, np.float32), to_play=np.zeros(size, np.int8),
                                 policies=np.zeros((size, game.num_actions), np.float32),
                                 root_values=np.zeros(size, np.float32),
                                 legal_masks=np.ones((size, game.num_actions), bool),
                                 opening=np.array(opening, dtype=np.int64)))
    return games


@pytest.fixture
def tictactoe():
    return get_game("tictactoe")


@pytest.fixture
def network(tictactoe):
    torch.manual_seed(0)
    config = NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1, prediction_blocks=0,
                           head_hidden=16, action_heads=True)
    return MuZeroNetwork(tictactoe, config)


def test_sampled_paths_are_the_real_game(tictactoe, network):
    games = random_games(tictactoe, 6, np.random.default_rng(0))
    sampler = PathSampler(tictactoe, games, np.random.default_rng(1))
    assert len(sampler) == sum(g.length for g in games)
    # the rebuilt positions are the stored ones
    assert np.array_equal(np.stack([s.planes() for s in sampler.states]), np.concatenate([g.observations for g in games]))
    batch = sampler.sample(network, paths=32, steps=3, follow=0.3, prior=0.5)
    assert batch.planes.shape == (4, 32, *tictactoe.observation_shape) and batch.actions.shape == (3, 32)
    for row in range(32):
        # replay the path with the rules: every alive step's planes, legal moves, ends and rewards
        state = None
        for step in range(4):
            if step == 0:
                candidates = [s for s in sampler.states if np.array_equal(s.planes(), batch.planes[0, row].numpy())]
                state = candidates[0]
            if batch.alive[step, row] == 0:
                assert step > 0
                break
            assert np.array_equal(batch.planes[step, row].numpy(), state.planes())
            assert np.array_equal(batch.legal[step, row].numpy().astype(bool), state.legal_mask())
            assert np.array_equal(batch.ends[step, row].numpy(), state.action_ends())
            if step == 3:
                break
            action = int(batch.actions[step, row])
            assert state.legal_mask()[action]
            mover, state = state.to_play, state.play(action)
            expected = 0.0 if not state.is_terminal() or state.winner() is None else (
                1.0 if state.winner() == mover else -1.0)
            assert batch.rewards[step, row] == expected
    assert (batch.ends[batch.alive == 0] == END_NONE).all()


def test_following_every_move_replays_the_game(tictactoe, network):
    games = random_games(tictactoe, 3, np.random.default_rng(2))
    sampler = PathSampler(tictactoe, games, np.random.default_rng(3))
    batch = sampler.sample(network, paths=16, steps=2, follow=1.0, prior=0.0)
    played = np.concatenate([g.actions for g in games])
    for row in range(16):
        index = next(i for i, s in enumerate(sampler.states)
                     if np.array_equal(s.planes(), batch.planes[0, row].numpy()))
        for step in range(2):
            if batch.alive[step, row] == 0 or sampler.next_index[index] < 0 and step > 0:
                break
            assert int(batch.actions[step, row]) == played[index]
            if sampler.next_index[index] < 0:
                break
            index = sampler.next_index[index]


def test_the_fit_moves_the_model_only_and_lowers_its_loss(tictactoe, network):
    games = random_games(tictactoe, 40, np.random.default_rng(4))
    sampler = PathSampler(tictactoe, games, np.random.default_rng(5))
    frozen = {name: tensor.clone() for name, tensor in network.state_dict().items()
              if name.split(".")[0] not in MODEL_MODULES}
    probe = sampler.sample(network, paths=64, steps=3, follow=0.5, prior=0.5)
    set_fit_modes(network)
    before, _ = model_fit_loss(network, probe)
    config = ModelFitConfig(minutes=0.05, unroll_steps=3, batch=32, dynamics_blocks=1, precision="fp32", threads=1)
    progress = fit_network(network, sampler, config)
    assert progress.steps > 5
    after, parts = model_fit_loss(network, probe)
    assert float(after.detach()) < float(before.detach())
    assert set(parts) == {"hidden", "policy", "value", "reward", "heads", "total", "hidden_spread"}
    # h and f (weights and BatchNorm statistics) are exactly as they were
    for name, tensor in network.state_dict().items():
        if name in frozen:
            assert torch.equal(tensor, frozen[name]), name
    assert all(p.requires_grad for p in network.parameters())   # unfrozen again for whoever trains next


def test_model_parameters_are_g_and_the_heads(network):
    trained = {id(p) for p in model_parameters(network)}
    for name, parameter in network.named_parameters():
        assert (id(parameter) in trained) == (name.split(".")[0] in MODEL_MODULES), name
    with pytest.raises(ValueError, match="action heads"):
        model_parameters(MuZeroNetwork(get_game("tictactoe"), NetworkConfig(channels=8)))


@pytest.mark.parametrize("values, words", [({"minutes": -1}, "minutes"), ({"follow": 1.5}, "follow"),
                                           ({"batch": 0}, "batch"), ({"precision": "fp16"}, "precision"),
                                           ({"dynamics": "pixels"}, "dynamics"),
                                           ({"board_ends": True, "dynamics": "latent"}, "board_ends"),
                                           ({"board_ends_learning_rate": 0}, "board_ends_learning_rate"),
                                           ({"board_ends_minutes": 1.0}, "board_ends = true"),
                                           ({"board_ends_minutes": -1.0, "board_ends": True}, "board_ends_minutes"),
                                           ({"board_ends_examples": 0}, "board_ends_examples"),
                                           ({"action_head_output": "conv"}, "action_head_output"),
                                           ({"board_pretrain_minutes": -1.0}, "board_pretrain_minutes"),
                                           ({"board_pretrain_pool": 0}, "board_pretrain_pool"),
                                           ({"board_pretrain_minutes": 1.0, "dynamics": "latent"},
                                            "needs dynamics = board")])
def test_bad_fit_settings_are_refused(values, words):
    with pytest.raises(ValueError, match=words):
        ModelFitConfig(**values)


@pytest.fixture(scope="module")
def rules_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "run"
    done = ponder("train", "--out", str(out), *RULES_RUN)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_fit_model_makes_an_agent_that_searches_its_learned_model(rules_run, tmp_path):
    from agent.checkpoint import load_checkpoint

    source = load_checkpoint(rules_run / "checkpoints" / "latest.pt")
    assert not trains_learned_model(source.config, source.extra)
    out = tmp_path / "fitted.pt"
    done = ponder("fit-model", str(rules_run), "--out", str(out), "--minutes", "0.05", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    fitted = load_checkpoint(out)
    assert trains_learned_model(fitted.config, fitted.extra) and fitted.extra["model_fit_steps"] > 0
    assert fitted.extra["play_root"] == "puct" and fitted.step == source.step
    assert fitted.config["loss"] == source.config["loss"]          # the run's record is kept as it was
    for name, tensor in source.model.items():                          # h and f are the run's
        if name.split(".")[0] not in MODEL_MODULES:
            assert torch.equal(fitted.model[name], tensor), name
    agent = Agent.load(out)
    assert agent.learned_model_trained and agent.end_positive_weight == 10.0
    match = ponder("arena", "--game", "tictactoe", "--a", f"agent:{out}:4", "--b", "random", "--games", "2",
                   "--workers", "1", "--json")
    assert match.returncode == 0, match.stderr[-2000:]


def test_a_fit_with_cell_action_heads_writes_an_agent_that_reads_them(rules_run, tmp_path):
    """model_fit.action_head_output reaches the fitted network, its checkpoint and the agent."""
    from agent.checkpoint import load_checkpoint, save_checkpoint
    from selfplay.model_fit import fit_checkpoint, load_replay_games

    source = load_checkpoint(rules_run / "checkpoints" / "latest.pt")
    config = ModelFitConfig(minutes=0.02, batch=16, unroll_steps=2, precision="fp32", threads=1,
                            action_head_output="cells")
    payload, progress = fit_checkpoint(source, load_replay_games(rules_run), config)
    assert progress.steps > 0 and "board_pretrain_steps" not in payload["extra"]
    out = save_checkpoint(tmp_path / "cells.pt", payload)
    agent = Agent.load(out)
    assert agent.network.config.action_head_output == "cells"
    assert agent.network.action_heads.output == "cells"
    assert not any(name.startswith("action_heads.fc") for name in agent.network.state_dict())
    match = ponder("arena", "--game", "tictactoe", "--a", f"agent:{out}:4", "--b", "random", "--games", "2",
                   "--workers", "1", "--json")
    assert match.returncode == 0, match.stderr[-2000:]


def test_fit_model_adds_an_end_detector_to_a_fitted_board_model_and_keeps_the_rest(rules_run, tmp_path):
    from agent.checkpoint import load_checkpoint

    fitted = tmp_path / "fitted.pt"
    done = ponder("fit-model", str(rules_run), "--out", str(fitted), "--minutes", "0.03", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "detector.pt"
    # 800 steps once read 95.7% precision in a loaded `make test` (a fit this small sits near the
    # 99% line it must pass); 2,500 steps on one thread leave a margin and cost ~10 s
    done = ponder("fit-model", str(fitted), "--detector-only", "--steps", "2500", "--examples", "10000", "--threads", "1",
                  "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fresh ones precision" in done.stdout, done.stdout     # it was checked on positions it never saw
    source, with_detector = load_checkpoint(fitted), load_checkpoint(out)
    assert with_detector.network_config["board_ends"] and with_detector.extra["board_ends_steps"] == 2500
    assert with_detector.extra["board_ends_kept"] and with_detector.extra["board_ends_examples"] >= 10_000
    assert with_detector.extra["model_fit_steps"] == source.extra["model_fit_steps"]
    for name, tensor in source.model.items():                   # g, the heads, h and f as they were
        assert torch.equal(with_detector.model[name], tensor), name
    agent = Agent.load(out)
    assert agent.network.board_ends is not None and agent.learned_model_trained
    match = ponder("arena", "--game", "tictactoe", "--a", f"agent:{out}:4", "--b", "random", "--games", "2",
                   "--workers", "1", "--json")
    assert match.returncode == 0, match.stderr[-2000:]
    # an unfitted model has no planes to read: one line, exit 2, nothing written
    refused = ponder("fit-model", str(rules_run), "--detector-only", "--minutes", "0.05", "--out",
                     str(tmp_path / "x.pt"))
    assert refused.returncode == 2 and "fit the model first" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.pt").exists()
    # flags that mean nothing here are refused, not ignored
    refused = ponder("fit-model", str(fitted), "--detector-only", "--minutes", "0.05", "--replay", str(rules_run),
                     "--out", str(tmp_path / "x.pt"))
    assert refused.returncode == 2 and "--replay" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.pt").exists()
    refused = ponder("fit-model", str(rules_run), "--steps", "5", "--out", str(tmp_path / "x.pt"))
    assert refused.returncode == 2 and "--detector-only" in refused.stderr, refused.stderr
    # one step trains a detector that misreads ends: refused in one line, nothing written
    refused = ponder("fit-model", str(fitted), "--detector-only", "--steps", "1", "--examples", "2000",
                     "--out", str(tmp_path / "x.pt"))
    assert refused.returncode == 2 and "nothing written" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.pt").exists()


def test_a_fit_with_board_ends_minutes_trains_the_detector_alone_after_g(rules_run):
    from agent.checkpoint import load_checkpoint, save_checkpoint
    from selfplay.model_fit import fit_checkpoint, load_replay_games

    config = ModelFitConfig(minutes=0.02, batch=16, threads=1, board_ends=True, board_ends_minutes=0.02,
                            board_ends_examples=2000)
    phases = []
    payload, progress = fit_checkpoint(load_checkpoint(rules_run / "checkpoints" / "latest.pt"),
                                       load_replay_games(rules_run), config, report=lambda p: phases.append(p.phase))
    extra = payload["extra"]
    assert progress.steps > 0 and extra["model_fit_steps"] == progress.steps
    assert extra["board_ends_steps"] > 0 and extra["board_ends_examples"] >= 2000
    assert payload["config"]["model_fit"]["board_ends_minutes"] == 0.02
    # a second of training may or may not make a detector worth trusting: the check decides,
    # and the network written says the same as the bookkeeping
    assert extra["board_ends_check_positions"] >= 20_000
    assert payload["network_config"]["board_ends"] == extra["board_ends_kept"]
    assert any(name.startswith("board_ends.") for name in payload["model"]) == extra["board_ends_kept"]
    assert set(phases) <= {"model", "end detector"}


def test_a_recipe_fit_phase_runs_after_self_play_and_once(tmp_path):
    from agent.checkpoint import load_checkpoint

    out = tmp_path / "run"
    done = ponder("train", "--out", str(out), *RULES_RUN, "--set", "model_fit.minutes=0.03",
                  "--set", "model_fit.batch=16", "--set", "model_fit.threads=1")
    assert done.returncode == 0, done.stderr[-2000:]
    fitted = load_checkpoint(out / "checkpoints" / "fitted.pt")
    assert trains_learned_model(fitted.config, fitted.extra)
    assert fitted.step == load_checkpoint(out / "checkpoints" / "latest.pt").step
    stamp = (out / "checkpoints" / "fitted.pt").stat().st_mtime_ns
    from selfplay.model_fit import fit_run

    again = fit_run(out, ModelFitConfig(minutes=0.03, batch=16, threads=1))   # same learner step: kept as it is
    assert again == out / "checkpoints" / "fitted.pt" and again.stat().st_mtime_ns == stamp
    resumed = ponder("train", "--out", str(out), "--resume", *RULES_RUN, "--set", "model_fit.minutes=0.03",
                     "--set", "model_fit.batch=16")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    refitted = load_checkpoint(out / "checkpoints" / "fitted.pt")         # more steps: fitted again
    assert refitted.step == load_checkpoint(out / "checkpoints" / "latest.pt").step > fitted.step


@pytest.mark.parametrize("args, words", [
    (["--minutes", "0.01"], "--replay"),                            # a lone file: which games?
    (["--replay", "{tmp}", "--minutes", "0.01"], "no replay"),
    (["--replay", "{run}"], "--minutes"),
])
def test_fit_model_usage_errors_are_one_line(rules_run, tmp_path, args, words):
    lone = tmp_path / "lone.pt"
    lone.write_bytes((rules_run / "checkpoints" / "latest.pt").read_bytes())
    args = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(rules_run)) for a in args]
    done = ponder("fit-model", str(lone), "--out", str(tmp_path / "x.pt"), *args)
    assert done.returncode == 2 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "x.pt").exists()


def test_fit_model_refuses_a_damaged_checkpoint(rules_run, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes((rules_run / "checkpoints" / "latest.pt").read_bytes()[:-100])
    done = ponder("fit-model", str(bad), "--replay", str(rules_run), "--out", str(tmp_path / "x.pt"),
                  "--minutes", "0.01")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def board_network(game, **overrides):
    torch.manual_seed(0)
    config = NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1, prediction_blocks=1,
                           head_hidden=16, action_heads=True, dynamics="board", **overrides)
    return MuZeroNetwork(game, config)


@pytest.mark.parametrize("name", ["tictactoe", "connect_four"])
def test_the_board_model_carries_the_planes_and_its_search_copy_agrees(name):
    game = get_game(name)
    network = board_network(game, board_ends=True).eval()
    state = game.initial_state().play(0)
    planes = torch.from_numpy(np.stack([state.planes(), game.initial_state().planes()]))
    channels = network.config.channels
    hidden, logits, value = network.initial(planes)
    assert hidden.shape == (2, channels + planes.shape[1], *planes.shape[2:])
    assert torch.equal(hidden[:, channels:], planes)           # the planes ride along in the hidden state
    actions = torch.tensor([1, 2])
    with torch.no_grad():                                       # as the search steps: the most likely board
        next_hidden, reward, next_logits, next_value = network.recurrent(hidden, actions)
        predicted = (network.board_logits(planes, actions) > 0).float()
    assert torch.equal(next_hidden[:, channels:], predicted)
    assert torch.allclose(next_hidden[:, :channels], network.represent(predicted)[:, :channels])
    with torch.no_grad():
        ends = network.position_ends(next_hidden)
    assert ends.shape == (2, 4) and torch.allclose(ends, network.board_ends(predicted))
    network.set_inference("fp32")                               # the folded search copy: same numbers
    with torch.no_grad():
        copy = network.recurrent(hidden, actions)
        copy_ends = network.position_ends(next_hidden)
    for eager, folded in zip((next_hidden, reward, next_logits, next_value, ends), (*copy, copy_ends)):
        assert torch.allclose(eager, folded, atol=1e-4)


def test_the_fit_learns_the_board_exactly(tictactoe):
    network = board_network(tictactoe)
    games = random_games(tictactoe, 60, np.random.default_rng(6))
    sampler = PathSampler(tictactoe, games, np.random.default_rng(7))
    frozen = {name: tensor.clone() for name, tensor in network.state_dict().items()
              if name.split(".")[0] not in MODEL_MODULES}
    probe = sampler.sample(network, paths=128, steps=3, follow=0.5, prior=0.0)
    from agent.model_fit import board_fit_fidelity

    before = board_fit_fidelity(network, probe)
    config = ModelFitConfig(minutes=0.2, unroll_steps=3, batch=64, learning_rate=5e-3, precision="fp32", threads=1)
    progress = fit_network(network, sampler, config)
    after = board_fit_fidelity(network, probe)
    assert before["cells"] > 0.2 and after["cells"] < 0.01, (before, after, progress.steps)
    assert after["value"] < before["value"]
    for name, tensor in network.state_dict().items():
        if name in frozen:
            assert torch.equal(tensor, frozen[name]), name


def test_self_play_refuses_to_train_the_board_model(tmp_path):
    done = ponder("train", "--out", str(tmp_path / "run"), *RULES_RUN, "--set", "network.dynamics=board",
                  "--set", "loss.unroll_steps=2", "--set", "search.model=learned")
    assert done.returncode == 2 and "model_fit" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_self_play_trains_the_board_models_heads_and_the_fit_keeps_them(tmp_path):
    """c4-s's shape: a board-model network over the rules without an unroll, heads detached from h."""
    from agent.checkpoint import load_checkpoint

    out = tmp_path / "run"
    done = ponder("train", "--out", str(out), *RULES_RUN, "--set", "network.dynamics=board",
                  "--set", "network.action_heads=true", "--set", "loss.action_heads_detached=true",
                  "--set", "model_fit.minutes=0.02", "--set", "model_fit.batch=16", "--set", "model_fit.keep_heads=true",
                  "--set", "model_fit.learning_rate=1e-9")
    assert done.returncode == 0, done.stderr[-2000:]
    trained = load_checkpoint(out / "checkpoints" / "latest.pt")
    fitted = load_checkpoint(out / "checkpoints" / "fitted.pt")
    heads = [name for name in trained.model if name.startswith("action_heads.") and name.endswith(("weight", "bias"))]
    assert heads
    for name in heads:     # kept from the run (a learning rate of 1e-9 moves them by nothing visible)
        assert torch.allclose(fitted.model[name], trained.model[name], atol=1e-5), name


def test_the_end_classes_of_a_path_are_the_rules(tictactoe, network):
    from agent.model_fit import position_end_classes
    from envs.game import END_DRAW, END_WIN

    games = random_games(tictactoe, 20, np.random.default_rng(8))
    batch = PathSampler(tictactoe, games, np.random.default_rng(9)).sample(network, paths=64, steps=5, follow=0.5,
                                                                          prior=0.0)
    classes, exists = position_end_classes(batch, 0)
    assert torch.equal(classes, torch.full((64,), END_NONE)) and torch.equal(exists, batch.alive[0])
    seen = set()
    for step in range(1, 6):
        classes, exists = position_end_classes(batch, step)
        for row in range(64):
            if exists[row] == 0:
                continue
            previous = batch.ends[step - 1, row, batch.actions[step - 1, row]]   # the rules' code of the move made
            assert int(classes[row]) == int(previous), (step, row)
            seen.add(int(classes[row]))
    assert {END_NONE, END_WIN} <= seen and seen <= {END_NONE, END_WIN, END_DRAW}
    sampler = PathSampler(tictactoe, games, np.random.default_rng(12))
    assert len(sampler.finals) == len(games) and all(state.is_terminal() for state, _ in sampler.finals)
    planes, classes = sampler.end_examples(8)     # every move from 8 stored positions, then 2 ended games
    assert planes.shape[1:] == tictactoe.observation_shape and planes.shape[0] == classes.shape[0] > 10
    assert (classes[-2:] > 0).all() and (classes == END_NONE).any()


def test_the_end_detector_learns_where_the_board_has_ended(tictactoe):
    """200 steps of the fit on random tic-tac-toe games (0.99 / 0.97 when written)."""
    from agent.model_fit import board_fit_fidelity

    network = board_network(tictactoe, board_ends=True, board_ends_kernel=3)
    assert "board_ends" in MODEL_MODULES and network.board_ends is not None
    sampler = PathSampler(tictactoe, random_games(tictactoe, 80, np.random.default_rng(10)), np.random.default_rng(11))
    probe = sampler.sample(network, paths=256, steps=4, follow=0.5, prior=0.0)
    _, parts = model_fit_loss(network, probe)
    assert "ends" in parts and np.isfinite(parts["ends"])
    before = board_fit_fidelity(network, probe)
    config = ModelFitConfig(unroll_steps=4, batch=64, learning_rate=1e-2, precision="fp32", threads=1,
                            board_ends=True)
    fit_network(network, sampler, config, steps=200)
    after = board_fit_fidelity(network, probe)
    assert before["ends_recall"] < 0.5 and after["ends_recall"] > 0.9 and after["ends_precision"] > 0.9, after


def test_the_learned_tree_stops_where_the_detector_reads_an_end():
    """A detector that reads every new position as won by its mover: each root move is then a
    win of reward 1 with nothing but absorbing nodes below it, whatever f and g's reward say."""
    from agent.agent import Agent
    from mcts import SearchConfig

    game = get_game("connect_four")
    network = board_network(game, board_ends=True).eval()
    with torch.no_grad():
        network.board_ends.fc2.weight.zero_()
        network.board_ends.fc2.bias.copy_(torch.tensor([-20.0, 20.0, -20.0, -20.0]))   # always "won"
    agent = Agent(network, game)
    search = SearchConfig(num_simulations=30, learned_ends=True, dirichlet_fraction=0.0)
    result = agent.act([game.initial_state()], search, temperature=0.0)
    assert (result.visit_counts[0] > 0).all() and np.allclose(result.q_values[0], 1.0)
    without = agent.act([game.initial_state()], dataclasses.replace(search, learned_ends=False), temperature=0.0)
    assert not np.allclose(without.q_values[0], 1.0)           # g's reward and f's value alone do not say so


def test_a_fit_with_board_pretrain_minutes_trains_g_alone_first_and_says_so(rules_run, tmp_path):
    from agent.checkpoint import load_checkpoint, save_checkpoint
    from selfplay.model_fit import fit_checkpoint, load_replay_games

    source = load_checkpoint(rules_run / "checkpoints" / "latest.pt")
    config = ModelFitConfig(minutes=0.02, board_pretrain_minutes=0.02, batch=16, unroll_steps=2, precision="fp32",
                            threads=1)
    phases = []
    payload, progress = fit_checkpoint(source, load_replay_games(rules_run), config,
                                       report=lambda p: phases.append(p.phase))
    extra = payload["extra"]
    assert extra["board_pretrain_steps"] > 0 and 0.0 <= extra["board_pretrain_exact"] <= 1.0
    assert extra["model_fit_steps"] == progress.steps > 0
    assert 0.0 <= extra["model_fit_board_exact"] <= 1.0
    # the g it carries is the more exact of the two on the held-out transitions
    assert extra["board_model_from"] == ("path fit" if extra["model_fit_board_exact"] >= extra["board_pretrain_exact"]
                                         else "pretraining")
    assert phases and phases[0] == "board model"         # its verdict comes first, before the fit's reports
    assert phases[-1] == "board model"                   # and which g it kept comes last
    # the drift diagnostic runs the path fit on from the fitted checkpoint; bad input is one line
    fitted = save_checkpoint(tmp_path / "fitted.pt", payload)
    drift = subprocess.run([sys.executable, "scripts/path_fit_drift.py", str(fitted), str(rules_run), "--steps", "4",
                            "--every", "2", "--learning-rate", "1e-3"], cwd=REPO, capture_output=True, text=True,
                           timeout=240)
    assert drift.returncode == 0, drift.stderr[-2000:]
    assert "held-out next boards" in drift.stdout and "path, learning rate 0.001" in drift.stdout
    assert drift.stdout.count("exact") == 3                   # the start, then steps 2 and 4
    alone = subprocess.run([sys.executable, "scripts/path_fit_drift.py", str(fitted), str(rules_run), "--steps", "4",
                            "--every", "2", "--phase", "alone", "--fresh", "--pool", "2", "--out", str(tmp_path / "g.pt")], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert "alone, learning rate" in alone.stdout and ", pool 2" in alone.stdout and alone.stdout.count("exact") == 3
    rewritten = load_checkpoint(tmp_path / "g.pt")       # only g moved: h, f and the heads are the fit's
    assert rewritten.extra["board_model_from"].startswith("scripts/path_fit_drift.py")
    assert all(torch.equal(tensor, rewritten.model[name]) for name, tensor in payload["model"].items()
               if not name.startswith("board_dynamics."))
    assert not all(torch.equal(tensor, rewritten.model[name]) for name, tensor in payload["model"].items()
                   if name.startswith("board_dynamics."))
    for bad in ([str(fitted), str(tmp_path)], [str(tmp_path / "missing.pt"), str(rules_run)],
                [str(rules_run / "checkpoints" / "latest.pt"), str(rules_run)], [str(fitted), str(rules_run), "--steps", "0"]):
        refused = subprocess.run([sys.executable, "scripts/path_fit_drift.py", *bad], cwd=REPO, capture_output=True,
                                 text=True, timeout=120)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, (bad, refused.stderr)


def test_the_board_model_alone_learns_each_moves_board_and_moves_nothing_else(tictactoe):
    """g trained alone on single transitions (`selfplay.board_pretrain`): from a fresh g to
    every held-out next board exact; h, f and the heads untouched."""
    from selfplay.board_pretrain import HELD_OUT, exact_share, pretrain_board_dynamics, transitions

    network = board_network(tictactoe)
    games = random_games(tictactoe, 60, np.random.default_rng(6))
    sampler = PathSampler(tictactoe, games, np.random.default_rng(7))
    planes, actions, following = transitions(sampler, 200, follow=0.5, rng=np.random.default_rng(8))
    for board, action, after in zip(planes[:20], actions[:20], following[:20]):   # the rules' next boards
        state = next(state for state in sampler.states if np.array_equal(state.planes(), board.numpy()))
        assert np.array_equal(state.play(int(action)).planes(), after.numpy())
    untouched = {name: tensor.clone() for name, tensor in network.state_dict().items()
                 if not name.startswith("board_dynamics.")}
    before = exact_share(network, planes, actions, following)
    config = ModelFitConfig(board_pretrain_minutes=1.0, batch=64, learning_rate=5e-3, precision="fp32", threads=1)
    reports = []
    pretrained = pretrain_board_dynamics(network, sampler, config, report=lambda p: reports.append(dataclasses.replace(p)),
                                         report_every=100, steps=400)
    bookkeeping = pretrained.bookkeeping
    assert before < 0.5 and exact_share(network, planes, actions, following) == 1.0
    assert bookkeeping["board_pretrain_steps"] == 400 and bookkeeping["board_pretrain_exact"] == 1.0
    assert [r.steps for r in reports[:-1]] == [100, 200, 300, 400] and f"{HELD_OUT:,}" in reports[-1].note
    assert reports[0].budget_minutes(config) == 1.0
    for name, tensor in network.state_dict().items():
        if name in untouched:
            assert torch.equal(tensor, untouched[name]), name


def test_a_path_fit_that_undoes_the_pretrained_board_model_does_not_keep_its_g(tictactoe):
    """g trained alone to exact, then a path fit at a learning rate that wrecks it (as a fresh
    optimizer at the full rate did on Othello's second seed): the pretrained g is put back,
    the heads keep what the fit taught them; a fit that leaves g as exact keeps its own."""
    from selfplay.board_pretrain import exact_share, keep_the_more_exact, pretrain_board_dynamics

    network = board_network(tictactoe)
    sampler = PathSampler(tictactoe, random_games(tictactoe, 60, np.random.default_rng(6)), np.random.default_rng(7))
    config = ModelFitConfig(board_pretrain_minutes=1.0, batch=64, learning_rate=5e-3, precision="fp32", threads=1,
                            unroll_steps=2)
    pretrained = pretrain_board_dynamics(network, sampler, config, steps=400)
    assert pretrained.exact == 1.0
    reckless = dataclasses.replace(config, learning_rate=1.0)
    fit_network(network, sampler, reckless, steps=20)
    heads = {name: tensor.clone() for name, tensor in network.state_dict().items() if name.startswith("action_heads.")}
    assert exact_share(network, *pretrained.held_out) < 1.0            # the fit undid g
    notes = []
    bookkeeping = keep_the_more_exact(network, pretrained, report=lambda p: notes.append(p.note))
    assert bookkeeping["board_model_from"] == "pretraining" and bookkeeping["model_fit_board_exact"] < 1.0
    assert exact_share(network, *pretrained.held_out) == 1.0
    assert "put back" in notes[-1]
    for name, tensor in network.state_dict().items():
        if name in heads:
            assert torch.equal(tensor, heads[name]), name

    fit_network(network, sampler, dataclasses.replace(config, learning_rate=1e-4), steps=5)
    gentle = {name: tensor.clone() for name, tensor in network.board_dynamics.state_dict().items()}
    assert keep_the_more_exact(network, pretrained)["board_model_from"] == "path fit"
    for name, tensor in network.board_dynamics.state_dict().items():
        assert torch.equal(tensor, gentle[name]), name


def test_the_longest_flip_is_the_rules_and_the_reach_script_reads_a_fitted_g():
    """`scripts/board_dynamics_reach.py`'s flip length against the rules' own flips (a move
    flips at least its longest line, and some line when it is not a pass), and its breakdown
    of a shipped Othello g's misses; a board model of another game is one line, exit 2."""
    from scripts.board_dynamics_reach import longest_flip

    game = get_game("othello")
    rng = np.random.default_rng(3)
    for _ in range(5):
        state = game.initial_state()
        while not state.is_terminal():
            action = int(rng.choice(state.legal_actions()))
            mover = state.to_play + 1
            after = state.play(action)
            flipped = int((after.board == mover).sum() - (state.board == mover).sum()) - (action != game.pass_action)
            length = longest_flip(game, state, action)
            assert (length == 0) == (action == game.pass_action) and length <= flipped, (action, length, flipped)
            state = after
    run = subprocess.run([sys.executable, "scripts/board_dynamics_reach.py", "--checkpoint", "agent/pretrained/othello.pt",
                          "--test", "300"], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "random-play next boards wrong" in run.stdout and "| longest line flipped |" in run.stdout
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert sum(int(row.split("|")[2].replace(",", "")) for row in rows) == 300
    refused = subprocess.run([sys.executable, "scripts/board_dynamics_reach.py", "--checkpoint",
                              "agent/pretrained/gomoku.pt"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1


def test_a_pooled_pretraining_batch_is_the_transitions_g_gets_most_wrong(tictactoe):
    """``board_pretrain_pool`` > 1: the batch g trains on is, of the pool drawn, the rows with
    the highest board loss; a pooled pretraining still learns every board."""
    from torch.nn import functional as F

    from selfplay.board_pretrain import exact_share, hardest, pretrain_board_dynamics, transitions

    network = board_network(tictactoe)
    sampler = PathSampler(tictactoe, random_games(tictactoe, 60, np.random.default_rng(6)), np.random.default_rng(7))
    config = ModelFitConfig(batch=16, board_pretrain_pool=4, precision="fp32", threads=1, learning_rate=5e-3)
    pool = transitions(sampler, 64, follow=0.5, rng=np.random.default_rng(8))
    chosen = hardest(network, *pool, config)
    assert chosen[0].shape[0] == 16

    def loss(planes, actions, following):
        with torch.no_grad():
            logits = network.board_logits(planes, actions).float()
        return F.binary_cross_entropy_with_logits(logits, following, reduction="none").flatten(1).mean(1)

    everything = loss(*pool).sort(descending=True).values
    assert torch.allclose(loss(*chosen).sort(descending=True).values, everything[:16])
    pretrained = pretrain_board_dynamics(network, sampler, dataclasses.replace(config, batch=64), steps=300)
    assert pretrained.exact == 1.0 and exact_share(network, *pool) == 1.0


def test_the_fresh_model_of_a_fit_is_drawn_from_the_fits_seed(rules_run):
    """`network_to_fit`: the same seed draws the same fresh g whatever the process drew before;
    another seed another g (`ponder fit-model --seed` reaches the model's initialisation)."""
    from agent.checkpoint import load_checkpoint
    from selfplay.model_fit import network_to_fit

    source = load_checkpoint(rules_run / "checkpoints" / "latest.pt")
    first = network_to_fit(source, ModelFitConfig(seed=3)).board_dynamics.state_dict()
    torch.rand(1000)                                              # the process draws in between
    again = network_to_fit(source, ModelFitConfig(seed=3)).board_dynamics.state_dict()
    other = network_to_fit(source, ModelFitConfig(seed=4)).board_dynamics.state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)
