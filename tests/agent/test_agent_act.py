"""Agent.act: policy-only and searched moves, batched, both roots; signs end to end; sessions."""
import numpy as np
import pytest
import torch

import envs
from agent.agent import Agent, SearchSession
from agent.networks import MuZeroNetwork, build_network
from agent.config import NetworkConfig
from mcts import BatchedTree, ReferenceTree, SearchConfig

from tests.agent.rules_network import RulesNetwork

GAME = envs.get_game("tictactoe")


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/agent/conftest.py


@pytest.fixture(scope="module")
def agent():
    torch.manual_seed(0)
    return Agent(build_network(GAME), GAME)


def _positions():
    return [GAME.initial_state(), GAME.state_from_actions([0, 4]), GAME.state_from_actions([0, 1, 3]),
            GAME.state_from_actions([4, 0, 8, 2])]


def test_the_final_agent_uses_the_compiled_tree(agent):
    assert agent.tree_factory is BatchedTree
    assert BatchedTree is not ReferenceTree, "mcts._tree is not built"


@pytest.mark.parametrize("search", [0, 1, 25, SearchConfig(num_simulations=25, root="gumbel"),
                                    SearchConfig(num_simulations=1, root="gumbel")])
def test_act_batched_returns_legal_moves_and_consistent_stats(agent, search):
    states = _positions()
    result = agent.act(states, search, rng=np.random.default_rng(0))
    legal = np.stack([s.legal_mask() for s in states])
    sims = search if isinstance(search, int) else search.num_simulations
    assert result.actions.shape == (4,)
    assert legal[np.arange(4), result.actions].all()
    assert result.network_evals == 4 * (1 + sims)
    assert result.seconds > 0
    np.testing.assert_allclose(result.prior.sum(1), 1, rtol=1e-5)
    assert (result.prior[~legal] == 0).all() and (result.policy[~legal] == 0).all()
    np.testing.assert_allclose(result.policy.sum(1), 1, rtol=1e-4)
    assert (np.abs(result.root_value) <= 1).all()
    if sims == 0:
        assert (result.visit_counts == 0).all() and np.isnan(result.q_values).all()
        masked = np.where(legal, result.prior, -1)
        assert (result.actions == masked.argmax(1)).all()
    else:
        assert (result.visit_counts.sum(1) == sims).all()
        assert (result.visit_counts[~legal] == 0).all()


def test_batched_search_equals_one_by_one(agent):
    """Each game's search is independent of the others in its batch."""
    states = _positions()
    together = agent.act(states, 25)
    for index, state in enumerate(states):
        alone = agent.act([state], 25)
        assert alone.actions[0] == together.actions[index]
        np.testing.assert_array_equal(alone.visit_counts[0], together.visit_counts[index])


def test_terminal_or_empty_input_is_refused(agent):
    finished = GAME.state_from_actions([0, 3, 1, 4, 2])
    assert finished.is_terminal()
    with pytest.raises(ValueError, match="terminal"):
        agent.act([GAME.initial_state(), finished], 5)
    with pytest.raises(ValueError):
        agent.act([], 5)
    with pytest.raises(ValueError):
        agent.act([GAME.initial_state()], -1)


# X (player 0) holds actions 0 and 1 of one line... found by the rules network either way.
WIN_IN_ONE = [0, 3, 1, 4]        # X to move: completing 0,1,2 (in action ids) wins


def _winning_actions(state):
    return [a for a in state.legal_actions() if state.play(a).is_terminal() and state.play(a).winner() == state.to_play]


@pytest.mark.parametrize("mode", ["reward", "value"])
@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_search_finds_the_win_in_one(mode, root):
    state = GAME.state_from_actions(WIN_IN_ONE)
    winning = _winning_actions(state)
    assert winning, "the test position must have a winning move"
    agent = Agent(RulesNetwork(mode), GAME)
    config = SearchConfig(num_simulations=30, root=root, gumbel_noise=False)
    result = agent.act([state], config)
    assert result.actions[0] in winning
    assert result.q_values[0, result.actions[0]] == pytest.approx(1.0)
    assert result.root_value[0] > 0       # the winner's view
    # policy-only with a flat prior knows nothing: sims 0 is not the search
    assert agent.act([state], 0).network_evals == 1


@pytest.mark.parametrize("mode", ["reward", "value"])
def test_search_blocks_the_opponents_win(mode):
    # O threatens to complete a line; X has no win of its own: only the block avoids a loss.
    for history in ([0, 4, 8, 2], [4, 0, 2, 6]):
        state = GAME.state_from_actions(history)
        if _winning_actions(state):
            continue
        threats = [a for a in state.legal_actions()
                   if any(s.is_terminal() for s in [state.play(b).play(a) for b in state.legal_actions() if b != a
                                                    and not state.play(b).is_terminal()])]
        blocks = [a for a in state.legal_actions()
                  if not any(state.play(a).play(b).is_terminal() for b in state.play(a).legal_actions())]
        if not blocks or len(blocks) == len(state.legal_actions()):
            continue
        agent = Agent(RulesNetwork(mode), GAME)
        result = agent.act([state], 200)
        assert result.actions[0] in blocks, (history, blocks, result.visit_counts)
        non_blocks = [a for a in state.legal_actions() if a not in blocks]
        q_block = max(result.q_values[0, a] for a in blocks)
        assert all(result.q_values[0, a] < min(0.0, q_block) for a in non_blocks
                   if result.visit_counts[0, a] > 2), result.q_values
        return
    pytest.fail("no suitable blocking position")


def test_session_reuses_the_subtree_and_matches_legal_moves():
    agent = Agent(RulesNetwork("reward"), GAME)
    states = [GAME.initial_state(), GAME.state_from_actions([4])]
    session = agent.new_session()
    first = agent.act(states, 40, session=session)
    after = [s.play(int(a)) for s, a in zip(states, first.actions)]
    second = agent.act(after, 40, session=session)          # self-play: one ply later
    assert session.reused_trees == 2
    # the kept subtree's visits add to this search's simulations
    kept = first.visit_counts[np.arange(2), first.actions] - 1
    np.testing.assert_array_equal(second.visit_counts.sum(1), 40 + kept)
    reply = [s.play(int(a)) for s, a in zip(after, second.actions)]
    reply = [s.play(s.legal_actions()[0]) for s in reply]    # arena: two plies later
    third = agent.act(reply, 40, session=session)
    assert (third.visit_counts.sum(1) >= 40).all()
    legal = np.stack([s.legal_mask() for s in reply])
    assert legal[np.arange(2), third.actions].all() and (third.visit_counts[~legal] == 0).all()
    # an unrelated position falls back to a fresh root for that game
    extended = reply[1].play(int(third.actions[1]))
    unrelated = [GAME.state_from_actions([8]), reply[1] if extended.is_terminal() else extended]
    fourth = agent.act(unrelated, 40, session=session)
    assert fourth.visit_counts[0].sum() == 40
    # games may drop out and change order between searches: tests/agent/test_tree_reuse.py


def test_session_search_equals_fresh_search_on_first_move():
    torch.manual_seed(1)
    agent = Agent(MuZeroNetwork(GAME, NetworkConfig(channels=8)), GAME)
    states = _positions()
    fresh = agent.act(states, 20)
    with_session = agent.act(states, 20, session=SearchSession())
    np.testing.assert_array_equal(fresh.visit_counts, with_session.visit_counts)


def test_temperature_sampling_is_seeded(agent):
    states = _positions()
    first = agent.act(states, 10, temperature=1.0, rng=np.random.default_rng(3))
    again = agent.act(states, 10, temperature=1.0, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(first.actions, again.actions)
    policy_only = agent.act(states, 0, temperature=1.0, rng=np.random.default_rng(3))
    legal = np.stack([s.legal_mask() for s in states])
    assert legal[np.arange(4), policy_only.actions].all()
