"""A deterministic stand-in for the learned model, for tests and the tree benchmark.

Its "hidden state" is a 64-bit hash of the action path from the root; logits, value and
reward are fixed pseudo-random functions of that hash (splitmix64), computed vectorised
in numpy. So two trees searched with it see exactly the same numbers for the same path,
which is what the Cython-vs-reference property tests need, and it costs little next to
the tree in the benchmark.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise over uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def _unit_interval(hashes: np.ndarray) -> np.ndarray:
    """uint64 -> float64 in [0, 1) from the top 53 bits."""
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True)
class FakeEvaluation:
    """One batched answer of the fake model.

    Attributes:
      state: uint64 [B], the path hash (the fake hidden state of the new nodes).
      prior_logits: float32 [B, A] in [-logit_scale, logit_scale].
      value: float32 [B] in [-1, 1].
      reward: float32 [B] in [-1, 1] (0 for the roots, and everywhere if rewards are off);
        -1, 0 or 1 where ``terminal``.
      terminal: bool [B], whether the "game" ended at the node (a share ``terminal_rate`` of
        the paths; never at the roots), for the solver's tests.
    """

    state: np.ndarray
    prior_logits: np.ndarray
    value: np.ndarray
    reward: np.ndarray
    terminal: np.ndarray


class FakeNetwork:
    """Fixed pseudo-random logits/value/reward per action path; `seed` picks the function."""

    def __init__(self, num_actions: int, seed: int = 0, logit_scale: float = 2.0, rewards: bool = True,
                 terminal_rate: float = 0.0) -> None:
        self.num_actions = num_actions
        self.terminal_rate = terminal_rate
        self.seed = np.uint64(seed)
        self.logit_scale = logit_scale
        self.rewards = rewards
        self._action_salt = splitmix64(np.arange(1, num_actions + 1, dtype=np.uint64) * _MIX2)

    def _evaluate(self, state: np.ndarray) -> FakeEvaluation:
        with np.errstate(over="ignore"):
            per_action = splitmix64(state[:, None] ^ self._action_salt[None, :])
            logits = (2.0 * _unit_interval(per_action) - 1.0) * self.logit_scale
            value = 2.0 * _unit_interval(splitmix64(state ^ np.uint64(0x5555))) - 1.0
            reward = 2.0 * _unit_interval(splitmix64(state ^ np.uint64(0xAAAA))) - 1.0
            terminal = _unit_interval(splitmix64(state ^ np.uint64(0x3333))) < self.terminal_rate
        if not self.rewards:
            reward = np.zeros_like(reward)
        reward = np.where(terminal, np.round(reward), reward)   # a game's end: won, drawn or lost
        return FakeEvaluation(state=state, prior_logits=logits.astype(np.float32),
                              value=value.astype(np.float32), reward=reward.astype(np.float32), terminal=terminal)

    def initial(self, batch_size: int, offset: int = 0) -> FakeEvaluation:
        """The roots: tree b's root is a distinct position (hash of seed and b + offset)."""
        with np.errstate(over="ignore"):
            state = splitmix64(np.arange(offset, offset + batch_size, dtype=np.uint64) * _GOLDEN + self.seed)
        evaluation = self._evaluate(state)
        return FakeEvaluation(state=state, prior_logits=evaluation.prior_logits, value=evaluation.value,
                              reward=np.zeros(batch_size, dtype=np.float32),
                              terminal=np.zeros(batch_size, dtype=bool))

    def recurrent(self, state: np.ndarray, actions: np.ndarray) -> FakeEvaluation:
        """The children reached by `actions` [B] from the nodes whose hashes are `state` [B]."""
        with np.errstate(over="ignore"):
            child = splitmix64(state.astype(np.uint64) * _MIX1 ^ self._action_salt[actions.astype(np.int64)])
        return self._evaluate(child)


def run_search(tree, config, network: FakeNetwork, legal_mask: np.ndarray, rng=None,
               interior_legal: np.ndarray | None = None, root_offset: int = 0):
    """Drive `tree` through one full search with the fake network; returns (output, node_states).

    node_states uint64 [B, capacity] holds each node's path hash, the way a real caller
    keeps hidden states indexed by node id. `interior_legal` bool [B, A], if given, is
    passed as the legal mask of every expanded node; the network's ``terminal`` flags are
    reported to the tree when it has a ``terminal_rate``.
    """
    batch_size = legal_mask.shape[0]
    roots = network.initial(batch_size, root_offset)
    node_states = np.zeros((batch_size, tree.capacity), dtype=np.uint64)
    node_states[:, 0] = roots.state
    tree.reset_roots(config, roots.prior_logits, roots.value, legal_mask, rng)
    rows = np.arange(batch_size)
    for _ in range(config.num_simulations):
        parents, actions = tree.select(config)
        answer = network.recurrent(node_states[rows, parents], actions)
        ended = answer.terminal if network.terminal_rate > 0 else None
        new_nodes = tree.expand_and_backup(config, answer.reward, answer.value, answer.prior_logits, interior_legal,
                                           ended)
        node_states[rows, new_nodes] = answer.state
    return tree.output(config), node_states
