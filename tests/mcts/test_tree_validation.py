"""Bad input to either tree raises a clear ValueError, never crashes the interpreter."""
import numpy as np
import pytest

from mcts import BatchedTree, SearchConfig
from mcts.reference import ReferenceTree

TREES = [BatchedTree, ReferenceTree]
CONFIG = SearchConfig(num_simulations=4)


def ready_tree(tree_class, batch=2, actions=3, capacity=10):
    tree = tree_class(batch, actions, capacity)
    tree.reset_roots(CONFIG, np.zeros((batch, actions), np.float32), np.zeros(batch, np.float32),
                     np.ones((batch, actions), bool))
    return tree


@pytest.mark.parametrize("kwargs, message", [
    ({"num_simulations": 0}, "num_simulations"), ({"root": "alphago"}, "root"),
    ({"dirichlet_fraction": 1.5}, "dirichlet_fraction"), ({"value_bounds": (1.0, -1.0)}, "value_bounds"),
    ({"pb_c_init": float("nan")}, "pb_c_init"), ({"gumbel_max_actions": 0}, "gumbel_max_actions"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**kwargs)


@pytest.mark.parametrize("tree_class", TREES)
@pytest.mark.parametrize("args", [(0, 3, 10), (2, 0, 10), (2, 3, 1), (2.5, 3, 10)])
def test_bad_sizes(tree_class, args):
    with pytest.raises(ValueError):
        tree_class(*args)


@pytest.mark.parametrize("tree_class", TREES)
@pytest.mark.parametrize("logits, value, legal, message", [
    (np.full((2, 3), np.nan, np.float32), np.zeros(2), np.ones((2, 3), bool), "NaN"),
    (np.zeros((2, 4), np.float32), np.zeros(2), np.ones((2, 3), bool), "shape"),
    (np.zeros((2, 3), np.float32), np.array([0.0, np.inf]), np.ones((2, 3), bool), "NaN or infinite"),
    (np.zeros((2, 3), np.float32), np.zeros(2), np.array([[True, False, False], [False] * 3]), "no legal"),
    (np.zeros((2, 3), np.float32), np.zeros(2), np.ones((2, 3), np.int64), "bool"),
    (np.zeros((2, 3), dtype=object), np.zeros(2), np.ones((2, 3), bool), "real-valued"),
])
def test_bad_roots(tree_class, logits, value, legal, message):
    with pytest.raises(ValueError, match=message):
        tree_class(2, 3, 10).reset_roots(CONFIG, logits, value, legal)


@pytest.mark.parametrize("tree_class", TREES)
def test_capacity_too_small(tree_class):
    with pytest.raises(ValueError, match="capacity"):
        ready_tree(tree_class, capacity=4)


@pytest.mark.parametrize("tree_class", TREES)
def test_noise_needs_an_rng(tree_class):
    config = SearchConfig(num_simulations=2, dirichlet_fraction=0.25)
    with pytest.raises(ValueError, match="rng"):
        tree_class(1, 3, 5).reset_roots(config, np.zeros((1, 3), np.float32), np.zeros(1), np.ones((1, 3), bool))


@pytest.mark.parametrize("tree_class", TREES)
def test_call_order_and_expansion_inputs(tree_class):
    with pytest.raises(ValueError, match="reset_roots"):
        tree_class(2, 3, 10).select(CONFIG)
    tree = ready_tree(tree_class)
    with pytest.raises(ValueError, match="without a preceding select"):
        tree.expand_and_backup(CONFIG, np.zeros(2), np.zeros(2), np.zeros((2, 3), np.float32))
    tree.select(CONFIG)
    with pytest.raises(ValueError, match="twice"):
        tree.select(CONFIG)
    with pytest.raises(ValueError, match="NaN"):
        tree.expand_and_backup(CONFIG, np.zeros(2), np.zeros(2), np.full((2, 3), np.inf, np.float32))
    with pytest.raises(ValueError, match="shape"):
        tree.expand_and_backup(CONFIG, np.zeros(3), np.zeros(2), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="root"):
        tree.expand_and_backup(SearchConfig(num_simulations=4, root="gumbel"), np.zeros(2), np.zeros(2),
                               np.zeros((2, 3), np.float32))
    new_nodes = tree.expand_and_backup(CONFIG, np.zeros(2), np.zeros(2), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(new_nodes, [1, 1])
    with pytest.raises(ValueError, match="actions"):
        tree.advance(np.array([0, 3]))
    for bad_rows in ([], [2], [-2], [[0]], [0.5]):
        with pytest.raises(ValueError, match="rows"):
            tree.take_rows(np.array(bad_rows))
    with pytest.raises(ValueError, match="temperature"):
        tree.output(CONFIG, temperature=-1.0)
    with pytest.raises(ValueError, match="rng"):
        tree.output(CONFIG, temperature=1.0)


@pytest.mark.parametrize("tree_class", TREES)
def test_illegal_root_action_never_selected_and_sampling(tree_class):
    config = SearchConfig(num_simulations=40, dirichlet_fraction=0.5, dirichlet_alpha=0.3)
    legal = np.array([[False, True, False, True]] * 3)
    tree = tree_class(3, 4, 41)
    logits = np.array([[9.0, 0.0, 9.0, 0.0]] * 3, np.float32)   # illegal actions with huge priors
    tree.reset_roots(config, logits, np.zeros(3), legal, np.random.default_rng(1))
    for _ in range(40):
        parents, actions = tree.select(config)
        at_root = parents == 0   # interior nodes of a learned model have no legal mask
        assert legal[np.arange(3), actions][at_root].all()
        tree.expand_and_backup(config, np.zeros(3), np.zeros(3), np.zeros((3, 4), np.float32))
    output = tree.output(config, temperature=1.0, rng=np.random.default_rng(2))
    assert (output.visit_counts[:, [0, 2]] == 0).all()
    assert legal[np.arange(3), output.action].all()
