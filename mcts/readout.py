"""Turns the root statistics of a batch of trees into a `SearchOutput` (shared by both trees).

The trees only hand over plain arrays (`RootStats`); the policy target, the Gumbel
improved policy and the choice of the action to play are computed here once, in numpy,
so the Cython and reference trees cannot disagree on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcts.config import LOSS, WIN, SearchConfig, SearchOutput


@dataclass(frozen=True)
class RootStats:
    """The root of each tree after a search.

    Attributes:
      visit_counts: int32 [B, A], visits of each root child (0 if unexpanded/illegal).
      q_values: float64 [B, A], Q of each root child, root player's view; nan if unvisited.
      root_value: float64 [B], mean backed-up value of the root.
      root_network_value: float64 [B], the network's value of the root (for Gumbel's v_mix).
      network_prior: float32 [B, A], softmax of the root logits over legal actions.
      search_prior: float32 [B, A], the prior pUCT used (with Dirichlet noise if any).
      legal: bool [B, A].
      gumbel: float64 [B, A], the Gumbel noise of this search.
      considered: bool [B, A], Gumbel-top-m root actions.
      value_min, value_max: float64 [B], each tree's min-max statistics.
      proven: int8 [B, A], each root child's proven result (`SearchConfig.solver`), root
        player's view; UNPROVEN where none.
    """

    visit_counts: np.ndarray
    q_values: np.ndarray
    root_value: np.ndarray
    root_network_value: np.ndarray
    network_prior: np.ndarray
    search_prior: np.ndarray
    legal: np.ndarray
    gumbel: np.ndarray
    considered: np.ndarray
    value_min: np.ndarray
    value_max: np.ndarray
    proven: np.ndarray


def normalise(q: np.ndarray, value_min: np.ndarray, value_max: np.ndarray) -> np.ndarray:
    """Min-max normalisation with the same rule as the trees: identity while max <= min."""
    low, high = value_min[:, None], value_max[:, None]
    spread = np.where(high > low, high - low, 1.0)
    return np.where(high > low, (q - low) / spread, q)


def completed_q_sigma(stats: RootStats, config: SearchConfig) -> np.ndarray:
    """float64 [B, A]: sigma(normalised completed Q) at the roots (Gumbel MuZero, eq. 10-11).

    Unvisited actions get v_mix: the network value mixed with the prior-weighted mean Q of
    the visited actions, weighted by the number of visits.
    """
    visits = stats.visit_counts.astype(np.float64)
    visited = visits > 0
    prior = stats.network_prior.astype(np.float64)
    q = np.where(visited, stats.q_values, 0.0)
    total_visits = visits.sum(axis=1)
    prior_mass = np.where(visited, prior, 0.0).sum(axis=1)
    weighted_q = np.where(visited, prior * q, 0.0).sum(axis=1)
    mean_q = np.divide(weighted_q, prior_mass, out=np.zeros_like(weighted_q), where=prior_mass > 0)
    v_mix = np.where((total_visits > 0) & (prior_mass > 0),
                     (stats.root_network_value + total_visits * mean_q) / (1.0 + total_visits),
                     stats.root_network_value)
    completed = np.where(visited, q, v_mix[:, None])
    scale = (config.gumbel_c_visit + visits.max(axis=1)) * config.gumbel_c_scale
    return scale[:, None] * normalise(completed, stats.value_min, stats.value_max)


def improved_policy(stats: RootStats, config: SearchConfig) -> np.ndarray:
    """float32 [B, A]: softmax(log prior + sigma(completed Q)) over legal actions."""
    with np.errstate(divide="ignore"):
        log_prior = np.log(stats.network_prior.astype(np.float64))
    scores = np.where(stats.legal, log_prior + completed_q_sigma(stats, config), -np.inf)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def gumbel_winner(stats: RootStats, config: SearchConfig) -> np.ndarray:
    """int32 [B]: the Sequential Halving winner: among the considered actions with the most
    visits, the highest g + log prior + sigma(completed Q); ties to the lowest id."""
    with np.errstate(divide="ignore"):
        log_prior = np.log(stats.network_prior.astype(np.float64))
    score = stats.gumbel + log_prior + completed_q_sigma(stats, config)
    visits = np.where(stats.considered, stats.visit_counts, -1)
    finalists = stats.considered & (visits == visits.max(axis=1, keepdims=True))
    return np.argmax(np.where(finalists, score, -np.inf), axis=1).astype(np.int32)


def most_visited(stats: RootStats) -> np.ndarray:
    """int32 [B]: the most visited legal action; ties to the higher search prior, then the lowest id."""
    actions = np.empty(stats.visit_counts.shape[0], dtype=np.int32)
    for row in range(actions.size):
        legal_ids = np.flatnonzero(stats.legal[row])
        # lexsort sorts by the last key first; negate to get descending visits, prior; id ascending.
        order = np.lexsort((legal_ids, -stats.search_prior[row, legal_ids].astype(np.float64),
                            -stats.visit_counts[row, legal_ids]))
        actions[row] = legal_ids[order[0]]
    return actions


def sample_visits(stats: RootStats, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """int32 [B]: an action drawn with probability proportional to visit_counts ** (1 / T)."""
    with np.errstate(divide="ignore"):
        log_weight = np.where(stats.legal & (stats.visit_counts > 0),
                              np.log(stats.visit_counts.astype(np.float64)) / temperature, -np.inf)
    actions = most_visited(stats)  # rows without any visited child keep the deterministic pick
    for row in range(actions.size):
        if np.isfinite(log_weight[row]).any():
            weights = np.exp(log_weight[row] - log_weight[row].max())
            actions[row] = rng.choice(weights.size, p=weights / weights.sum())
    return actions


def respect_proofs(stats: RootStats, action: np.ndarray) -> np.ndarray:
    """int32 [B]: ``action``, unless the solver proved better: the most visited proven WIN if
    any (ties to the lowest id), else, if ``action`` is a proven LOSS, the most visited legal
    action not proven lost (ties to the higher search prior, then the lowest id)."""
    action = action.copy()
    for row in range(action.size):
        proven, visits = stats.proven[row], stats.visit_counts[row]
        wins = np.flatnonzero(proven == WIN)
        if wins.size:
            action[row] = wins[np.argmax(visits[wins])]
            continue
        if proven[action[row]] != LOSS:
            continue
        open_ids = np.flatnonzero(stats.legal[row] & (proven != LOSS))
        if open_ids.size:
            order = np.lexsort((open_ids, -stats.search_prior[row, open_ids].astype(np.float64),
                                -visits[open_ids]))
            action[row] = open_ids[order[0]]
    return action


def build_output(stats: RootStats, config: SearchConfig, temperature: float = 0.0,
                 rng: np.random.Generator | None = None) -> SearchOutput:
    """The SearchOutput of the trees whose roots are `stats`.

    Action rule: Gumbel plays the Sequential Halving winner (its Gumbel noise already makes
    the choice stochastic; `temperature` is ignored). pUCT plays the most visited action at
    temperature 0, else samples visit_counts ** (1 / temperature) with `rng`. With the
    solver, a proven win replaces either choice and a proven loss is avoided
    (`respect_proofs`); the policy target stays the search's own.
    """
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    visits = stats.visit_counts.astype(np.int32)
    if config.root == "gumbel":
        policy = improved_policy(stats, config)
        action = gumbel_winner(stats, config)
    else:
        totals = visits.sum(axis=1, keepdims=True).astype(np.float64)
        policy = np.divide(visits, totals, out=np.zeros(visits.shape), where=totals > 0).astype(np.float32)
        if temperature > 0:
            if not isinstance(rng, np.random.Generator):
                raise ValueError("rng must be a numpy Generator when temperature > 0")
            action = sample_visits(stats, float(temperature), rng)
        else:
            action = most_visited(stats)
    if config.solver:
        action = respect_proofs(stats, action)
    return SearchOutput(visit_counts=visits, q_values=stats.q_values.astype(np.float32),
                        root_value=stats.root_value.astype(np.float32), policy=policy,
                        action=action.astype(np.int32), proven=stats.proven.astype(np.int8))
