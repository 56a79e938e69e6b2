"""Go: PettingZoo classic `go_v5` (9x9 by default here), with an ``ansi`` board that has coordinates.

We keep PettingZoo's rules, ids (``row * N + column``, row 0 at the top, pass = N * N),
observations and rewards unchanged and only add text rendering, so the generic adapter
of `envs/generic.py` serves it. Coordinates skip the letter "i", as Go players write them.
"""
from __future__ import annotations

import gymnasium
from pettingzoo.classic.go import go as pettingzoo_go
from pettingzoo.utils import wrappers

from envs.game import GO_LETTERS, render_grid


class AnsiGoEnv(pettingzoo_go.raw_env):
    """`go_v5` with ``render_mode="ansi"`` (the board as text with coordinates)."""

    metadata = dict(pettingzoo_go.raw_env.metadata, render_modes=["human", "rgb_array", "ansi"])
    coordinate_letters = GO_LETTERS

    def render(self):
        if self.render_mode != "ansi":
            return super().render()
        chars = {0: ".", 1: "X", -1: "O"}
        cells = [[chars[int(value)] for value in row] for row in self._go.board]
        return render_grid(cells, GO_LETTERS) + f"\nX black, O white, komi {self._komi}"


def go_env(board_size: int = 9, komi: float = 7.5, render_mode: str | None = None):
    """The wrapped go env, as `go_v5.env` builds it, at 9x9 unless told otherwise."""
    if render_mode not in (None, "human", "rgb_array", "ansi"):
        raise ValueError(f"render_mode {render_mode!r} is not supported")
    env = AnsiGoEnv(board_size=int(board_size), komi=float(komi), render_mode=render_mode)
    env = wrappers.TerminateIllegalWrapper(env, illegal_reward=-1)
    env = wrappers.AssertOutOfBoundsWrapper(env)
    env = wrappers.OrderEnforcingWrapper(env)
    return env
