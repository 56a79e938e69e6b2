"""Shapes, hidden-state scaling, action encodings and the support transform of agent.networks."""
import pytest
import torch

from agent.config import NetworkConfig
from agent.networks import GameSpec, MuZeroNetwork
from agent.support import h_inverse, h_transform, logits_to_scalar, scalar_to_probabilities


@pytest.mark.parametrize("spec, encoding", [
    (GameSpec((2, 3, 3), 9), "board"),
    (GameSpec((2, 6, 7), 7), "column"),
    (GameSpec((2, 3, 3), 10), "board"),      # board + pass
    (GameSpec((2, 4, 4), 5), "embedding"),
])
def test_shapes_and_hidden_scaling(spec, encoding):
    torch.manual_seed(0)
    net = MuZeroNetwork(spec, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1)).eval()
    assert net.action_encoding == encoding
    planes = torch.randn(5, *spec.observation_shape)
    hidden, logits, value = net.initial(planes)
    assert hidden.shape == (5, 8, *spec.observation_shape[1:])
    assert logits.shape == (5, spec.num_actions) and value.shape == (5,)
    flat = hidden.flatten(1)
    assert torch.allclose(flat.min(1).values, torch.zeros(5), atol=1e-6)
    assert torch.allclose(flat.max(1).values, torch.ones(5), atol=1e-4)
    actions = torch.arange(5) % spec.num_actions
    next_hidden, reward, logits2, value2 = net.recurrent(hidden, actions)
    assert next_hidden.shape == hidden.shape and reward.shape == (5,) and logits2.shape == logits.shape
    assert value.abs().max() <= 1 and reward.abs().max() <= 1
    # different actions must lead to different next states
    other, _, _, _ = net.recurrent(hidden, (actions + 1) % spec.num_actions)
    assert not torch.allclose(other, next_hidden)


def test_board_pass_encoding_distinguishes_pass():
    net = MuZeroNetwork(GameSpec((2, 3, 3), 10), NetworkConfig(channels=4))
    planes = net.encode_actions(torch.tensor([0, 9]))
    assert planes.shape == (2, 2, 3, 3)
    assert planes[0, 0, 0, 0] == 1 and planes[0].sum() == 1
    assert planes[1, 0].sum() == 0 and planes[1, 1].sum() == 9


def test_fixed_encoding_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        MuZeroNetwork(GameSpec((2, 3, 3), 5), NetworkConfig(action_encoding="board"))


def test_h_transform_roundtrip_and_two_hot():
    x = torch.tensor([-300.0, -1.5, 0.0, 0.3, 7.0, 1000.0])
    assert torch.allclose(h_inverse(h_transform(x)), x, rtol=1e-4, atol=1e-3)
    probabilities = scalar_to_probabilities(x[1:5], support=10)
    assert torch.allclose(probabilities.sum(-1), torch.ones(4))
    back = logits_to_scalar(torch.log(probabilities + 1e-12), support=10)
    assert torch.allclose(back, x[1:5], atol=1e-3)


def test_support_network_outputs_scalars():
    net = MuZeroNetwork(GameSpec((2, 3, 3), 9), NetworkConfig(channels=4, value_support=5, reward_support=3)).eval()
    hidden, _, value = net.initial(torch.randn(2, 2, 3, 3))
    _, reward, _, _ = net.recurrent(hidden, torch.tensor([1, 2]))
    assert value.shape == (2,) and reward.shape == (2,)


def test_config_roundtrip_and_presets():
    for config in (NetworkConfig.tiny(), NetworkConfig.connect_four(), NetworkConfig.default()):
        assert NetworkConfig.from_dict(config.to_dict()) == config
    assert NetworkConfig.for_game("connect_four") == NetworkConfig.connect_four()
    assert NetworkConfig.for_game("tictactoe") == NetworkConfig.tiny()
    assert NetworkConfig.for_game("othello") == NetworkConfig.default()
    with pytest.raises(ValueError):
        NetworkConfig.from_dict({"channels": 8, "bogus": 1})
    with pytest.raises(ValueError):
        NetworkConfig(channels=0)


def test_cell_action_heads_read_each_placement_at_its_own_cell():
    """Action a = row * width + column reads the cell (row, column); the pass, the board term."""
    net = MuZeroNetwork(GameSpec((2, 3, 4), 13), NetworkConfig(channels=4, action_heads=True, action_head_channels=5,
                                                               action_head_output="cells")).eval()
    heads = net.action_heads
    with torch.no_grad():
        heads.cell_out.weight.zero_()
        heads.cell_out.bias.zero_()
        for output in range(heads.cell_out.out_channels):
            heads.cell_out.weight[output, output] = 1.0       # output k reads the convolution's channel k
        heads.board_out.weight.zero_()
        heads.board_out.bias.copy_(torch.arange(heads.board_out.out_features, dtype=torch.float32))
    hidden = torch.rand(3, *net.hidden_shape)
    legal, ends = net.predict_actions(hidden)
    assert legal.shape == (3, 13) and ends.shape == (3, 13, 4)
    features = torch.relu(heads.norm(heads.conv(hidden)))
    for action in range(12):
        row, column = divmod(action, 4)
        torch.testing.assert_close(legal[:, action], features[:, 0, row, column] + 0.0)
        torch.testing.assert_close(ends[:, action], features[:, 1:5, row, column] + torch.arange(1.0, 5.0))
    torch.testing.assert_close(legal[:, 12], torch.full((3,), 5.0))
    torch.testing.assert_close(ends[:, 12], torch.arange(6.0, 10.0).expand(3, 4))


@pytest.mark.parametrize("output", ["mlp", "cells"])
def test_folded_action_heads_match_the_trainable_ones(output):
    net = MuZeroNetwork(GameSpec((3, 5, 5), 26), NetworkConfig(channels=8, action_heads=True, action_head_layers=2,
                                                               action_head_output=output, dynamics="board")).eval()
    hidden = net.represent((torch.rand(4, 3, 5, 5) < 0.4).float())
    with torch.no_grad():
        eager = net.predict_actions(hidden)
        net.set_inference("fp32")
        folded = net.predict_actions(hidden)
    for got, want in zip(folded, eager):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_cell_action_heads_need_actions_on_cells():
    with pytest.raises(ValueError, match="one action per cell"):
        MuZeroNetwork(GameSpec((2, 6, 7), 7), NetworkConfig(action_heads=True, action_head_output="cells"))
    with pytest.raises(ValueError, match="action_head_output"):
        NetworkConfig(action_head_output="conv")
