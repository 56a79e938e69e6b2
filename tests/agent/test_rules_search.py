"""Search over the real rules (`SearchConfig.model="rules"`): the same trees, the real game's
positions at every node, exact rewards where a game ends."""
import numpy as np
import pytest
import torch

import envs
from agent.agent import Agent, training_search_model
from agent.checkpoint import make_payload, save_checkpoint
from agent.networks import build_network
from agent.player import AgentPlayer, evaluation_search, parse_agent_spec
from agent.roots import Root
from envs.errors import UsageError
from mcts import ReferenceTree, SearchConfig
from selfplay.ablation_cli import parse_roots

CONNECT_FOUR = envs.get_game("connect_four")
TICTACTOE = envs.get_game("tictactoe")


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/agent/conftest.py


def _untrained(game, seed=0):
    torch.manual_seed(seed)
    return Agent(build_network(game), game)


def _rules(sims, root="puct"):
    return SearchConfig(num_simulations=sims, root=root, gumbel_noise=False, model="rules")


@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_an_untrained_network_over_the_rules_finds_every_win_in_one(root):
    """The learned model must learn that a line of four ends the game; the rules know it, so
    even a random network's search takes the win (its Q is the exact reward, 1)."""
    rng = np.random.default_rng(0)
    agent = _untrained(CONNECT_FOUR)
    positions = []
    while len(positions) < 12:
        state = CONNECT_FOUR.initial_state()
        while not state.is_terminal() and not state.winning_actions():
            state = state.play(int(rng.choice(state.legal_actions())))
        if not state.is_terminal():
            positions.append(state)
    result = agent.act(positions, _rules(64, root))
    for row, state in enumerate(positions):
        assert int(result.actions[row]) in state.winning_actions(), (state.history, result.visit_counts[row])
        assert result.q_values[row, result.actions[row]] == pytest.approx(1.0)


def test_an_untrained_network_over_the_rules_blocks_a_threat():
    # X (to move) has no win; O threatens the bottom row's open end (column 3 after 0,1,2).
    state = CONNECT_FOUR.state_from_actions([6, 0, 6, 1, 5, 2])
    assert not state.winning_actions() and state.threat_actions() == [3]
    result = _untrained(CONNECT_FOUR).act([state], _rules(200))
    assert int(result.actions[0]) == 3, result.visit_counts
    losing = [a for a in state.legal_actions() if a != 3 and result.visit_counts[0, a] > 0]
    assert losing and all(result.q_values[0, a] < min(0.0, result.q_values[0, 3]) for a in losing), \
        result.q_values


def test_rules_search_is_the_same_with_the_compiled_and_the_reference_tree():
    network = build_network(TICTACTOE)
    compiled = Agent(network, TICTACTOE)
    reference = Agent(network, TICTACTOE, tree_factory=ReferenceTree)
    states = [TICTACTOE.initial_state(), TICTACTOE.state_from_actions([0, 4, 8]),
              TICTACTOE.state_from_actions([0, 1, 3, 4, 2, 5, 7, 6])]   # one empty square left
    for config in (_rules(40), _rules(40, "gumbel")):
        a, b = compiled.act(states, config), reference.act(states, config)
        np.testing.assert_array_equal(a.visit_counts, b.visit_counts)
        np.testing.assert_allclose(a.q_values, b.q_values, rtol=1e-5, atol=1e-6)
    # the last position: every simulation past the only move lands below the end (absorbing),
    # so the network evaluated the root alone
    last = compiled.act(states[2:], _rules(40))
    assert last.visit_counts[0].sum() == 40 and last.network_evals == 1
    assert compiled.act(states[:2], _rules(40)).network_evals <= 2 * 41


def test_the_rules_suffix_names_a_rules_search_everywhere():
    assert Root.parse("puct") == Root("puct", "learned") and Root.parse("gumbel+rules") == Root("gumbel", "rules")
    search = evaluation_search(200, "puct+rules", 0.98)
    assert (search.root, search.model, search.discount) == ("puct", "rules", 0.98)
    assert parse_agent_spec("agent:run/ckpt.pt:200:gumbel+rules") == ("run/ckpt.pt", 200, "gumbel+rules")
    assert parse_roots("puct,puct+rules") == ("puct", "puct+rules")
    with pytest.raises(UsageError):
        parse_roots("puct+oracle")
    with pytest.raises(ValueError):
        SearchConfig(model="oracle")
    player = AgentPlayer(_untrained(TICTACTOE), 10, "puct+rules")
    assert player.search.model == "rules"
    assert len(player.act_batch([TICTACTOE.initial_state()])) == 1


def test_an_agent_trained_over_the_rules_plays_over_them_unless_told_otherwise(tmp_path):
    network = build_network(TICTACTOE)
    paths = {}
    for model in ("learned", "rules"):
        config = {"search": {"model": model, "discount": 1.0}}
        paths[model] = save_checkpoint(tmp_path / f"{model}.pt", make_payload(network, TICTACTOE, config=config))
    rules_agent, learned_agent = Agent.load(paths["rules"]), Agent.load(paths["learned"])
    assert (rules_agent.trained_model, learned_agent.trained_model) == ("rules", "learned")
    assert AgentPlayer(rules_agent, 10).search.model == "rules"
    assert AgentPlayer(learned_agent, 10).search.model == "learned"
    assert AgentPlayer(rules_agent, 10, "puct").search.model == "learned"   # a named root wins
    # checkpoints are data: an old or malformed config means the learned model
    for config in ({}, {"search": {}}, {"search": {"model": ["rules"]}}, {"search": "rules"}, None):
        assert training_search_model(config) == "learned"


def test_the_solver_proves_exactly_the_tictactoe_values():
    """Every result the solver proves at a root is the move's exact game value, small endgames
    are solved by pUCT (whose every selection follows the proofs; Gumbel's root follows its
    halving schedule), and the move played is then optimal (an untrained network)."""
    from envs.tictactoe_solver import action_values, reachable_positions

    rng = np.random.default_rng(3)
    positions = [p for p in reachable_positions() if not p.is_terminal()]
    sample = [positions[i] for i in rng.choice(len(positions), 60, replace=False)]
    agent = _untrained(TICTACTOE)
    for root in ("puct", "gumbel"):
        config = SearchConfig(num_simulations=300, root=root, gumbel_noise=False, model="rules", solver=True)
        result = agent.act(sample, config)
        proven_moves = 0
        for row, state in enumerate(sample):
            exact = action_values(state)
            proven = {a: int(result.proven[row, a]) for a in exact if result.proven[row, a] != 2}
            assert proven == {a: exact[a] for a in proven}, (state.history, proven, exact)
            proven_moves += len(proven)
            if len(exact) <= 4 and root == "puct":   # solved: a winning move, or every move proven
                assert 1 in proven.values() or len(proven) == len(exact), (root, state.history, proven)
            if len(proven) == len(exact) or 1 in proven.values():
                assert exact[int(result.actions[row])] == max(exact.values()), (root, state.history)
        assert proven_moves > 100


def test_without_the_solver_nothing_is_proven():
    result = _untrained(TICTACTOE).act([TICTACTOE.state_from_actions([0, 1, 3, 4])], _rules(50))
    assert (result.proven == 2).all()


def test_the_solver_suffix_names_a_proving_search():
    assert Root.parse("puct+rules+solver") == Root("puct", "rules", solver=True)
    assert evaluation_search(200, "puct+rules+solver").solver
    assert not evaluation_search(200, "puct+rules").solver
    assert parse_agent_spec("agent:x.pt:200:gumbel+rules+solver") == ("x.pt", 200, "gumbel+rules+solver")
    assert parse_roots("puct+rules,puct+rules+solver") == ("puct+rules", "puct+rules+solver")
    with pytest.raises(ValueError, match="two_player"):
        SearchConfig(solver=True, two_player=False)
