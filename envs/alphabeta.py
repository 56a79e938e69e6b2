"""`alphabeta:D`: depth-limited negamax with alpha-beta pruning and a transposition table.

Terminal positions score +-(1 - ply / 1000) so that quicker wins and slower losses are
preferred; at the depth limit the state's ``evaluate()`` (a static value in (-1, 1) for
the player to move) is used where the game has one, else 0. At full depth (9 for
tic-tac-toe) the search is exact. Ties between equally good moves are broken at random.

Moves are searched in the order of the state's ``search_actions()`` where the game has
one (Othello, Gomoku: the moves worth trying, best first; it may leave out moves, e.g.
Gomoku's far-away points), at the root too; otherwise all legal moves, immediate wins
first, then centre-first (`_ordered`). Each root move after the first is searched with the
window (best so far - epsilon, +inf): a move that cannot tie or beat the best fails low
at once, and ties still get exact scores, so the random choice among the best is as before.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from envs.game import State

WIN_SCORE = 1.0
TIE = 1e-9  # root scores this close to the best are ties


class AlphaBetaPlayer:
    """Negamax to ``depth`` plies; random among the best-scoring root moves."""

    def __init__(self, depth: int, seed: int | None = None):
        self.name = f"alphabeta:{depth}"
        self.depth = depth
        self.rng = np.random.default_rng(seed)
        self.nodes = 0

    def _leaf_value(self, state: State) -> float:
        evaluate = getattr(state, "evaluate", None)
        return float(evaluate()) if evaluate is not None else 0.0

    def _negamax(self, state: State, depth: int, ply: int, alpha: float, beta: float, table: dict) -> float:
        self.nodes += 1
        if state.is_terminal():
            return state.outcome() * (WIN_SCORE - ply / 1000.0)
        if depth == 0:
            return self._leaf_value(state) * 0.5
        key = (state.key(), depth)
        cached = table.get(key)
        if cached is not None:
            flag, value = cached
            if flag == 0 or (flag > 0 and value >= beta) or (flag < 0 and value <= alpha):
                return value
        original_alpha = alpha
        best = -2.0
        for action in self._moves(state):
            value = -self._negamax(state.play(action), depth - 1, ply + 1, -beta, -alpha, table)
            if value > best:
                best = value
            if best > alpha:
                alpha = best
            if alpha >= beta:
                break
        # flag: 0 exact, +1 lower bound (cut-off), -1 upper bound (nothing raised alpha)
        flag = 1 if best >= beta else (-1 if best <= original_alpha else 0)
        table[key] = (flag, best)
        return best

    def _moves(self, state: State) -> list[int]:
        """The moves to search at an inner node, best first: the state's hook, else `_ordered`."""
        hook = getattr(state, "search_actions", None)
        return hook() if hook is not None else self._ordered(state)

    def _ordered(self, state: State) -> list[int]:
        legal = state.legal_actions()
        # Centre-first ordering prunes more in connection games; harmless elsewhere.
        centre = (len(legal) - 1) / 2.0 if legal else 0.0
        wins = set(state.winning_actions())
        return sorted(legal, key=lambda action: (action not in wins, abs(legal.index(action) - centre)))

    def act(self, state: State) -> int:
        table: dict = {}
        scores = {}
        hook = getattr(state, "search_actions", None)
        best = -2.0
        for action in (hook() if hook is not None else state.legal_actions()):
            # Window (best - 2 * TIE, +inf): a move that could tie the best gets its exact score;
            # a worse one returns a bound at or below best - 2 * TIE and is left out below.
            alpha = best - 2 * TIE if best > -2.0 else -2.0
            score = -self._negamax(state.play(action), self.depth - 1, 1, -2.0, -alpha, table)
            scores[action] = score
            best = max(best, score)
        choices = [action for action, score in scores.items() if score >= best - TIE]
        return int(self.rng.choice(choices))

    def act_batch(self, states: Sequence[State]) -> list[int]:
        return [self.act(state) for state in states]

    def stats(self) -> dict:
        return {"nodes": self.nodes}
