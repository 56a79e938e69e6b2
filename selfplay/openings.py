"""Seeded random openings for evaluation games, each played twice with colours swapped.

Why: an agent at temperature 0 with a noiseless search is deterministic, and so are some
baselines. Two deterministic players started from the empty board play one game per
colour, however many games are asked for: a 20-game match was two games counted ten
times, with an interval that pretended otherwise. So every pair of games (2p, 2p + 1)
starts from its own random opening of a few plies, A moving first from it in the even
game and second in the odd one; the pair cancels any advantage the opening gives one side.

Openings are drawn without replacement while unused ones are easy to find, so a match of
fewer pairs than there are openings never repeats one. The same seed gives the same
openings in every match, so different players meet the same positions.
"""
from __future__ import annotations

import numpy as np

from envs.errors import UsageError

_ATTEMPTS = 200   # draws per opening before accepting a repeat (the opening space is small)


def default_opening_plies(game) -> int:
    """The game's own choice (`Game.opening_plies`; a duck-typed game without it gets the base's)."""
    from envs.game import Game

    return int(getattr(game, "opening_plies", Game.opening_plies))


def random_openings(game, pairs: int, plies: int, seed: int) -> list[tuple[int, ...]]:
    """``pairs`` openings of ``plies`` uniformly random legal moves, none ending the game.

    UsageError if ``plies`` is negative or no opening of that length leaves the game going.
    """
    if plies < 0:
        raise UsageError(f"--opening-plies must be 0 or more, not {plies}")
    if plies == 0:
        return [()] * pairs
    rng = np.random.default_rng([seed, plies, 0x0BE2])
    openings: list[tuple[int, ...]] = []
    used: set[tuple[int, ...]] = set()
    for _ in range(pairs):
        candidate = None
        for _attempt in range(_ATTEMPTS):
            moves = _draw(game, plies, rng)
            if moves is None:
                continue
            candidate = moves
            if moves not in used:
                break
        if candidate is None:
            raise UsageError(f"every {plies}-ply opening tried ended the game: use fewer --opening-plies")
        used.add(candidate)
        openings.append(candidate)
    return openings


def _draw(game, plies: int, rng: np.random.Generator) -> tuple[int, ...] | None:
    state = game.initial_state()
    moves = []
    for _ in range(plies):
        action = int(rng.choice(np.flatnonzero(state.legal_mask())))
        state = state.play(action)
        moves.append(action)
        if state.is_terminal():
            return None
    return tuple(moves)
