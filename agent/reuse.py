"""Tree reuse between moves: carry the last search's trees over to the positions that follow.

A `SearchSession` keeps the trees of an agent's last search and the move history of each
of their roots. When the agent is next asked to move, each new position whose history
extends one of those roots by the moves played since (one ply in self-play, two in a
game against an opponent) gets that root's subtree under the moves played; any other
position starts from a fresh root. The batch may change between calls: games that ended
drop out and new ones come in, in any order, which is what the arena and the ablation
hand an agent. Only pUCT reuses trees (Gumbel's Sequential Halving starts from a fresh
root by design).

What a kept node needs besides the tree's statistics is the session's business: the
learned model's hidden states (`carry_hidden`), or the real positions of a search over
the rules (`carry_positions`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

MAX_PLIES_BETWEEN_SEARCHES = 4   # further back than this, a position starts fresh


@dataclass
class SearchSession:
    """Trees kept between an agent's moves, for tree reuse (`Agent.act(..., session=)`).

    ``capacity_factor``: the trees have room for that many searches' worth of nodes; a
    kept subtree that would not leave room for a full search is dropped (that tree starts
    fresh). ``reused_trees`` / ``fresh_trees`` count, over the session, the searches that
    kept a subtree and those that started from a fresh root.
    """

    capacity_factor: int = 2
    tree: Any = None
    capacity: int = 0
    histories: list[tuple[int, ...]] = field(default_factory=list)
    search_key: tuple | None = None             # (simulations, root, model) of the last search
    hidden: torch.Tensor | None = None          # learned model: [B, capacity, ...] by node id
    positions: list[dict[int, Any]] | None = None   # over the rules: each tree's node -> position
    node_ends: np.ndarray | None = None         # learned model with action heads: `agent.model_ends`
    reused_trees: int = 0
    fresh_trees: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.capacity_factor, bool) or not isinstance(self.capacity_factor, int) \
                or self.capacity_factor < 1:
            raise ValueError(f"capacity_factor must be an int >= 1, got {self.capacity_factor!r}")

    def capacity_for(self, simulations: int) -> int:
        return self.capacity_factor * simulations + 1

    def remember(self, tree, states: Sequence, config, *, hidden: torch.Tensor | None = None,
                 positions: list[dict[int, Any]] | None = None, node_ends: np.ndarray | None = None) -> None:
        """Keep the trees of the search just made from ``states``."""
        self.tree, self.capacity = tree, int(tree.capacity)
        self.histories = [tuple(state.history) for state in states]
        self.search_key = _search_key(config)
        self.hidden, self.positions, self.node_ends = hidden, positions, node_ends


@dataclass(frozen=True)
class CarriedTrees:
    """The trees for a new search: ``tree`` has one row per new position; ``source_rows[i]``
    is the last search's row it came from (-1: fresh) and ``old_ids[i, n]`` the old node id
    of its node n (-1: no node)."""

    tree: Any
    source_rows: np.ndarray   # int64 [B]
    old_ids: np.ndarray       # int64 [B, capacity]

    @property
    def kept(self) -> np.ndarray:
        """bool [B]: the rows that kept a subtree."""
        return (self.old_ids >= 0).any(axis=1)


def _search_key(config) -> tuple:
    return (config.num_simulations, config.root, config.model, getattr(config, "learned_ends", False),
            getattr(config, "end_rewards_only", False))


def trees_for_search(session: SearchSession, states: Sequence, config, make_tree, reusable: bool = True
                     ) -> CarriedTrees:
    """The trees for a search from ``states``: the session's carried over where a position
    follows a kept root (and ``reusable``: the caller's payload fits), fresh ones of
    ``make_tree(batch, capacity)`` otherwise; the session counts both."""
    carried = carry_over(session, states, config) if reusable else None
    if carried is None:
        batch, capacity = len(states), session.capacity_for(config.num_simulations)
        carried = CarriedTrees(tree=make_tree(batch, capacity), source_rows=np.full(batch, -1, dtype=np.int64),
                               old_ids=np.full((batch, capacity), -1, dtype=np.int64))
    kept = int(carried.kept.sum())
    session.reused_trees += kept
    session.fresh_trees += len(states) - kept
    return carried


def carry_over(session: SearchSession, states: Sequence, config) -> CarriedTrees | None:
    """The session's trees advanced to ``states``, or None when nothing can be reused (no
    trees yet, another kind of search, or no position follows a kept root)."""
    if session.tree is None or config.root != "puct" or session.search_key != _search_key(config) \
            or session.capacity != session.capacity_for(config.num_simulations):
        return None
    matches = _match(session.histories, states)
    depths = Counter(len(moves) for _, moves in filter(None, matches))
    if not depths:
        return None
    depth = depths.most_common(1)[0][0]   # the tree advances every row by the same plies
    moves_of_old_row: dict[int, tuple[int, ...]] = {}
    source_rows = np.full(len(states), -1, dtype=np.int64)
    for new_row, match in enumerate(matches):
        if match is None or len(match[1]) != depth:
            continue
        old_row, moves = match
        if moves_of_old_row.setdefault(old_row, moves) == moves:
            source_rows[new_row] = old_row
    if (source_rows < 0).all():
        return None
    tree = session.tree
    old_ids = None   # [old B, capacity]: the node id before all plies of every node kept
    for ply in range(depth):
        # an unmatched old row advances along any move: it is dropped below
        actions = np.array([moves_of_old_row.get(row, (0,) * depth)[ply] for row in range(tree.batch_size)])
        step = np.asarray(tree.advance(actions), dtype=np.int64)
        old_ids = step if old_ids is None else np.where(
            step >= 0, np.take_along_axis(old_ids, np.clip(step, 0, None), axis=1), -1)
    carried_ids = np.where(source_rows[:, None] >= 0, old_ids[np.clip(source_rows, 0, None)], -1)
    overfull = (carried_ids >= 0).sum(axis=1) + config.num_simulations > session.capacity
    source_rows[overfull] = -1
    carried_ids[overfull] = -1
    return CarriedTrees(tree=tree.take_rows(source_rows), source_rows=source_rows, old_ids=carried_ids)


def _match(histories: Sequence[tuple[int, ...]], states: Sequence) -> list[tuple[int, tuple[int, ...]] | None]:
    """For each state, (old row, moves played since) of the kept root it extends, or None."""
    row_of = {}
    for row, history in enumerate(histories):
        row_of.setdefault(history, row)
    matches = []
    for state in states:
        history = tuple(state.history)
        match = None
        for back in range(1, min(MAX_PLIES_BETWEEN_SEARCHES, len(history)) + 1):
            row = row_of.get(history[:len(history) - back])
            if row is not None:
                match = (row, history[len(history) - back:])
                break
        matches.append(match)
    return matches


def carry_hidden(old_hidden: torch.Tensor, carried: CarriedTrees) -> torch.Tensor:
    """The hidden-state store ``[B, capacity, ...]`` of the carried trees (fresh rows hold
    whatever row 0 held: their nodes are written before they are read)."""
    old_capacity = old_hidden.shape[1]
    rows = np.clip(carried.source_rows, 0, None)[:, None]
    flat_index = (rows * old_capacity + np.clip(carried.old_ids, 0, None)).reshape(-1)
    flat = old_hidden.reshape(-1, *old_hidden.shape[2:])
    source = torch.from_numpy(flat_index).to(old_hidden.device)
    return flat.index_select(0, source).view(len(carried.source_rows), old_capacity, *old_hidden.shape[2:])


def carry_positions(old_positions: list[dict[int, Any]], carried: CarriedTrees) -> list[dict[int, Any]]:
    """Each carried tree's node -> real position (empty for fresh rows)."""
    carried_positions = []
    for row, ids in zip(carried.source_rows.tolist(), carried.old_ids):
        if row < 0:
            carried_positions.append({})
            continue
        old = old_positions[row]
        carried_positions.append({new: old[int(old_id)] for new, old_id in enumerate(ids.tolist()) if old_id >= 0})
    return carried_positions
