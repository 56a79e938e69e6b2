"""Gomoku (free-style: a line of ``win_length`` or more wins) on a ``board_size`` square board.

Our own game: 15x15 and five in a row by default; ``board_size``/``win_length`` options
(e.g. 9 and 5) make CPU-sized variants. The state is an int8 numpy board (0 empty, 1 the
first player, 2 the second), so a move copies a few hundred bytes and checks only the
lines through the new stone. Action ``row * size + column``, row 0 at the top; natural
coordinates "d4" (column letter, row number from the bottom). A full board is a draw.

For `alphabeta:D`, ``evaluate`` scores the windows of ``win_length`` cells that hold only
one player's stones and ``search_actions`` narrows and orders the moves (wins, forced
blocks, then the points near stones by a local window score), both vectorised over an
index array of every window (`_windows`).
"""
from __future__ import annotations

import math
from functools import lru_cache
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


@lru_cache(maxsize=None)
def _windows(size: int, win_length: int) -> np.ndarray:
    """int64 [W, win_length]: the flat cell indices of every line of ``win_length`` cells."""
    windows = []
    for d_row, d_col in DIRECTIONS:
        for row in range(size):
            for column in range(size):
                end_row, end_col = row + (win_length - 1) * d_row, column + (win_length - 1) * d_col
                if 0 <= end_row < size and 0 <= end_col < size:
                    windows.append([(row + k * d_row) * size + column + k * d_col for k in range(win_length)])
    return np.array(windows, dtype=np.int64).reshape(-1, win_length)


@lru_cache(maxsize=None)
def _count_tables(win_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells are coded 0 (empty), 1 (player 0), ``win_length + 1`` (player 1), so a window's
    sum ``s`` tells both counts. Tables indexed by ``s``: the stones of player 0 / player 1
    in a window holding no stone of the other (0 otherwise)."""
    base = win_length + 1
    sums = np.arange(win_length * base + 1)
    first, second = sums % base, sums // base
    pure = [np.where(second == 0, first, 0), np.where(first == 0, second, 0)]
    return pure[0].astype(np.int64), pure[1].astype(np.int64)


@lru_cache(maxsize=None)
def _weights(win_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per window, indexed by the stones of one player in a window free of the other's:
    the evaluation's weights (player to move, other player) and the move ordering's
    (attack: own stones; defence: the opponent's), steep in the stones held."""
    def by_missing(values: dict[int, float], default: float) -> np.ndarray:
        table = np.array([values.get(win_length - k, default) for k in range(win_length + 1)], dtype=np.float64)
        table[0] = 0.0
        return table

    own = by_missing({1: 100.0, 2: 30.0, 3: 6.0, 4: 1.0}, 0.3)
    other = by_missing({1: 40.0, 2: 20.0, 3: 5.0, 4: 1.0}, 0.3)
    attack = by_missing({1: 1000.0, 2: 60.0, 3: 10.0, 4: 2.0}, 0.5)
    defence = by_missing({1: 500.0, 2: 40.0, 3: 7.0, 4: 1.5}, 0.4)
    return own, other, attack, defence


EVAL_SCALE = 80.0   # tanh(score / EVAL_SCALE)
WIN_NEXT = 0.96     # the value when the player to move has a winning move (or the opponent two)


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

    def _window_stones(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every window's stones of the player to move and of the other player (0 where the
        window holds both colours), the windows' cell indices and the flat board."""
        windows = _windows(self.size, self.win_length)
        flat = self.board.reshape(-1)
        codes = np.array([0, 1, self.win_length + 1], dtype=np.int64)[flat]
        sums = codes[windows].sum(axis=1)
        pure_first, pure_second = _count_tables(self.win_length)
        if self.to_play == 0:
            return pure_first[sums], pure_second[sums], windows, flat
        return pure_second[sums], pure_first[sums], windows, flat

    def evaluate(self) -> float:
        """A static value in (-1, 1) for the player to move (`alphabeta:D`'s leaf value).

        Sums, over the windows of ``win_length`` cells holding only one player's stones, a
        weight that grows steeply with the stones held. The player to move has the
        initiative: a window one stone short of a line is a win next move (about +0.96), two
        such points of the opponent a loss (about -0.96), one a forced block; its own
        windows weigh more than the opponent's. Exactly colour-symmetric: swapping the
        colours of the stones and the player to move leaves the value unchanged.
        """
        if self._terminal:
            return 0.0 if self._winner is None else (1.0 if self._winner == self.to_play else -1.0) * WIN_NEXT
        length = self.win_length
        own, other, windows, flat = self._window_stones()
        own_counts = np.bincount(own, minlength=length + 1)
        if own_counts[length - 1]:
            return WIN_NEXT
        other_counts = np.bincount(other, minlength=length + 1)
        own_weights, other_weights, _, _ = _weights(length)
        score = float(own_weights[:length - 1] @ own_counts[:length - 1]
                      - other_weights[:length - 1] @ other_counts[:length - 1])
        if other_counts[length - 1]:
            cells = windows[other == length - 1].reshape(-1)
            threats = np.unique(cells[flat[cells] == 0]).size
            if threats > 1:
                return -WIN_NEXT
            score -= other_weights[length - 1]
        return math.tanh(score / EVAL_SCALE)

    def search_actions(self) -> list[int]:
        """The moves worth searching, best first, for `alphabeta:D` (a subset of the legal ones).

        The winning moves if there are any; else, when the opponent threatens to win, only
        the blocks; else the empty points within distance 2 (Chebyshev) of a stone (the
        centre on an empty board), by a local score: the windows through the point, weighted
        by the stones they hold of one colour (to extend, or to block).
        """
        if self._terminal:
            return []
        size, length = self.size, self.win_length
        stones = self.board != 0
        if not stones.any():
            return [(size // 2) * size + size // 2]
        own, other, windows, flat = self._window_stones()
        empty = flat == 0
        wins = windows[own == length - 1].reshape(-1)
        wins = wins[empty[wins]]
        if wins.size:
            return np.unique(wins).tolist()
        _, _, attack, defence = _weights(length)
        values = attack[own] + defence[other]
        scores = np.bincount(windows.reshape(-1), weights=np.repeat(values, length), minlength=size * size)
        blocks = windows[other == length - 1].reshape(-1)
        blocks = blocks[empty[blocks]]
        if blocks.size:
            candidates = np.unique(blocks)
        else:
            near = stones.copy()
            for step in (1, 2):   # dilate by 2 along rows, then along columns
                near[step:, :] |= stones[:-step, :]
                near[:-step, :] |= stones[step:, :]
            rows = near.copy()
            for step in (1, 2):
                near[:, step:] |= rows[:, :-step]
                near[:, :-step] |= rows[:, step:]
            candidates = np.flatnonzero(near.reshape(-1) & empty)
        order = np.argsort(-scores[candidates], kind="stable")
        return candidates[order].tolist()

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
