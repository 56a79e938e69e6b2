"""Tree reuse between moves (`agent.reuse`): over the rules and the learned model, in a batch
that shrinks and reorders as games end, behind `+reuse` players and in `ponder play`."""
import numpy as np
import pytest
import torch

import envs
from agent.agent import Agent
from agent.networks import build_network
from agent.play import AgentOpponent
from agent.player import AgentPlayer, parse_agent_spec
from envs.errors import UsageError
from envs.players import parse_player
from mcts import ReferenceTree, SearchConfig
from selfplay.arena import play_games

CONNECT_FOUR = envs.get_game("connect_four")
TICTACTOE = envs.get_game("tictactoe")

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/agent/conftest.py


def _agent(game, tree_factory=None, seed=0):
    torch.manual_seed(seed)
    return Agent(build_network(game), game, tree_factory=tree_factory)


def _config(sims, model):
    return SearchConfig(num_simulations=sims, gumbel_noise=False, model=model)


@pytest.mark.parametrize("model", ["rules", "learned"])
def test_one_ply_later_the_kept_subtree_adds_to_the_new_simulations(model):
    agent = _agent(CONNECT_FOUR)
    session = agent.new_session()
    states = [CONNECT_FOUR.state_from_actions([3]), CONNECT_FOUR.initial_state()]
    first = agent.act(states, _config(40, model), session=session)
    following = [state.play(int(action)) for state, action in zip(states, first.actions)]
    second = agent.act(following, _config(40, model), session=session)
    kept = first.visit_counts[np.arange(2), first.actions] - 1
    assert session.reused_trees == int((kept > 0).sum()) > 0
    np.testing.assert_array_equal(second.visit_counts.sum(axis=1), 40 + np.maximum(kept, 0))
    legal = np.stack([state.legal_mask() for state in following])
    assert (second.visit_counts[~legal] == 0).all()


def test_over_the_rules_every_kept_node_keeps_its_own_position():
    """The positions a reused tree steps through are the ones its actions lead to, also
    after games drop out and the rest change order."""
    agent = _agent(CONNECT_FOUR, tree_factory=ReferenceTree)
    session = agent.new_session()
    config = _config(60, "rules")
    states = [CONNECT_FOUR.state_from_actions(moves) for moves in ([3], [2, 4], [0])]
    first = agent.act(states, config, session=session)
    # two plies later (the agent's move and a reply), the third game gone, the order reversed
    replies = []
    for state, action in zip(states[:2], first.actions[:2]):
        after = state.play(int(action))
        replies.append(after.play(after.legal_actions()[0]))
    later = replies[::-1]
    agent.act(later, config, session=session)
    tree = session.tree
    checked = 0
    for row, root in enumerate(later):
        for node, position in session.positions[row].items():
            path, current = [], node
            while current != 0:
                parent = int(tree.parent[row, current])
                path.append(int(np.flatnonzero(tree.children[row, parent] == current)[0]))
                current = parent
            expected = root
            for action in reversed(path):
                expected = expected.play(action)
            assert tuple(expected.history) == tuple(position.history)
            checked += 1
    assert checked > 2 * 60 and session.reused_trees >= 2


def test_a_reusing_player_follows_games_through_a_shrinking_batch():
    agent = _agent(TICTACTOE)
    player = AgentPlayer(agent, 12, "puct+rules+reuse")
    opponent = parse_player("random", TICTACTOE, seed=3)
    records = play_games(TICTACTOE, player, opponent, range(8), openings=[(0,), (4,), (8,), (2,)])
    assert len(records) == 8 and all(record.winner in (0, 1, None) for record in records)
    assert player.session.reused_trees > 0 and player.session.fresh_trees >= 8


def test_reuse_is_a_puct_root_modifier():
    assert parse_agent_spec("agent:run:200:puct+rules+reuse") == ("run", 200, "puct+rules+reuse")
    assert parse_agent_spec("agent:run:8:puct+reuse") == ("run", 8, "puct+reuse")
    for spec in ("agent:run:200:gumbel+rules+reuse", "agent:run:200:reuse", "agent:run:200:puct+reuse+rules"):
        with pytest.raises(UsageError):
            parse_agent_spec(spec)
    assert AgentPlayer(_agent(TICTACTOE), 8, "puct").session is None


def test_ponder_play_keeps_its_tree_between_moves():
    agent = _agent(TICTACTOE)
    opponent = AgentOpponent(agent, 30, "puct+rules", "test", seed=0)
    state = TICTACTOE.state_from_actions([4])
    action, _ = opponent.choose(state)
    reply = state.play(action)
    reply = reply.play(reply.legal_actions()[0])
    _, analysis = opponent.choose(reply)
    assert opponent.player.session.reused_trees == 1
    assert analysis.sims == 30
