"""Baseline players and the PLAYER-string parser: random, heuristic, alphabeta:D, rollout-mcts:N, perfect.

Every player moves through ``act_batch(states) -> list[int]`` (one move per state) so the
arena can run many games in lock-step; baseline players just loop. ``parse_player(spec,
game, seed)`` turns a PLAYER string into a player and raises UsageError (one line) for an
unknown or garbled string. ``agent:PATH[:SIMS[:ROOT]]`` is resolved above `envs/`, in
`selfplay/players.py`, because `envs/` never imports the agent.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from envs.errors import UsageError
from envs.game import Game, State

BASELINE_SPECS = "random, heuristic, alphabeta:D, rollout-mcts:N, perfect (tictactoe)"


@runtime_checkable
class Player(Protocol):
    """Anything that picks moves: ``act_batch`` returns one legal action per state."""

    name: str

    def act_batch(self, states: Sequence[State]) -> list[int]: ...

    def stats(self) -> dict: ...


class RandomPlayer:
    """Uniformly random legal moves from its own seeded Generator."""

    def __init__(self, seed: int | None = None):
        self.name = "random"
        self.rng = np.random.default_rng(seed)

    def act_batch(self, states: Sequence[State]) -> list[int]:
        return [int(self.rng.choice(np.flatnonzero(state.legal_mask()))) for state in states]

    def stats(self) -> dict:
        return {}


class HeuristicPlayer:
    """Win now if possible, else block the opponent's immediate win, else random.

    "Block" uses the state's ``threat_actions`` where the game provides it; otherwise
    (small action sets only) it avoids moves after which the opponent can win at once.
    """

    LOOKAHEAD_ACTION_LIMIT = 64

    def __init__(self, seed: int | None = None):
        self.name = "heuristic"
        self.rng = np.random.default_rng(seed)

    def act(self, state: State) -> int:
        wins = state.winning_actions()
        if wins:
            return int(self.rng.choice(wins))
        legal = state.legal_actions()
        threats = state.threat_actions()
        if threats is not None:
            blocks = [action for action in threats if action in legal]
            if blocks:
                return int(self.rng.choice(blocks))
        elif len(legal) <= self.LOOKAHEAD_ACTION_LIMIT:
            safe = [action for action in legal if not state.play(action).winning_actions()]
            if safe:
                return int(self.rng.choice(safe))
        return int(self.rng.choice(legal))

    def act_batch(self, states: Sequence[State]) -> list[int]:
        return [self.act(state) for state in states]

    def stats(self) -> dict:
        return {}


def _positive_int(spec: str, text: str, what: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"player {spec!r}: {what} must be a positive integer, not {text!r}")
    return int(text)


def parse_player(spec: str, game: Game, seed: int | None = None) -> Player:
    """The baseline player named by ``spec`` for ``game``; UsageError if unknown or garbled."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"empty player string (choose from {BASELINE_SPECS})")
    spec = spec.strip()
    kind, _, argument = spec.partition(":")
    if kind in ("random", "heuristic", "perfect") and argument:
        raise UsageError(f"player {spec!r}: {kind} takes no argument")
    if kind == "random":
        return RandomPlayer(seed)
    if kind == "heuristic":
        return HeuristicPlayer(seed)
    if kind == "perfect":
        if game.name != "tictactoe":
            raise UsageError(f"player 'perfect' exists only for tictactoe, not {game.name}")
        from envs.tictactoe_solver import PerfectPlayer

        return PerfectPlayer(seed)
    if kind == "alphabeta":
        depth = _positive_int(spec, argument, "the depth D")
        from envs.alphabeta import AlphaBetaPlayer

        return AlphaBetaPlayer(depth, seed)
    if kind == "rollout-mcts":
        simulations = _positive_int(spec, argument, "the simulation count N")
        from envs.rollout_mcts import RolloutMCTSPlayer

        return RolloutMCTSPlayer(simulations, seed)
    raise UsageError(f"unknown player {spec!r} (choose from {BASELINE_SPECS}, agent:PATH[:SIMS[:ROOT]])")
