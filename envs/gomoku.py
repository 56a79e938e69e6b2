"""Gomoku (free-style: a line of ``win_length`` or more wins) on a ``board_size`` square board.

Our own game: 15x15 and five in a row by default; ``board_size``/``win_length`` options
(e.g. 9 and 5) make CPU-sized variants. The state is an int8 numpy board (0 empty, 1 the
first player, 2 the second), so a move copies a few hundred bytes and checks only the
lines through the new stone. Action ``row * size + column``, row 0 at the top; natural
coordinates "d4" (column letter, row number from the bottom). A full board is a draw.
"""
from __future__ import annotations

from typing import Hashable

import numpy as np

from envs.errors import UsageError
from envs.game import GRID_LETTERS, DecidedState, Game, grid_coordinate, parse_grid_coordinate, render_grid

DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _line_length(board: np.ndarray, row: int, column: int, piece: int, size: int) -> int:
    """Longest line of ``piece`` through (row, column), counting that cell as ``piece``."""
    best = 1
    for d_row, d_col in DIRECTIONS:
        count = 1
        for sign in (1, -1):
            r, c = row + sign * d_row, column + sign * d_col
            while 0 <= r < size and 0 <= c < size and board[r, c] == piece:
                count += 1
                r += sign * d_row
                c += sign * d_col
        best = max(best, count)
    return best


class GomokuState(DecidedState):
    """A gomoku position: ``board`` int8 [size, size], 0 empty, 1/2 the stones of player 0/1."""

    __slots__ = ("board", "size", "win_length", "to_play", "history", "_winner", "_terminal")

    def __init__(self, size: int, win_length: int, board: np.ndarray | None = None,
                 history: tuple[int, ...] = (), winner: int | None = None):
        self.size, self.win_length = size, win_length
        self.board = np.zeros((size, size), dtype=np.int8) if board is None else board
        self.board.flags.writeable = False
        self.history = history
        self.to_play = len(history) & 1
        self._winner = winner
        self._terminal = winner is not None or len(history) == size * size

    def legal_mask(self) -> np.ndarray:
        if self._terminal:
            return np.zeros(self.size * self.size, dtype=bool)
        return (self.board == 0).reshape(-1)

    def open_mask(self) -> np.ndarray:
        """bool [A]: the empty points, also after the end (the env shows them like PettingZoo)."""
        return (self.board == 0).reshape(-1)

    def planes(self) -> np.ndarray:
        return self.planes_for(self.to_play)

    def planes_for(self, player: int) -> np.ndarray:
        """float32 [2, size, size]: plane 0 the stones of ``player``, plane 1 the other's."""
        return np.stack([self.board == player + 1, self.board == 2 - player]).astype(np.float32)

    def play(self, action: int) -> "GomokuState":
        action = int(action)
        size = self.size
        if self._terminal or not 0 <= action < size * size or self.board.flat[action] != 0:
            raise ValueError(f"illegal gomoku move {action} after {len(self.history)} moves")
        row, column = divmod(action, size)
        board = self.board.copy()
        board[row, column] = self.to_play + 1
        won = _line_length(board, row, column, self.to_play + 1, size) >= self.win_length
        return GomokuState(size, self.win_length, board, self.history + (action,), self.to_play if won else None)

    def _wins_for(self, player: int) -> list[int]:
        if self._terminal:
            return []
        piece = player + 1
        own = self.board == piece
        # A winning point touches one of the player's stones: look only there.
        near = np.zeros_like(own)
        near[1:, :] |= own[:-1, :]
        near[:-1, :] |= own[1:, :]
        near[:, 1:] |= own[:, :-1]
        near[:, :-1] |= own[:, 1:]
        near[1:, 1:] |= own[:-1, :-1]
        near[:-1, :-1] |= own[1:, 1:]
        near[1:, :-1] |= own[:-1, 1:]
        near[:-1, 1:] |= own[1:, :-1]
        candidates = np.flatnonzero(near & (self.board == 0))
        return [int(a) for a in candidates
                if _line_length(self.board, a // self.size, a % self.size, piece, self.size) >= self.win_length]

    def winning_actions(self) -> list[int]:
        return self._wins_for(self.to_play)

    def threat_actions(self) -> list[int]:
        return self._wins_for(1 - self.to_play)

    def key(self) -> Hashable:
        return self.board.tobytes()

    def render(self, color: bool = False) -> str:
        chars = {0: ".", 1: "X", 2: "O"}
        cells = [[chars[int(v)] for v in row] for row in self.board]
        return render_grid(cells, GRID_LETTERS, color, {"X": "31", "O": "34"})


class Gomoku(Game):
    """Gomoku: ``board_size`` x ``board_size``, ``win_length`` (or more) in a row wins."""

    agent_names = ("black_0", "white_0")

    def __init__(self, board_size: int = 15, win_length: int = 5) -> None:
        if not 3 <= int(board_size) <= 26:
            raise ValueError(f"board_size must be 3..26, not {board_size}")
        if not 2 <= int(win_length) <= int(board_size):
            raise ValueError(f"win_length must be 2..board_size, not {win_length}")
        self.name = "gomoku"
        self.size, self.win_length = int(board_size), int(win_length)
        self.options = {"board_size": self.size, "win_length": self.win_length}
        self.num_actions = self.size * self.size
        self.observation_shape = (2, self.size, self.size)
        self.board_shape = (self.size, self.size)

    def initial_state(self) -> GomokuState:
        return GomokuState(self.size, self.win_length)

    def action_to_text(self, action: int) -> str:
        if not 0 <= action < self.num_actions:
            raise UsageError(f"{action} is not a gomoku action (0-{self.num_actions - 1})")
        return grid_coordinate(*divmod(int(action), self.size), self.size, GRID_LETTERS)

    def text_to_action(self, text: str) -> int:
        row, column = parse_grid_coordinate(text, self.size, GRID_LETTERS)
        return row * self.size + column

    def make_env(self, render_mode: str | None = None):
        from envs.native_env import make_native_env

        return make_native_env(self, render_mode=render_mode)
