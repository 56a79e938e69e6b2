"""The search's inference copies (agent.inference): folded BatchNorm, bf16, refresh on new weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.agent import Agent
from agent.config import NetworkConfig
from agent.inference import InferenceCache, resolve_mode
from agent.networks import MuZeroNetwork
from envs import get_game

CONFIGS = {
    "tictactoe": NetworkConfig.tiny(),
    "connect_four": NetworkConfig(channels=16, representation_blocks=2, dynamics_blocks=1, prediction_blocks=1,
                                  head_hidden=16),
    "support_embedding": NetworkConfig(channels=16, representation_blocks=1, dynamics_blocks=1,
                                       prediction_blocks=1, value_support=5, reward_support=5,
                                       action_encoding="embedding", projection_dim=8),
}


def trained_statistics_network(game, config, seed=0) -> MuZeroNetwork:
    """A network whose BatchNorms have non-trivial running statistics and affine weights."""
    torch.manual_seed(seed)
    network = MuZeroNetwork(game, config)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        network.train()
        for _ in range(3):
            planes = (torch.rand(32, *game.observation_shape) < 0.4).float()
            hidden = network.represent(planes)
            network.predict(hidden)
            network.dynamics(hidden, torch.randint(0, game.num_actions, (32,)))
    return network.eval()


def inputs(game, batch=12, seed=1):
    generator = torch.Generator().manual_seed(seed)
    planes = (torch.rand(batch, *game.observation_shape, generator=generator) < 0.4).float()
    actions = torch.randint(0, game.num_actions, (batch,), generator=generator)
    return planes, actions


def outputs(network, planes, actions):
    with torch.inference_mode():
        hidden, logits, value = network.initial(planes)
        next_hidden, reward, next_logits, next_value = network.recurrent(hidden, actions)
    return [hidden.float(), logits, value, next_hidden.float(), reward, next_logits, next_value]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_folded_copies_match_the_trainable_network(name):
    game = get_game("connect_four" if name == "support_embedding" else name)
    network = trained_statistics_network(game, CONFIGS[name])
    planes, actions = inputs(game)
    eager = outputs(network, planes, actions)
    assert network.set_inference("fp32") == "fp32"
    for got, want in zip(outputs(network, planes, actions), eager):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    network.set_inference("bf16")
    with torch.inference_mode():
        hidden, logits, value = network.initial(planes)
        assert hidden.dtype == torch.bfloat16 and logits.dtype == torch.float32 and value.dtype == torch.float32
    for got, want in zip(outputs(network, planes, actions), eager):
        assert got.dtype == torch.float32
        assert (got - want).abs().max().item() < 0.1
    # the copy never leaks into the module's state
    assert set(network.state_dict()) == set(MuZeroNetwork(game, CONFIGS[name]).state_dict())


def test_copy_is_rebuilt_when_weights_change():
    game = get_game("tictactoe")
    network = trained_statistics_network(game, CONFIGS["tictactoe"])
    network.set_inference("fp32")
    planes, actions = inputs(game)
    outputs(network, planes, actions)
    cache = network._inference_cache
    assert cache.builds == 1
    outputs(network, planes, actions)
    assert cache.builds == 1                       # unchanged weights: no rebuild

    other = trained_statistics_network(game, CONFIGS["tictactoe"], seed=7)
    network.load_state_dict(other.state_dict())    # what actors do with new weights
    other_eager = outputs(other, planes, actions)
    for got, want in zip(outputs(network, planes, actions), other_eager):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert cache.builds == 2

    # an optimizer step on the shared module (the local trainer's evaluation agent)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    network.train()
    hidden = network.represent(planes)
    logits, value = network.predict(hidden)
    (logits.square().mean() + value.square().mean()).backward()
    optimizer.step()
    network.eval()
    network.set_inference("eager")
    eager = outputs(network, planes, actions)
    network.set_inference("fp32")
    for got, want in zip(outputs(network, planes, actions), eager):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_training_and_gradients_use_the_trainable_module():
    game = get_game("tictactoe")
    network = trained_statistics_network(game, CONFIGS["tictactoe"])
    network.set_inference("bf16")
    planes, _ = inputs(game)
    hidden, logits, value = network.initial(planes)          # grad enabled: eager, differentiable
    assert hidden.dtype == torch.float32 and logits.requires_grad
    network.train()
    with torch.no_grad():
        hidden, _, _ = network.initial(planes)               # train mode: eager
    assert hidden.dtype == torch.float32
    assert network._inference_cache.builds == 0


def test_modes_resolve_and_bad_modes_fail():
    assert resolve_mode("fp32") == "fp32" and resolve_mode("eager", "cpu") == "eager"
    assert resolve_mode("auto", "cpu") in ("fp32", "bf16")
    assert resolve_mode("auto", "meta") == "fp32"
    with pytest.raises(ValueError):
        resolve_mode("fp16")
    with pytest.raises(ValueError):
        InferenceCache("eager")
    game = get_game("tictactoe")
    with pytest.raises(ValueError):
        Agent(MuZeroNetwork(game, CONFIGS["tictactoe"]), game, inference="int8")


def test_agent_modes_search_alike_and_reuse_trees():
    game = get_game("tictactoe")
    positions = [game.initial_state()]
    for action in (4, 0, 8):
        positions.append(positions[-1].play(action))
    results = {}
    for mode in ("eager", "fp32", "bf16"):
        agent = Agent(trained_statistics_network(game, CONFIGS["tictactoe"]), game, inference=mode)
        assert agent.inference == mode
        results[mode] = agent.act(positions, 16)
        session = agent.new_session()
        first = agent.act(positions, 8, session=session)
        following = [state.play(int(action)) for state, action in zip(positions, first.actions)]
        following = [state for state in following if not state.is_terminal()]
        if len(following) == len(positions):
            agent.act(following, 8, session=session)
            assert session.reused_trees > 0
    np.testing.assert_array_equal(results["fp32"].visit_counts, results["eager"].visit_counts)
    np.testing.assert_allclose(results["bf16"].root_value, results["eager"].root_value, atol=0.1)


def test_session_restarts_when_the_hidden_dtype_changes():
    game = get_game("tictactoe")
    network = trained_statistics_network(game, CONFIGS["tictactoe"])
    agent = Agent(network, game, inference="fp32")
    positions = [game.initial_state().play(4)]
    session = agent.new_session()
    agent.act(positions, 8, session=session)
    network.set_inference("bf16")
    result = agent.act([positions[0].play(0)], 8, session=session)
    assert session.hidden.dtype == torch.bfloat16 and result.visit_counts.sum() == 8


def test_bench_inference_modes_and_agreement(capsys):
    import json

    from agent import bench
    from envs.errors import UsageError

    class Args:
        game, batch, checkpoint, repeats, seconds, threads, device, json = "tictactoe", 4, None, 1, 0.01, 1, "cpu", True
        act_sims, inference, agreement, overrides = 2, "eager,fp32", 6, ["network.channels=8"]

    previous = torch.get_num_threads()
    try:
        assert bench.run(Args()) == 0
    finally:
        torch.set_num_threads(previous)
    result = json.loads(capsys.readouterr().out)
    assert set(result["modes"]) == {"eager", "fp32"} and result["inference"] == "eager"
    assert result["agreement"]["fp32"]["value_abs_error_max"] < 1e-4
    assert result["agreement"]["eager"]["search_move_agreement"] == 1.0
    for field, value in (("inference", "fp16"), ("agreement", -1), ("overrides", ["network.nope=1"])):
        bad = type("Bad", (Args,), {field: value})
        with pytest.raises(UsageError):
            bench.run(bad())


def test_the_board_model_searches_its_most_likely_board():
    """In eval mode without gradients g's planes are rounded to 0/1 (the eager module and the
    folded copy alike); training keeps the probabilities; ``snap_planes`` off keeps them too."""
    game = get_game("connect_four")
    config = NetworkConfig(channels=16, representation_blocks=1, prediction_blocks=1, head_hidden=16,
                           dynamics="board")
    network = trained_statistics_network(game, config)
    planes, actions = inputs(game)
    channels = config.channels
    with torch.no_grad():
        hidden = network.represent(planes)
        most_likely = (network.board_logits(hidden[:, channels:], actions) > 0).float()
    for mode in ("eager", "fp32"):
        network.set_inference(mode)
        with torch.inference_mode():
            next_hidden = network.recurrent(network.initial(planes)[0], actions)[0].float()
        assert torch.equal(next_hidden[:, channels:], most_likely), mode
    network.snap_planes = False
    with torch.inference_mode():
        probabilities = network.recurrent(network.initial(planes)[0], actions)[0].float()[:, channels:]
    assert ((probabilities > 0) & (probabilities < 1)).any()
    network.snap_planes = True
    network.train()
    trained = network.dynamics(network.represent(planes), actions)[0][:, channels:]
    assert trained.requires_grad and ((trained > 0) & (trained < 1)).any()
