"""The learned tree with action heads: predicted legal moves and game ends used inside the search."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import envs
from agent.agent import Agent
from agent.config import NetworkConfig
from agent.model_ends import NodeEnds, read_heads, read_position_ends, step_through_ends
from agent.networks import MuZeroNetwork
from envs.game import END_CLASSES, END_DRAW, END_LOSS, END_NONE, END_WIN
from mcts import BatchedTree, ReferenceTree, SearchConfig

from tests.agent.rules_network import RulesNetwork

TICTACTOE = envs.get_game("tictactoe")
CONNECT_FOUR = envs.get_game("connect_four")

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/agent/conftest.py


def _winning(state):
    return [a for a in state.legal_actions() if state.play(a).is_terminal() and state.play(a).winner() == state.to_play]


@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_the_heads_alone_find_the_win_in_one(root):
    # reward and value say nothing (0 everywhere): only the end head tells that a move wins
    state = TICTACTOE.state_from_actions([0, 3, 1, 4])
    network = RulesNetwork("ends")
    result = Agent(network, TICTACTOE).act([state], SearchConfig(num_simulations=30, root=root, gumbel_noise=False))
    assert result.actions[0] in _winning(state)
    assert result.q_values[0, result.actions[0]] == pytest.approx(1.0)   # a leaf: the exact result, every visit
    assert network.head_calls == 31                                     # the root and every simulation


def test_without_learned_ends_the_same_network_sees_nothing():
    state = TICTACTOE.state_from_actions([0, 3, 1, 4])
    config = SearchConfig(num_simulations=30, learned_ends=False)
    result = Agent(RulesNetwork("ends"), TICTACTOE).act([state], config)
    visited = result.visit_counts[0] > 0
    assert np.allclose(result.q_values[0, visited], 0.0)


def test_the_heads_alone_block_the_opponents_win():
    # O threatens 2-4-6 after X 0, O 4, X 8, O 2: X must take 6 (X has no win of its own)
    state = TICTACTOE.state_from_actions([0, 4, 8, 2])
    assert not _winning(state)
    result = Agent(RulesNetwork("ends"), TICTACTOE).act([state], 200)
    assert result.actions[0] == 6, result.visit_counts


def test_predicted_illegal_moves_get_no_node_below_the_root():
    state = TICTACTOE.state_from_actions([0, 4])
    network = RulesNetwork("ends")
    agent = Agent(network, TICTACTOE)
    seen = []
    recurrent = network.recurrent

    def spy(hidden, actions):       # every expanded edge: its parent's stones and the action
        flat = hidden.reshape(hidden.shape[0], 2, 9)
        occupied = flat.sum(1)[:, network.cells] > 0
        seen.append(occupied[torch.arange(hidden.shape[0]), actions.long()])
        return recurrent(hidden, actions)

    network.recurrent = spy
    agent.act([state], 100)
    assert seen and not torch.cat(seen).any(), "an occupied square was expanded"


def test_reading_the_heads():
    legal_logits = torch.tensor([[5.0, -5.0, 0.1], [-5.0, -5.0, -5.0]])
    end_logits = torch.full((2, 3, END_CLASSES), -10.0)
    end_logits[:, :, END_NONE] = 10.0
    end_logits[0, 0, END_NONE], end_logits[0, 0, END_WIN] = -10.0, 10.0       # a sure win
    end_logits[0, 2, END_NONE], end_logits[0, 2, END_DRAW], end_logits[0, 2, END_LOSS] = -10.0, 0.0, 0.0
    reading = read_heads(legal_logits, end_logits, legal_threshold=0.5, end_threshold=0.5)
    assert reading.legal.tolist() == [[True, False, True], [True, True, True]]   # none legal: all are
    assert reading.ends.tolist() == [[True, False, True], [False, False, False]]
    assert reading.end_reward[0, 0] == pytest.approx(1.0)
    assert reading.end_reward[0, 2] == pytest.approx(-0.5, abs=1e-4)            # half drawn, half lost


def test_below_a_predicted_end_everything_is_absorbing():
    num_actions = 3
    node_ends = NodeEnds.empty(2, 4, num_actions)
    ends = np.array([[True, False, False], [False, False, False]])
    reading = read_heads(torch.zeros(2, 3), torch.zeros(2, 3, END_CLASSES), 0.5, 0.5)
    reading = type(reading)(legal=reading.legal, ends=ends, end_reward=np.array([[1.0, 0, 0], [0, 0, 0]], np.float32))
    node_ends.set_roots(reading)
    reward, value, legal, ended, game_end = step_through_ends(
        node_ends, np.array([0, 0]), np.array([0, 0]), np.array([0.3, 0.3]), np.array([0.5, 0.5]), reading)
    assert reward.tolist() == pytest.approx([1.0, 0.3]) and value.tolist() == [0.0, 0.5]
    assert ended.tolist() == [True, False] and game_end.tolist() == [True, False]
    node_ends.record(np.array([1, 1]), reading, ended)
    reward, value, legal, ended, game_end = step_through_ends(
        node_ends, np.array([1, 1]), np.array([2, 0]), np.array([0.3, 0.3]), np.array([0.5, 0.5]), reading)
    assert reward.tolist() == pytest.approx([0.0, 0.3]) and value.tolist() == [0.0, 0.5]   # tree 1 goes on
    assert ended.tolist() == [True, False] and game_end.tolist() == [False, False]
    assert legal[0].all()


def test_with_end_rewards_only_a_transition_that_goes_on_has_no_reward():
    """Board games reward at their end only: where the model reads no end, g's reward head
    (here 0.3 on every move) is not added, and where it reads one the predicted result is."""
    node_ends = NodeEnds.empty(2, 4, 3)
    reading = read_heads(torch.zeros(2, 3), torch.zeros(2, 3, END_CLASSES), 0.5, 0.5)
    ends = np.array([[True, False, False], [False, False, False]])
    reading = type(reading)(legal=reading.legal, ends=ends, end_reward=np.array([[1.0, 0, 0], [0, 0, 0]], np.float32))
    node_ends.set_roots(reading)
    for only, going_on in ((True, 0.0), (False, 0.3)):
        reward, value, _, ended, _ = step_through_ends(node_ends, np.array([0, 0]), np.array([0, 0]),
                                                       np.array([0.3, 0.3]), np.array([0.5, 0.5]), reading,
                                                       end_rewards_only=only)
        assert reward.tolist() == pytest.approx([1.0, going_on]) and value.tolist() == [0.0, 0.5]


def test_the_board_detector_ends_a_new_position_as_the_heads_end_an_edge():
    node_ends = NodeEnds.empty(3, 4, 3)
    reading = read_heads(torch.zeros(3, 3), torch.zeros(3, 3, END_CLASSES), 0.5, 0.5)
    reading = type(reading)(legal=reading.legal, ends=np.zeros((3, 3), bool), end_reward=np.zeros((3, 3), np.float32))
    node_ends.set_roots(reading)
    logits = torch.full((3, END_CLASSES), -10.0)
    logits[0, END_WIN] = 10.0                      # won by its mover
    logits[1, END_DRAW] = 10.0                     # drawn
    logits[2, END_NONE] = 10.0                     # goes on
    position = read_position_ends(logits, end_threshold=0.5)
    assert position.ended.tolist() == [True, True, False]
    reward, value, legal, ended, game_end = step_through_ends(
        node_ends, np.zeros(3, np.int64), np.array([0, 1, 2]), np.full(3, 0.3), np.full(3, 0.5), reading, position)
    assert reward.tolist() == pytest.approx([1.0, 0.0, 0.3]) and value.tolist() == [0.0, 0.0, 0.5]
    assert ended.tolist() == game_end.tolist() == [True, True, False]
    # calibrated as the heads are: trained with ends weighing 10, a raw 0.9 is a data 0.47
    weighted = torch.tensor([[0.0, float(np.log(9.0)), -30.0, -30.0]])
    assert read_position_ends(weighted, 0.5).ended.tolist() == [True]
    assert read_position_ends(weighted, 0.5, positive_weight=10.0).ended.tolist() == [False]


@pytest.mark.parametrize("name", ["legal_threshold", "end_threshold"])
@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, 1.5, float("nan"), True, "0.5"])
def test_thresholds_are_validated(name, value):
    with pytest.raises(ValueError, match=name):
        SearchConfig(**{name: value})


@pytest.mark.parametrize("name", ["learned_ends", "end_rewards_only"])
def test_the_switches_must_be_bools(name):
    with pytest.raises(ValueError, match=name):
        SearchConfig(**{name: 1})


def test_learned_ends_must_be_a_bool():
    with pytest.raises(ValueError, match="learned_ends"):
        SearchConfig(learned_ends="yes")


def _network_with_heads(seed: int) -> MuZeroNetwork:
    torch.manual_seed(seed)
    network = MuZeroNetwork(CONNECT_FOUR, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1,
                                                        prediction_blocks=0, head_hidden=16, action_heads=True,
                                                        action_head_channels=4))
    with torch.no_grad():   # sharpen the heads so that thresholds bite on a fresh network
        network.action_heads.fc2.weight.mul_(30.0)
        network.action_heads.fc2.bias.uniform_(-3.0, 3.0)
    return network


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), sims=st.integers(1, 40), root=st.sampled_from(["puct", "gumbel"]),
       legal_threshold=st.floats(0.05, 0.95), end_threshold=st.floats(0.05, 0.95), plies=st.integers(0, 30))
def test_the_compiled_tree_and_the_reference_agree_with_heads(seed, sims, root, legal_threshold, end_threshold, plies):
    network = _network_with_heads(seed)
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(3):
        state = CONNECT_FOUR.initial_state()
        for _ in range(plies):
            after = state.play(int(rng.choice(state.legal_actions())))
            if after.is_terminal():
                break
            state = after
        states.append(state)
    config = SearchConfig(num_simulations=sims, root=root, gumbel_noise=False, legal_threshold=legal_threshold,
                          end_threshold=end_threshold)
    outputs = [Agent(network, CONNECT_FOUR, tree_factory=factory, inference="fp32").act(states, config)
               for factory in (BatchedTree, ReferenceTree)]
    np.testing.assert_array_equal(outputs[0].visit_counts, outputs[1].visit_counts)
    np.testing.assert_array_equal(outputs[0].actions, outputs[1].actions)
    np.testing.assert_allclose(outputs[0].q_values, outputs[1].q_values, rtol=1e-9, atol=1e-9)


def test_a_session_carries_the_ends_with_the_subtree():
    network = RulesNetwork("ends")
    agent = Agent(network, TICTACTOE)
    session = agent.new_session()
    first = TICTACTOE.state_from_actions([0, 3])
    result = agent.act([first], 60, session=session)
    second = first.play(int(result.actions[0])).play(4)
    if second.is_terminal():
        pytest.skip("the game ended")
    fresh = agent.act([second], 60)
    reused = agent.act([second], 60, session=session)
    assert session.reused_trees == 1
    winning = _winning(second)
    if winning:
        assert reused.actions[0] in winning and fresh.actions[0] in winning


def test_the_end_losss_weight_is_undone_when_reading():
    from agent.model_ends import end_probabilities

    # a head trained with weight 10 on game ends that says 0.9 "wins" means odds 9, i.e. 0.9 on the data
    logits = torch.log(torch.tensor([[[0.1, 0.9, 1e-9, 1e-9]]]))
    assert end_probabilities(logits)[0, 0, 1] == pytest.approx(0.9, abs=1e-6)
    calibrated = end_probabilities(logits, positive_weight=10.0)[0, 0]
    assert calibrated[1] == pytest.approx(0.9 / (0.9 + 1.0), abs=1e-5) and calibrated.sum() == pytest.approx(1.0)
    reading = read_heads(torch.zeros(1, 1), logits, 0.5, 0.5, positive_weight=10.0)
    assert not reading.ends[0, 0]                                  # 0.47 < 0.5 once calibrated
    assert read_heads(torch.zeros(1, 1), logits, 0.5, 0.5).ends[0, 0]
