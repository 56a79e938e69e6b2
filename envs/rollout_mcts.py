"""`rollout-mcts:N`: plain UCT (UCB1 selection, one expansion, a random rollout) with N simulations.

A baseline with no learned knowledge at all, so it says how much a network adds. Rollouts
use the state's ``rollout_winner(rng)`` where a game provides one (Connect Four plays it
on bitboard ints), else random ``play`` calls. The move is the most visited root action.
"""
from __future__ import annotations

import math
import random
from typing import Sequence

from envs.game import State

EXPLORATION = 1.4  # UCB1 constant for win rates in [0, 1]


class _Node:
    """One tree node; ``wins`` counts results for the player who moved into this node."""

    __slots__ = ("state", "children", "untried", "visits", "wins")

    def __init__(self, state: State, rng: random.Random):
        self.state = state
        self.children: dict[int, _Node] = {}
        self.untried = [] if state.is_terminal() else state.legal_actions()
        rng.shuffle(self.untried)
        self.visits = 0
        self.wins = 0.0


def _generic_rollout(state: State, rng: random.Random) -> int | None:
    while not state.is_terminal():
        legal = state.legal_actions()
        state = state.play(legal[int(rng.random() * len(legal))])
    return state.winner()


class RolloutMCTSPlayer:
    """UCT with random rollouts; ``simulations`` per move, from a seeded ``random.Random``."""

    def __init__(self, simulations: int, seed: int | None = None):
        self.name = f"rollout-mcts:{simulations}"
        self.simulations = simulations
        self.rng = random.Random(seed)
        self.total_simulations = 0

    def act(self, root_state: State) -> int:
        rng = self.rng
        root = _Node(root_state, rng)
        # A move that wins at once is taken without search (the tree would find it anyway).
        wins = root_state.winning_actions()
        if wins:
            return int(wins[0])
        rollout = getattr(root_state, "rollout_winner", None)
        for _ in range(self.simulations):
            node, path = root, [root]
            while not node.untried and node.children:
                log_parent = math.log(node.visits)
                best, best_score = None, -1.0
                for child in node.children.values():
                    score = child.wins / child.visits + EXPLORATION * math.sqrt(log_parent / child.visits)
                    if score > best_score:
                        best, best_score = child, score
                node = best
                path.append(node)
            if node.untried:
                action = node.untried.pop()
                child = _Node(node.state.play(action), rng)
                node.children[action] = child
                node = child
                path.append(node)
            state = node.state
            winner = state.rollout_winner(rng) if rollout is not None else _generic_rollout(state, rng)
            for visited in path:
                visited.visits += 1
                if winner is None:
                    visited.wins += 0.5
                elif visited is not root and winner != visited.state.to_play:
                    visited.wins += 1.0
        self.total_simulations += self.simulations
        return max(root.children.items(), key=lambda item: item[1].visits)[0]

    def act_batch(self, states: Sequence[State]) -> list[int]:
        return [self.act(state) for state in states]

    def stats(self) -> dict:
        return {"simulations": self.total_simulations}
