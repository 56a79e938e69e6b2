"""Search over the game's own rules (AlphaZero) with the same network and the same trees.

MuZero's simulations step through the learned dynamics g; here they step through the real
game: the caller keeps the real position of every tree node, each new node is evaluated
with f(h(position)) like a root, the legal moves are known at every node, and a move that
ends the game gets its exact reward. Nothing else changes (pUCT or Gumbel root, discount,
the compiled trees), so comparing the two isolates what the learned model costs the
search: `ponder ablate --root puct,puct+rules` measures exactly that.

Below a position that ended the game the tree still lets a simulation descend (the trees
do not know the game ended); such nodes are absorbing, as in MuZero's training: reward 0,
value 0, no network call. So a won position backs up its exact reward every time the
search picks it.

With ``config.solver`` each simulation also tells the trees which new nodes ended the game,
so wins, losses and draws are proven and backed up (MCTS-Solver, `mcts.reference`): the
search stops spending simulations on moves it has proven lost and plays a proven win.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from agent.checkpoint import check_finite_outputs
from agent.reuse import SearchSession, carry_positions, trees_for_search
from envs.game import mover_reward
from mcts import SearchConfig, SearchOutput


def search_over_rules(agent, config: SearchConfig, states: Sequence, prior_logits: np.ndarray,
                      root_value: np.ndarray, legal: np.ndarray, temperature: float,
                      rng: np.random.Generator | None, session: SearchSession | None = None
                      ) -> tuple[SearchOutput, int]:
    """One batched search of ``config.num_simulations`` over the rules from each of ``states``,
    and how many positions the network evaluated (a simulation that ends a game needs none).

    ``prior_logits``, ``root_value`` and ``legal`` are the roots' network answers and legal
    masks, as `Agent.act` already computed them. One network call per simulation evaluates
    every new non-terminal node of all B trees together. With a ``session`` (pUCT), a
    position that follows one searched before keeps that search's subtree and the real
    positions of its nodes (`agent.reuse`).
    """
    config = dataclasses.replace(config, tree_legal_masks=True)   # the caller knows every node's moves
    batch, num_actions = len(states), agent.num_actions
    tree, positions = _trees_for(agent, config, states, session)
    for row, state in enumerate(states):
        positions[row][0] = state
    tree.reset_roots(config, prior_logits, root_value, legal, rng)
    evaluated = 0
    for _ in range(config.num_simulations):
        parents, actions = tree.select(config)
        rewards = np.zeros(batch, dtype=np.float32)
        values = np.zeros(batch, dtype=np.float32)
        logits = np.zeros((batch, num_actions), dtype=np.float32)
        masks = np.ones((batch, num_actions), dtype=bool)      # absorbing nodes: any action
        ended = np.zeros(batch, dtype=bool)                      # the game ended at the new node
        children, to_evaluate = [], []
        for row in range(batch):
            parent = positions[row][int(parents[row])]
            if parent.is_terminal():
                children.append(parent)                         # absorbing: stays the end
                continue
            child = parent.play(int(actions[row]))
            children.append(child)
            if child.is_terminal():
                rewards[row] = mover_reward(child, parent.to_play)
                ended[row] = True
            else:
                masks[row] = child.legal_mask()
                to_evaluate.append(row)
        evaluated += len(to_evaluate)
        if to_evaluate:
            planes = np.stack([children[row].planes() for row in to_evaluate]).astype(np.float32, copy=False)
            with torch.inference_mode():
                _, new_logits, new_values = agent.network.initial(torch.from_numpy(planes).to(agent.device))
            logits[to_evaluate] = new_logits.float().cpu().numpy()
            values[to_evaluate] = new_values.float().cpu().numpy()
            check_finite_outputs(logits, values)
        new_nodes = tree.expand_and_backup(config, rewards, values, logits, masks, ended)
        for row, node in enumerate(np.asarray(new_nodes).tolist()):
            positions[row][node] = children[row]
    if session is not None:
        session.remember(tree, states, config, positions=positions)
    return tree.output(config, temperature, rng), evaluated


def _trees_for(agent, config: SearchConfig, states: Sequence, session: SearchSession | None):
    """(tree, each tree's node -> position): carried over from the session when possible."""
    if session is None:
        return agent.tree_factory(len(states), agent.num_actions, config.num_simulations + 1), [{} for _ in states]
    carried = trees_for_search(session, states, config,
                               lambda rows, capacity: agent.tree_factory(rows, agent.num_actions, capacity),
                               reusable=session.positions is not None)
    return carried.tree, carry_positions(session.positions or [], carried)
