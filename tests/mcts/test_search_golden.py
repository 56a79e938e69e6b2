"""Golden tests of the sign convention: the search must find a forced win in one and in two.

The model is exact and hand-made: a pile of stones, a move takes 1 or 2 (action 0 or 1,
capped at what is left), and whoever takes the last stone wins. The winning move's reward
is +1 for the player who made it; every value is 0 (an uninformative network), so only a
correct backup (Q = r - V(child) between the two players) can find the winning moves.
"""
import numpy as np
import pytest

from mcts import BatchedTree, SearchConfig
from mcts.reference import ReferenceTree

FINISHED = -1   # pile marker of a finished game (absorbing, reward 0, value 0)


def play(piles: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    taken = np.minimum(actions + 1, np.maximum(piles, 0))
    after = np.where(piles > 0, piles - taken, FINISHED)
    reward = np.where((piles > 0) & (after == 0), 1.0, 0.0).astype(np.float32)
    return np.where(after == 0, FINISHED, after), reward


def search(tree_class, config, piles):
    batch = len(piles)
    tree = tree_class(batch, 2, config.num_simulations + 1)
    node_piles = np.zeros((batch, config.num_simulations + 1), dtype=np.int64)
    node_piles[:, 0] = piles
    flat_logits = np.zeros((batch, 2), dtype=np.float32)
    zeros = np.zeros(batch, dtype=np.float32)
    tree.reset_roots(config, flat_logits, zeros, np.ones((batch, 2), dtype=bool), np.random.default_rng(0))
    rows = np.arange(batch)
    for _ in range(config.num_simulations):
        parents, actions = tree.select(config)
        next_piles, reward = play(node_piles[rows, parents], actions)
        new_nodes = tree.expand_and_backup(config, reward, zeros, flat_logits)
        node_piles[rows, new_nodes] = next_piles
    return tree.output(config)


@pytest.mark.parametrize("tree_class", [BatchedTree, ReferenceTree])
@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_finds_forced_wins_in_one_and_two(tree_class, root):
    # pile 2: take 2 wins now (action 1). pile 4 and 5: leave 3, a lost pile for the opponent
    # (action 0 and action 1), which wins on the mover's second move.
    piles = np.array([2, 4, 5])
    config = SearchConfig(num_simulations=60, root=root, gumbel_noise=False)
    output = search(tree_class, config, piles)
    np.testing.assert_array_equal(output.action, [1, 0, 1])
    # From the root player's view the winning move is worth +1, the other one is losing.
    assert output.q_values[0, 1] == pytest.approx(1.0)
    assert output.q_values[0, 0] < 0
    assert output.root_value[0] > 0


@pytest.mark.parametrize("tree_class", [BatchedTree, ReferenceTree])
def test_one_player_game_adds_the_child_value(tree_class):
    # With two_player=False Q = r + V(child): taking the last stone still pays +1, and
    # the value is no longer flipped, so a reward two moves ahead also counts positively.
    config = SearchConfig(num_simulations=30, two_player=False)
    output = search(tree_class, config, np.array([2]))
    assert output.q_values[0, 1] == pytest.approx(1.0)
    assert output.q_values[0, 0] > 0   # taking 1 leaves 1, which "we" then take for +1
