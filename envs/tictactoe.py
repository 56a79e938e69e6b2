"""Tic-tac-toe as a native state: two 9-bit ints, the action ids of PettingZoo `tictactoe_v3`.

Square ``i`` (the action id) is bit ``i``. PettingZoo draws square ``i`` at column
``i // 3``, row ``i % 3``; its observation is the flat board reshaped row-major, so
``planes()[k].flat[i]`` is square ``i`` (plane 0: the player to move, plane 1: the other).
Natural coordinates number the squares 1-9 in reading order of the drawn board.
"""
from __future__ import annotations

from typing import Hashable

import numpy as np

from envs.errors import UsageError
from envs.game import DecidedState, Game, filling_ends

WIN_LINES = tuple(
    sum(1 << square for square in line)
    for line in ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
)
FULL_BOARD = (1 << 9) - 1
_BIT_PLANES = np.array([[(value >> i) & 1 for i in range(9)] for value in range(512)], dtype=np.float32)


def has_line(bits: int) -> bool:
    """True if the 9-bit set of squares contains a winning line."""
    for line in WIN_LINES:
        if bits & line == line:
            return True
    return False


class TicTacToeState(DecidedState):
    """A tic-tac-toe position: ``stones[p]`` is the 9-bit set of player ``p``'s squares."""

    __slots__ = ("stones", "to_play", "history", "_winner", "_terminal")

    def __init__(self, stones: tuple[int, int] = (0, 0), history: tuple[int, ...] = ()):
        self.stones = stones
        self.history = history
        self.to_play = len(history) & 1
        last = 1 - self.to_play
        if history and has_line(stones[last]):
            self._winner, self._terminal = last, True
        else:
            self._winner, self._terminal = None, (stones[0] | stones[1]) == FULL_BOARD

    def legal_mask(self) -> np.ndarray:
        if self._terminal:
            return np.zeros(9, dtype=bool)
        return _BIT_PLANES[FULL_BOARD & ~(self.stones[0] | self.stones[1])].astype(bool)

    def open_mask(self) -> np.ndarray:
        """bool [9]: the empty squares, even once the game is over (PettingZoo's env mask)."""
        return _BIT_PLANES[FULL_BOARD & ~(self.stones[0] | self.stones[1])].astype(bool)

    def planes(self) -> np.ndarray:
        return self.planes_for(self.to_play)

    def planes_for(self, player: int) -> np.ndarray:
        """float32 [2, 3, 3]: plane 0 the squares of ``player``, plane 1 the other's."""
        return np.stack([_BIT_PLANES[self.stones[player]], _BIT_PLANES[self.stones[1 - player]]]).reshape(2, 3, 3)

    def play(self, action: int) -> "TicTacToeState":
        bit = 1 << int(action)
        if self._terminal or not 0 <= action < 9 or (self.stones[0] | self.stones[1]) & bit:
            raise ValueError(f"illegal tic-tac-toe move {action} after {list(self.history)}")
        stones = (self.stones[0] | bit, self.stones[1]) if self.to_play == 0 else (self.stones[0], self.stones[1] | bit)
        return TicTacToeState(stones, self.history + (int(action),))

    def _wins_for(self, player: int) -> list[int]:
        if self._terminal:
            return []
        empty = FULL_BOARD & ~(self.stones[0] | self.stones[1])
        return [square for square in range(9) if empty >> square & 1 and has_line(self.stones[player] | 1 << square)]

    def winning_actions(self) -> list[int]:
        return self._wins_for(self.to_play)

    def action_ends(self) -> np.ndarray:
        return filling_ends(self.legal_mask(), self.winning_actions(), bin(self.stones[0] | self.stones[1]).count("1") == 8)

    def threat_actions(self) -> list[int]:
        return self._wins_for(1 - self.to_play)

    def key(self) -> Hashable:
        return self.stones

    def render(self, color: bool = False) -> str:
        marks = {0: "X", 1: "O"}
        colours = {"X": "31", "O": "34"}
        rows = []
        for row in range(3):
            cells = []
            for column in range(3):
                square = column * 3 + row
                char = str(row * 3 + column + 1)
                for player in (0, 1):
                    if self.stones[player] >> square & 1:
                        char = marks[player]
                        if color:
                            char = f"\x1b[{colours[char]}m{char}\x1b[0m"
                cells.append(f" {char} ")
            rows.append("|".join(cells))
        return "\n---+---+---\n".join(rows)


class TicTacToe(Game):
    """Tic-tac-toe with the ids, observations and rewards of PettingZoo `tictactoe_v3`."""

    agent_names = ("player_1", "player_2")
    # One random ply: every first move still draws with perfect play, so a perfect player
    # never loses an evaluation game; some two-ply openings are already lost.
    opening_plies = 1

    def __init__(self) -> None:
        self.name = "tictactoe"
        self.options = {}
        self.num_actions = 9
        self.observation_shape = (2, 3, 3)
        self.board_shape = (3, 3)

    def initial_state(self) -> TicTacToeState:
        return TicTacToeState()

    def action_to_text(self, action: int) -> str:
        if not 0 <= action < 9:
            raise UsageError(f"{action} is not a tic-tac-toe action (0-8)")
        column, row = divmod(int(action), 3)
        return str(row * 3 + column + 1)

    def text_to_action(self, text: str) -> int:
        cleaned = text.strip()
        if not cleaned.isdigit() or not 1 <= int(cleaned) <= 9:
            raise UsageError(f"{text!r} is not a tic-tac-toe square (1-9, reading order)")
        row, column = divmod(int(cleaned) - 1, 3)
        return column * 3 + row

    def make_env(self, render_mode: str | None = None):
        from envs.native_env import make_native_env

        return make_native_env(self, render_mode=render_mode)
