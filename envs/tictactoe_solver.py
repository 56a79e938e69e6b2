"""Tic-tac-toe solved exactly: game values, optimal actions, every reachable position; the `perfect` player.

The whole game tree (5,478 positions) is solved once by memoised negamax and cached, so
``optimal_actions(state)`` is a dictionary look-up. The ablation harness uses
``reachable_positions()`` with ``optimal_actions`` to measure how often a policy picks an
optimal move; ``PerfectPlayer`` picks uniformly among the optimal actions, so two perfect
players draw every game.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from envs.tictactoe import FULL_BOARD, TicTacToeState, has_line


@lru_cache(maxsize=None)
def _value(stones: tuple[int, int], to_play: int) -> int:
    """Game value (+1 win, 0 draw, -1 loss) for ``to_play`` with best play by both sides."""
    if has_line(stones[1 - to_play]):
        return -1
    occupied = stones[0] | stones[1]
    if occupied == FULL_BOARD:
        return 0
    best = -1
    for square in range(9):
        if not occupied >> square & 1:
            bit = 1 << square
            after = (stones[0] | bit, stones[1]) if to_play == 0 else (stones[0], stones[1] | bit)
            best = max(best, -_value(after, 1 - to_play))
            if best == 1:
                break
    return best


def game_value(state: TicTacToeState) -> int:
    """The exact value of the position for the player to move: 1, 0 or -1."""
    if state.is_terminal():
        return int(state.outcome())
    return _value(state.stones, state.to_play)


def action_values(state: TicTacToeState) -> dict[int, int]:
    """Exact value, for the player to move, of each legal action."""
    values = {}
    for action in state.legal_actions():
        after = state.play(action)
        values[action] = -game_value(after)
    return values


def optimal_actions(state: TicTacToeState) -> frozenset[int]:
    """The set of legal actions that keep the best achievable game value (empty if terminal)."""
    values = action_values(state)
    if not values:
        return frozenset()
    best = max(values.values())
    return frozenset(action for action, value in values.items() if value == best)


@lru_cache(maxsize=1)
def _reachable_histories() -> tuple[tuple[int, ...], ...]:
    seen: dict = {}
    frontier = [TicTacToeState()]
    while frontier:
        state = frontier.pop()
        if state.is_terminal() or state.key() in seen:
            continue
        seen[state.key()] = state.history
        frontier.extend(state.play(action) for action in state.legal_actions())
    return tuple(sorted(seen.values(), key=lambda history: (len(history), history)))


def reachable_positions() -> list[TicTacToeState]:
    """Every distinct non-terminal position reachable from the start (4,520), each once."""
    states = []
    for history in _reachable_histories():
        state = TicTacToeState()
        for action in history:
            state = state.play(action)
        states.append(state)
    return states


class PerfectPlayer:
    """Plays a uniformly random optimal move: never loses, and draws against itself."""

    def __init__(self, seed: int | None = None):
        self.name = "perfect"
        self.rng = np.random.default_rng(seed)

    def act_batch(self, states: Sequence[TicTacToeState]) -> list[int]:
        return [int(self.rng.choice(sorted(optimal_actions(state)))) for state in states]

    def stats(self) -> dict:
        return {}
