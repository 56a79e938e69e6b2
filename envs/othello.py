"""Othello (Reversi) on an 8x8 (default) or 6x6 board, passes by the rules.

Our own game. The state is an int8 numpy board (0 empty, 1 the first player = black,
2 white). Legal moves are found for the whole board at once with shifted boolean arrays;
a move flips by walking the eight directions from the new disc. When the player to move
has no legal placement but the opponent has, the only legal action is ``pass`` (id
``size * size``); when neither has one, the game is over and more discs wins.
Action ``row * size + column``, row 0 at the top; natural coordinates "d4" or "pass".
"""
from __future__ import annotations

from typing import Hashable

import numpy as np

from envs.errors import UsageError
from envs.game import GRID_LETTERS, Game, State, grid_coordinate, parse_grid_coordinate, render_grid

DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def _shift(cells: np.ndarray, d_row: int, d_col: int) -> np.ndarray:
    """The boolean board moved by (d_row, d_col), zeros shifted in."""
    out = np.zeros_like(cells)
    size = cells.shape[0]
    rows_to = slice(max(d_row, 0), size + min(d_row, 0))
    rows_from = slice(max(-d_row, 0), size + min(-d_row, 0))
    cols_to = slice(max(d_col, 0), size + min(d_col, 0))
    cols_from = slice(max(-d_col, 0), size + min(-d_col, 0))
    out[rows_to, cols_to] = cells[rows_from, cols_from]
    return out


def placements(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """bool [size, size]: the empty cells where ``own`` may place a disc (it flips something)."""
    empty = ~(own | other)
    legal = np.zeros_like(own)
    for d_row, d_col in DIRECTIONS:
        # Runs of ``other`` discs that start next to an ``own`` disc, grown along the direction.
        run = _shift(own, d_row, d_col) & other
        for _ in range(own.shape[0] - 3):
            run |= _shift(run, d_row, d_col) & other
        legal |= _shift(run, d_row, d_col) & empty
    return legal


class OthelloState(State):
    """An Othello position: ``board`` int8 [size, size]; ``history`` includes passes."""

    __slots__ = ("board", "size", "to_play", "history", "_mask", "_terminal")

    def __init__(self, size: int, board: np.ndarray, history: tuple[int, ...] = ()):
        self.size = size
        self.board = board
        self.board.flags.writeable = False
        self.history = history
        self.to_play = len(history) & 1
        own, other = board == self.to_play + 1, board == 2 - self.to_play
        mask = np.zeros(size * size + 1, dtype=bool)
        mine = placements(own, other)
        if mine.any():
            mask[:-1] = mine.reshape(-1)
            self._terminal = False
        elif placements(other, own).any():
            mask[-1] = True  # pass: the only legal action
            self._terminal = False
        else:
            self._terminal = True
        self._mask = mask

    def legal_mask(self) -> np.ndarray:
        return self._mask.copy()

    def planes(self) -> np.ndarray:
        return self.planes_for(self.to_play)

    def planes_for(self, player: int) -> np.ndarray:
        """float32 [2, size, size]: plane 0 the discs of ``player``, plane 1 the other's."""
        return np.stack([self.board == player + 1, self.board == 2 - player]).astype(np.float32)

    def is_terminal(self) -> bool:
        return self._terminal

    def disc_counts(self) -> tuple[int, int]:
        """Discs of player 0 and player 1."""
        return int((self.board == 1).sum()), int((self.board == 2).sum())

    def winner(self) -> int | None:
        if not self._terminal:
            raise ValueError("winner() of a game that is not over")
        first, second = self.disc_counts()
        return None if first == second else (0 if first > second else 1)

    def play(self, action: int) -> "OthelloState":
        action = int(action)
        if self._terminal or not 0 <= action < self._mask.size or not self._mask[action]:
            raise ValueError(f"illegal othello move {action} after {len(self.history)} moves")
        if action == self.size * self.size:
            return OthelloState(self.size, self.board, self.history + (action,))
        size = self.size
        piece, other = self.to_play + 1, 2 - self.to_play
        board = self.board.copy()
        row, column = divmod(action, size)
        board[row, column] = piece
        for d_row, d_col in DIRECTIONS:
            r, c = row + d_row, column + d_col
            run = []
            while 0 <= r < size and 0 <= c < size and board[r, c] == other:
                run.append((r, c))
                r += d_row
                c += d_col
            if run and 0 <= r < size and 0 <= c < size and board[r, c] == piece:
                for cell in run:
                    board[cell] = piece
        return OthelloState(size, board, self.history + (action,))

    def key(self) -> Hashable:
        return (self.to_play, self.board.tobytes())

    def render(self, color: bool = False) -> str:
        chars = {0: ".", 1: "X", 2: "O"}
        cells = [[chars[int(v)] for v in row] for row in self.board]
        first, second = self.disc_counts()
        board = render_grid(cells, GRID_LETTERS, color, {"X": "31", "O": "34"})
        return f"{board}\nX (black) {first}, O (white) {second}"


class Othello(Game):
    """Othello on a ``board_size`` board (even, 4..16; 8 by default, 6 for CPU experiments)."""

    agent_names = ("black_0", "white_0")

    def __init__(self, board_size: int = 8) -> None:
        board_size = int(board_size)
        if board_size % 2 or not 4 <= board_size <= 16:
            raise ValueError(f"board_size must be even and 4..16, not {board_size}")
        self.name = "othello"
        self.size = board_size
        self.options = {"board_size": board_size}
        self.num_actions = board_size * board_size + 1
        self.pass_action = board_size * board_size
        self.observation_shape = (2, board_size, board_size)
        self.board_shape = (board_size, board_size)

    def initial_state(self) -> OthelloState:
        board = np.zeros((self.size, self.size), dtype=np.int8)
        middle = self.size // 2
        board[middle - 1, middle - 1] = board[middle, middle] = 2
        board[middle - 1, middle] = board[middle, middle - 1] = 1
        return OthelloState(self.size, board)

    def action_to_text(self, action: int) -> str:
        if action == self.pass_action:
            return "pass"
        if not 0 <= action < self.pass_action:
            raise UsageError(f"{action} is not an othello action (0-{self.pass_action})")
        return grid_coordinate(*divmod(int(action), self.size), self.size, GRID_LETTERS)

    def text_to_action(self, text: str) -> int:
        if text.strip().lower() == "pass":
            return self.pass_action
        row, column = parse_grid_coordinate(text, self.size, GRID_LETTERS)
        return row * self.size + column

    def make_env(self, render_mode: str | None = None):
        from envs.native_env import make_native_env

        return make_native_env(self, render_mode=render_mode)
