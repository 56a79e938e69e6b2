"""One search driver, two models to step through: the learned network (MuZero) or the real rules.

`Agent.act` computes h and f at the B roots and hands them here. The driver runs the
simulations, the same loop whatever the model::

    tree.select -> model.expand(parents, actions) -> tree.expand_and_backup -> model.commit(new nodes)

A *model* is what a simulation steps through, and it keeps what its nodes stand for:

- `LearnedModel`: g and f of the network from hidden states kept in one preallocated store
  ``[B, capacity, channels, H, W]`` indexed by node id (gathered and scattered with
  ``index_select``/``index_copy_``: no Python loop over games inside a simulation). A network
  with action heads also gives each node's legal moves and game ends (`agent.model_ends`):
  predicted-illegal moves get no node, a predicted game end is a leaf with the predicted
  result, absorbing below.
- `RulesModel`: the real position of every node (AlphaZero). Each new node is evaluated with
  f(h(position)) like a root, its legal moves are known, a move that ends the game gets its
  exact reward and no network call, and below a game end the nodes are absorbing (reward 0,
  value 0), as in MuZero's training. Comparing the two models with the same network and
  trees isolates what the learned model costs (`ponder ablate --root puct,puct+rules`).

Both tell the trees the game ends they know (``terminal``), which MCTS-Solver proves from
when `SearchConfig.solver` is on, and both keep their nodes' payload in a `SearchSession`
for tree reuse between moves (`agent.reuse`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from agent.checkpoint import check_finite_outputs
from agent.model_ends import (HeadReading, NodeEnds, PositionEnds, read_heads, read_legal, read_position_ends,
                              step_through_ends)
from agent.reuse import SearchSession, carry_hidden, carry_positions, trees_for_search
from envs.game import mover_reward
from mcts import SearchConfig, SearchOutput


@dataclass(frozen=True)
class Expansion:
    """A model's answer for the B selected edges (parent node, action) of one simulation.

    - ``reward`` float32 ``[B]``: of the transition, from the view of the player who moved.
    - ``value`` float32 ``[B]``: of the new node, from the view of its player to move.
    - ``prior_logits`` float32 ``[B, A]``: of the new node.
    - ``legal`` bool ``[B, A]`` or None: the new node's legal moves (None: the model cannot
      tell, every action may be expanded).
    - ``terminal`` bool ``[B]`` or None: the game ended at the new node (for MCTS-Solver).
    - ``evaluated``: positions the network evaluated for it.
    """

    reward: np.ndarray
    value: np.ndarray
    prior_logits: np.ndarray
    legal: np.ndarray | None
    terminal: np.ndarray | None
    evaluated: int


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.numpy() if tensor.device.type == "cpu" else tensor.cpu().numpy()


def _make_tree(agent):
    return lambda rows, capacity: agent.tree_factory(rows, agent.num_actions, capacity)


class LearnedModel:
    """Steps through the network's dynamics g (see the module docstring)."""

    def __init__(self, agent, config: SearchConfig, states: Sequence, root_hidden: torch.Tensor,
                 session: SearchSession | None) -> None:
        self.agent = agent
        network = agent.network
        self.knows_ends = config.learned_ends and getattr(network, "action_heads", None) is not None
        # the board model's end detector, where there is one, decides the game's ends in the
        # tree (on g's predicted planes); the heads then give legal moves only
        self.reads_board_ends = self.knows_ends and getattr(network, "board_ends", None) is not None
        # the heads give every node's legal moves (agent.model_ends)
        self.config = dataclasses.replace(config, tree_legal_masks=True) if self.knows_ends else config
        batch = len(states)
        self.tree, self.store, carried = self._trees(session, states, root_hidden)
        capacity = self.store.shape[1]
        self.store[:, 0] = root_hidden
        self.node_ends = None
        if self.knows_ends:
            self.node_ends = NodeEnds.empty(batch, capacity, agent.num_actions)
            if carried is not None and session.node_ends is not None and session.node_ends.shape[1] == capacity:
                self.node_ends = NodeEnds(carry_hidden(torch.from_numpy(session.node_ends), carried).numpy().copy(),
                                          agent.num_actions)
            self.node_ends.set_roots(self._read_heads(root_hidden))
        self.flat_store = self.store.view(batch * capacity, *self.store.shape[2:])
        self.row_offsets = torch.arange(batch, dtype=torch.int64, device=agent.device) * capacity
        self._pending: tuple | None = None

    def _trees(self, session, states, root_hidden):
        """(tree, hidden store, carried rows or None): carried over from the session when it can."""
        agent, batch = self.agent, len(states)

        def new_store(capacity: int) -> torch.Tensor:
            return torch.empty((batch, capacity, *root_hidden.shape[1:]), dtype=root_hidden.dtype,
                               device=agent.device)

        if session is None:
            capacity = self.config.num_simulations + 1
            return agent.tree_factory(batch, agent.num_actions, capacity), new_store(capacity), None
        same_dtype = session.hidden is not None and session.hidden.dtype == root_hidden.dtype
        carried = trees_for_search(session, states, self.config, _make_tree(agent), reusable=same_dtype)
        if not carried.kept.any():
            return carried.tree, new_store(carried.tree.capacity), None
        return carried.tree, carry_hidden(session.hidden, carried), carried

    def _read_heads(self, hidden: torch.Tensor):
        legal_logits, end_logits = self.agent.network.predict_actions(hidden)
        if self.reads_board_ends:     # the detector reads the ends: the heads' end logits go unread
            legal = read_legal(legal_logits, self.config.legal_threshold)
            return HeadReading(legal, np.zeros(legal.shape, dtype=bool), np.zeros(legal.shape, dtype=np.float32))
        return read_heads(legal_logits, end_logits, self.config.legal_threshold, self.config.end_threshold,
                          getattr(self.agent, "end_positive_weight", 1.0))

    def _read_position_ends(self, hidden: torch.Tensor) -> PositionEnds | None:
        if not self.reads_board_ends:
            return None
        # trained at even odds of ends (`agent.model_fit`): read without the heads' calibration
        return read_position_ends(self.agent.network.position_ends(hidden), self.config.end_threshold)

    def expand(self, parents: np.ndarray, actions: np.ndarray) -> Expansion:
        device = self.agent.device
        parent_t, action_t = torch.from_numpy(parents), torch.from_numpy(actions)
        if device.type != "cpu":
            parent_t, action_t = parent_t.to(device), action_t.to(device)
        hidden = self.flat_store.index_select(0, self.row_offsets + parent_t)
        next_hidden, reward, logits, value = self.agent.network.recurrent(hidden, action_t)
        reward, value, logits = as_numpy(reward), as_numpy(value), as_numpy(logits)
        check_finite_outputs(reward, value, logits)
        legal = terminal = reading = ended = None
        if self.node_ends is not None:
            reading = self._read_heads(next_hidden)
            reward, value, legal, ended, terminal = step_through_ends(self.node_ends, parents, actions, reward, value,
                                                                      reading, self._read_position_ends(next_hidden),
                                                                      self.config.end_rewards_only)
        self._pending = (next_hidden, reading, ended)
        return Expansion(reward, value, logits, legal, terminal, evaluated=len(parents))

    def commit(self, new_nodes: np.ndarray) -> None:
        next_hidden, reading, ended = self._pending
        new_t = torch.from_numpy(new_nodes)
        if self.agent.device.type != "cpu":
            new_t = new_t.to(self.agent.device)
        self.flat_store.index_copy_(0, self.row_offsets + new_t, next_hidden)
        if self.node_ends is not None:
            self.node_ends.record(new_nodes.astype(np.int64), reading, ended)

    def remember(self, session: SearchSession, states: Sequence) -> None:
        session.remember(self.tree, states, self.config, hidden=self.store,
                         node_ends=None if self.node_ends is None else self.node_ends.array)


class RulesModel:
    """Steps through the real game (see the module docstring)."""

    def __init__(self, agent, config: SearchConfig, states: Sequence, root_hidden: torch.Tensor,
                 session: SearchSession | None) -> None:
        self.agent = agent
        self.config = dataclasses.replace(config, tree_legal_masks=True)   # every node's moves are known
        if session is None:
            self.tree = agent.tree_factory(len(states), agent.num_actions, config.num_simulations + 1)
            self.positions: list[dict] = [{} for _ in states]
        else:
            carried = trees_for_search(session, states, self.config, _make_tree(agent),
                                       reusable=session.positions is not None)
            self.tree, self.positions = carried.tree, carry_positions(session.positions or [], carried)
        for row, state in enumerate(states):
            self.positions[row][0] = state
        self._children: list = []

    def expand(self, parents: np.ndarray, actions: np.ndarray) -> Expansion:
        agent = self.agent
        batch = len(parents)
        rewards = np.zeros(batch, dtype=np.float32)
        values = np.zeros(batch, dtype=np.float32)
        logits = np.zeros((batch, agent.num_actions), dtype=np.float32)
        masks = np.ones((batch, agent.num_actions), dtype=bool)      # absorbing nodes: any action
        ended = np.zeros(batch, dtype=bool)                            # the game ended at the new node
        children, to_evaluate = [], []
        for row in range(batch):
            parent = self.positions[row][int(parents[row])]
            if parent.is_terminal():
                children.append(parent)                                # absorbing: stays the end
                continue
            child = parent.play(int(actions[row]))
            children.append(child)
            if child.is_terminal():
                rewards[row] = mover_reward(child, parent.to_play)
                ended[row] = True
            else:
                masks[row] = child.legal_mask()
                to_evaluate.append(row)
        if to_evaluate:
            planes = np.stack([children[row].planes() for row in to_evaluate]).astype(np.float32, copy=False)
            with torch.inference_mode():
                _, new_logits, new_values = agent.network.initial(torch.from_numpy(planes).to(agent.device))
            logits[to_evaluate] = new_logits.float().cpu().numpy()
            values[to_evaluate] = new_values.float().cpu().numpy()
            check_finite_outputs(logits, values)
        self._children = children
        return Expansion(rewards, values, logits, masks, ended, evaluated=len(to_evaluate))

    def commit(self, new_nodes: np.ndarray) -> None:
        for row, node in enumerate(new_nodes.tolist()):
            self.positions[row][node] = self._children[row]

    def remember(self, session: SearchSession, states: Sequence) -> None:
        session.remember(self.tree, states, self.config, positions=self.positions)


MODELS = {"learned": LearnedModel, "rules": RulesModel}


def run_search(agent, config: SearchConfig, states: Sequence, root_hidden: torch.Tensor, prior_logits: np.ndarray,
               root_value: np.ndarray, legal: np.ndarray, temperature: float, rng: np.random.Generator | None,
               session: SearchSession | None = None) -> tuple[SearchOutput, int]:
    """One batched search of ``config.num_simulations`` from each of ``states`` through the
    model ``config.model`` names; (its output, positions the network evaluated below the roots).

    ``root_hidden``, ``prior_logits``, ``root_value`` and ``legal`` are h and f of the roots
    and their legal masks, as `Agent.act` computed them. With a ``session`` (pUCT), a position
    that follows one searched before keeps that search's subtree.
    """
    model = MODELS[config.model](agent, config, states, root_hidden, session)
    config, tree = model.config, model.tree
    # A fresh tree has no subtree to keep; a reused one keeps its subtree (the trees' default).
    tree.reset_roots(config, prior_logits, root_value, legal, rng)
    evaluated = 0
    for _ in range(config.num_simulations):
        parents, actions = tree.select(config)
        expansion = model.expand(parents, actions)
        new_nodes = tree.expand_and_backup(config, expansion.reward, expansion.value, expansion.prior_logits,
                                           expansion.legal, expansion.terminal)
        model.commit(np.asarray(new_nodes))
        evaluated += expansion.evaluated
    if session is not None:
        model.remember(session, states)
    return tree.output(config, temperature, rng), evaluated
