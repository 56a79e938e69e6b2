"""Checks and prepares what callers hand to a tree, shared by both tree implementations.

Everything random (Dirichlet and Gumbel noise) and every per-search root decision that is
not in the hot loop (the root prior, the Gumbel-top-k set, the Sequential Halving
schedule) is computed here, in Python, from the caller's numpy Generator. Both
`mcts.BatchedTree` and `mcts.reference.ReferenceTree` call these same functions, so they
see identical roots and the trees themselves stay deterministic. Bad input raises a
ValueError with a one-line message before anything reaches compiled code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mcts.config import SearchConfig


def check_config(config: object) -> SearchConfig:
    if not isinstance(config, SearchConfig):
        raise ValueError(f"config must be a mcts.SearchConfig, got {type(config).__name__}")
    return config


def check_sizes(batch_size: object, num_actions: object, capacity: object) -> tuple[int, int, int]:
    for name, value, low in (("batch_size", batch_size, 1), ("num_actions", num_actions, 1), ("capacity", capacity, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(batch_size), int(num_actions), int(capacity)


# per-node arrays of a tree (what `take_rows` copies): [B, capacity] or [B, capacity, A]
NODE_ARRAYS = ("visit_count", "value_sum", "reward", "network_value", "parent", "prior", "children", "proven")


def check_take_rows(rows: object, batch_size: int) -> np.ndarray:
    """int64 ``[B']`` row indices for `take_rows`: each in [-1, batch_size), at least one."""
    array = np.asarray(rows)
    if array.ndim != 1 or array.size == 0 or (array.dtype.kind not in "iu"):
        raise ValueError(f"rows must be a non-empty 1-d int array, got {array!r}")
    array = array.astype(np.int64)
    if ((array < -1) | (array >= batch_size)).any():
        raise ValueError(f"rows must be in [-1, {batch_size}), got {array.tolist()}")
    return array


def float_array(values: object, shape: tuple[int, ...], name: str, dtype=np.float32) -> np.ndarray:
    """`values` as a C-contiguous array of `dtype` with exactly `shape`, all finite."""
    array = np.asarray(values)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise ValueError(f"{name} must be a real-valued array, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(array.shape)}")
    array = np.ascontiguousarray(array, dtype=dtype)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return array


def bool_mask(values: object, shape: tuple[int, int], name: str) -> np.ndarray:
    """A bool [B, A] mask with at least one True per row (a node needs a legal action)."""
    array = np.asarray(values)
    if array.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool array, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(array.shape)}")
    empty_rows = np.flatnonzero(~array.any(axis=1))
    if empty_rows.size:
        raise ValueError(f"{name} has no legal action in row(s) {empty_rows[:5].tolist()}")
    return np.ascontiguousarray(array)


def action_vector(values: object, batch_size: int, num_actions: int, name: str = "actions") -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, got dtype {array.dtype}")
    if array.shape != (batch_size,):
        raise ValueError(f"{name} must have shape [{batch_size}], got {list(array.shape)}")
    if array.size and (array.min() < 0 or array.max() >= num_actions):
        raise ValueError(f"{name} must lie in [0, {num_actions}), got {array.min()}..{array.max()}")
    return np.ascontiguousarray(array, dtype=np.int32)


def masked_softmax(logits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """float32 [B, A] probabilities over legal actions (0 elsewhere), computed in float64."""
    logits64 = np.where(legal, logits.astype(np.float64), -np.inf)
    shifted = np.exp(logits64 - logits64.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class RootInputs:
    """Prepared roots of a batch of searches, identical for both tree implementations.

    Attributes:
      network_prior: float32 [B, A], softmax of the logits over legal actions.
      search_prior: float32 [B, A], the prior pUCT uses at the root: network_prior mixed
        with Dirichlet noise (pUCT with dirichlet_fraction > 0), else network_prior.
      legal: bool [B, A], legal root actions.
      root_value: float64 [B], the network's value of each root.
      gumbel: float64 [B, A], Gumbel noise (zeros unless root="gumbel" with gumbel_noise).
      considered: bool [B, A], the Gumbel-top-m root actions (all legal ones for pUCT).
      schedule: int32 [B, S], for Gumbel: the visit count an action must have to be
        eligible at simulation k (Sequential Halving); zeros for pUCT.
    """

    network_prior: np.ndarray
    search_prior: np.ndarray
    legal: np.ndarray
    root_value: np.ndarray
    gumbel: np.ndarray
    considered: np.ndarray
    schedule: np.ndarray


def halving_schedule(num_considered: int, num_simulations: int) -> np.ndarray:
    """Sequential Halving as a sequence: entry k is the visit count that the action
    simulated at step k must already have.

    The budget is split over ceil(log2(m)) phases. In a phase with k surviving actions,
    each survivor gets max(1, S // (phases * k)) more visits, one round at a time; then
    the best half (at least two) survive. Because survivors enter a round with equal
    visit counts, "the best-scoring action among those with exactly this many visits"
    visits them best-first, and the ones left behind drop out by themselves.
    """
    if num_considered <= 1:
        return np.arange(num_simulations, dtype=np.int32)
    phases = max(1, math.ceil(math.log2(num_considered)))
    sequence: list[int] = []
    visits_per_survivor = 0
    survivors = num_considered
    while len(sequence) < num_simulations:
        rounds = max(1, num_simulations // (phases * survivors))
        for _ in range(rounds):
            sequence.extend([visits_per_survivor] * survivors)
            visits_per_survivor += 1
        survivors = max(2, survivors // 2)
    return np.asarray(sequence[:num_simulations], dtype=np.int32)


def prepare_roots(config: SearchConfig, prior_logits: object, root_value: object, legal_mask: object,
                  rng: np.random.Generator | None, batch_size: int, num_actions: int) -> RootInputs:
    """Validate the root inputs and draw this search's noise from `rng`."""
    shape = (batch_size, num_actions)
    logits = float_array(prior_logits, shape, "prior_logits")
    values = float_array(root_value, (batch_size,), "root_value", dtype=np.float64)
    legal = bool_mask(legal_mask, shape, "legal_mask")
    network_prior = masked_softmax(logits, legal)
    search_prior = network_prior
    gumbel = np.zeros(shape, dtype=np.float64)
    considered = legal.copy()
    schedule = np.zeros((batch_size, config.num_simulations), dtype=np.int32)

    needs_dirichlet = config.root == "puct" and config.dirichlet_fraction > 0
    needs_gumbel = config.root == "gumbel" and config.gumbel_noise
    if (needs_dirichlet or needs_gumbel) and not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy Generator when the search draws root noise")

    if needs_dirichlet:
        noise = np.zeros(shape, dtype=np.float64)
        for row in range(batch_size):
            legal_ids = np.flatnonzero(legal[row])
            noise[row, legal_ids] = rng.dirichlet(np.full(legal_ids.size, config.dirichlet_alpha))
        fraction = config.dirichlet_fraction
        mixed = (1.0 - fraction) * network_prior.astype(np.float64) + fraction * noise
        search_prior = np.where(legal, mixed, 0.0).astype(np.float32)

    if config.root == "gumbel":
        if needs_gumbel:
            gumbel = np.where(legal, rng.gumbel(size=shape), 0.0)
        score = np.where(legal, gumbel + logits.astype(np.float64), -np.inf)
        considered = np.zeros(shape, dtype=bool)
        for row in range(batch_size):
            num_considered = min(int(legal[row].sum()), config.gumbel_max_actions)
            # Stable sort of the negated score: ties go to the lowest action id.
            order = np.argsort(-score[row], kind="stable")[:num_considered]
            considered[row, order] = True
            schedule[row] = halving_schedule(num_considered, config.num_simulations)

    return RootInputs(network_prior=network_prior, search_prior=search_prior, legal=legal,
                      root_value=values, gumbel=gumbel, considered=considered, schedule=schedule)


def expansion_inputs(config: SearchConfig, reward: object, value: object, prior_logits: object,
                     legal_mask: object, batch_size: int, num_actions: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated (reward float64 [B], value float64 [B], logits float32 [B, A], legal bool [B, A])."""
    shape = (batch_size, num_actions)
    rewards = float_array(reward, (batch_size,), "reward", dtype=np.float64)
    values = float_array(value, (batch_size,), "value", dtype=np.float64)
    logits = float_array(prior_logits, shape, "prior_logits")
    if config.tree_legal_masks and legal_mask is not None:
        legal = bool_mask(legal_mask, shape, "legal_mask")
    else:
        if legal_mask is not None:
            bool_mask(legal_mask, shape, "legal_mask")  # still reject malformed masks
        legal = np.ones(shape, dtype=bool)
    return rewards, values, logits, legal


def terminal_flags(config: SearchConfig, terminal: object, batch_size: int) -> np.ndarray | None:
    """Validated ``terminal`` bool [B] of `expand_and_backup`; None when there is nothing to
    prove: the search has no solver, or the caller reports no game ends (a learned-model
    search cannot know them)."""
    if terminal is None:
        return None
    array = np.asarray(terminal)
    if array.dtype != np.bool_:
        raise ValueError(f"terminal must be a bool array, got dtype {array.dtype}")
    if array.shape != (batch_size,):
        raise ValueError(f"terminal must have shape {[batch_size]}, got {list(array.shape)}")
    return np.ascontiguousarray(array) if config.solver else None
