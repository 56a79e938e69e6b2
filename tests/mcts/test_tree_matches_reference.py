"""Property tests: the compiled BatchedTree and the plain-Python ReferenceTree run the same search.

Both are driven by the same deterministic fake network (logits, value and reward a fixed
pseudo-random function of the action path), with random legal masks, both root methods
and no noise; visit counts must be identical and values equal to 1e-6. With the solver the
fake network also ends "games" on a share of its paths, and both trees must prove the same.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mcts import SearchConfig
from mcts.config import LOSS, UNPROVEN, WIN
from mcts._tree import BatchedTree
from mcts.fake_network import FakeNetwork, run_search
from mcts.reference import ReferenceTree


def _legal_masks(rng: np.random.Generator, batch: int, actions: int) -> np.ndarray:
    density = rng.uniform(0.05, 1.0)
    legal = rng.random((batch, actions)) < density
    legal[np.arange(batch), rng.integers(0, actions, batch)] = True
    single = rng.integers(0, batch)   # one row always has exactly one legal action
    legal[single] = False
    legal[single, rng.integers(0, actions)] = True
    return legal


def _assert_same(reference_output, compiled_output):
    np.testing.assert_array_equal(compiled_output.visit_counts, reference_output.visit_counts)
    np.testing.assert_allclose(compiled_output.q_values, reference_output.q_values, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(compiled_output.root_value, reference_output.root_value, atol=1e-6)
    np.testing.assert_allclose(compiled_output.policy, reference_output.policy, atol=1e-6)
    np.testing.assert_array_equal(compiled_output.action, reference_output.action)
    np.testing.assert_array_equal(compiled_output.proven, reference_output.proven)


def _assert_plays_by_the_proofs(output, legal):
    """A proven win is played when there is one; a proven loss only when every move is lost."""
    for row, action in enumerate(output.action):
        proven = output.proven[row]
        if (proven == WIN).any():
            assert proven[action] == WIN
        elif (legal[row] & (proven != LOSS)).any():
            assert proven[action] != LOSS


@settings(max_examples=25, deadline=None)
@given(batch=st.sampled_from([1, 3, 64]), sims=st.sampled_from([1, 2, 7, 50]),
       actions=st.integers(2, 400), root=st.sampled_from(["puct", "gumbel"]),
       two_player=st.booleans(), interior_masks=st.booleans(), solver=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_compiled_tree_matches_reference(batch, sims, actions, root, two_player, interior_masks, solver, seed):
    # Keep each example small enough for the slow reference: bound B * S * A.
    if batch * sims * actions > 120_000:
        actions = max(2, 120_000 // (batch * sims))
    rng = np.random.default_rng(seed)
    legal = _legal_masks(rng, batch, actions)
    interior = _legal_masks(rng, batch, actions) if interior_masks else None
    config = SearchConfig(num_simulations=sims, root=root, two_player=two_player or solver, gumbel_noise=False,
                          tree_legal_masks=interior_masks, discount=float(rng.choice([1.0, 0.97])),
                          value_bounds=None if rng.random() < 0.3 else (-1.0, 1.0), solver=solver)
    network = FakeNetwork(actions, seed=seed % 1000, terminal_rate=float(rng.choice([0.3, 0.7])) if solver else 0.0)
    reference, _ = run_search(ReferenceTree(batch, actions, sims + 1), config, network, legal, interior_legal=interior)
    compiled, _ = run_search(BatchedTree(batch, actions, sims + 1), config, network, legal, interior_legal=interior)
    _assert_same(reference, compiled)
    assert (reference.visit_counts[~legal] == 0).all()
    assert (reference.visit_counts.sum(axis=1) == sims).all()
    if solver:
        _assert_plays_by_the_proofs(reference, legal)
    else:
        assert (reference.proven == UNPROVEN).all()


@settings(max_examples=15, deadline=None)
@given(batch=st.sampled_from([1, 4]), sims=st.sampled_from([20, 200]), actions=st.integers(2, 5),
       root=st.sampled_from(["puct", "gumbel"]), seed=st.integers(0, 2**31 - 1))
def test_the_solver_proves_the_same_in_small_trees(batch, sims, actions, root, seed):
    # few actions and many game ends: proofs reach the roots, and the choices must follow them
    rng = np.random.default_rng(seed)
    legal = _legal_masks(rng, batch, actions)
    config = SearchConfig(num_simulations=sims, root=root, gumbel_noise=False, tree_legal_masks=True,
                          solver=True, discount=float(rng.choice([1.0, 0.97])))
    network = FakeNetwork(actions, seed=seed % 1000, terminal_rate=0.6)
    outputs = [run_search(tree_class(batch, actions, sims + 1), config, network, legal, interior_legal=legal)[0]
               for tree_class in (ReferenceTree, BatchedTree)]
    _assert_same(*outputs)
    _assert_plays_by_the_proofs(outputs[0], legal)


@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_noise_from_the_same_rng_gives_the_same_search(root):
    config = SearchConfig(num_simulations=20, root=root, dirichlet_fraction=0.25, dirichlet_alpha=0.5)
    network = FakeNetwork(9, seed=5)
    legal = np.ones((4, 9), dtype=bool)
    outputs = [run_search(tree_class(4, 9, 21), config, network, legal, rng=np.random.default_rng(11))[0]
               for tree_class in (ReferenceTree, BatchedTree)]
    _assert_same(*outputs)


def test_tree_reuse_matches_reference():
    config = SearchConfig(num_simulations=30)
    network = FakeNetwork(5, seed=2)
    legal = np.ones((3, 5), dtype=bool)
    results = []
    for tree_class in (ReferenceTree, BatchedTree):
        tree = tree_class(3, 5, 100)
        first, _ = run_search(tree, config, network, legal)
        old_ids = tree.advance(first.action)
        # the kept subtree's root is the old child of the chosen action, renumbered to 0
        kept_visits = first.visit_counts[np.arange(3), first.action]
        second, _ = run_search(tree, config, network, legal, root_offset=7)
        results.append((old_ids, second))
        assert (second.visit_counts.sum(axis=1) >= 30).all()
        assert ((second.visit_counts.sum(axis=1) - 30) == np.maximum(kept_visits - 1, 0)).all()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    _assert_same(results[0][1], results[1][1])


@settings(max_examples=20, deadline=None)
@given(batch=st.sampled_from([1, 3, 8]), sims=st.sampled_from([5, 30]), actions=st.integers(2, 9),
       new_batch=st.integers(1, 10), seed=st.integers(0, 2**31 - 1))
def test_take_rows_matches_reference(batch, sims, actions, new_batch, seed):
    # the arena's batch shrinks and reorders as games end: advance, keep some rows (some
    # twice, some fresh), search again; both trees must agree and the kept visits carry over
    rng = np.random.default_rng(seed)
    legal = np.ones((batch, actions), dtype=bool)
    config = SearchConfig(num_simulations=sims)
    network = FakeNetwork(actions, seed=seed % 1000)
    rows = rng.integers(-1, batch, new_batch)
    results = []
    for tree_class in (ReferenceTree, BatchedTree):
        tree = tree_class(batch, actions, 2 * sims + 1)
        first, _ = run_search(tree, config, network, legal)
        played = rng.integers(0, actions, batch) if tree_class is ReferenceTree else results[0][0]
        tree.advance(played)
        taken = tree.take_rows(rows)
        assert (taken.batch_size, taken.capacity) == (new_batch, tree.capacity)
        second, _ = run_search(taken, config, network, np.ones((new_batch, actions), dtype=bool), root_offset=3)
        kept_visits = np.where(rows >= 0, np.maximum(first.visit_counts[np.clip(rows, 0, None),
                                                                        played[np.clip(rows, 0, None)]] - 1, 0), 0)
        np.testing.assert_array_equal(second.visit_counts.sum(axis=1), sims + kept_visits)
        results.append((played, second))
    _assert_same(results[0][1], results[1][1])
