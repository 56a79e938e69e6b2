"""Othello (Reversi) on an 8x8 (default) or 6x6 board, passes by the rules.

Our own game. The state is an int8 numpy board (0 empty, 1 the first player = black,
2 white). Legal moves are found for the whole board at once on bitboards (one Python int
per colour, bit ``row * size + column``, shifted a direction at a time); a move flips by
walking the eight directions from the new disc. When the player to move has no legal
placement but the opponent has, the only legal action is ``pass`` (id ``size * size``);
when neither has one, the game is over and more discs wins. Action ``row * size + column``,
row 0 at the top; Othello's own coordinates, row 1 at the top ("d3", "f5": black's usual
openings), or "pass".

The bitboards also serve `alphabeta:D`'s static evaluation at its depth limit (``evaluate``:
mobility, corners, X/C squares, stable discs, the disc count late in the game) and its
move ordering (``search_actions``: corners first, X-squares last).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Hashable

import numpy as np

from envs.errors import UsageError
from envs.game import GRID_LETTERS, Game, State, grid_coordinate, parse_grid_coordinate, render_grid

DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


class _Geometry:
    """Bit masks of one board size: shifts without wrap-around, corners, lines, square weights."""

    def __init__(self, size: int):
        self.size = size
        cells = size * size
        self.cells = cells
        self.full = (1 << cells) - 1
        self.bytes = (cells + 7) // 8
        bit = lambda r, c: 1 << (r * size + c)  # noqa: E731
        col_first = sum(bit(r, 0) for r in range(size))
        col_last = sum(bit(r, size - 1) for r in range(size))
        row_first = sum(bit(0, c) for c in range(size))
        row_last = sum(bit(size - 1, c) for c in range(size))
        self.not_first_col = self.full & ~col_first
        self.not_last_col = self.full & ~col_last
        # (shift, mask applied after the shift): moves every bit one cell in a direction;
        # a positive shift is a left shift. Masks drop the bits that wrapped to the other side.
        self.steps = []
        for d_row, d_col in DIRECTIONS:
            shift = d_row * size + d_col
            mask = self.full
            if d_col == 1:
                mask &= self.not_first_col
            elif d_col == -1:
                mask &= self.not_last_col
            self.steps.append((shift, mask))
        # Stability: per axis, the cells whose neighbour on one side of the axis is off the board.
        border = col_first | col_last | row_first | row_last
        self.axis_walls = (col_first | col_last, row_first | row_last, border, border)
        self.axis_steps = (((1, self.not_first_col), (-1, self.not_last_col)),
                           ((size, self.full), (-size, self.full)),
                           ((size + 1, self.not_first_col), (-size - 1, self.not_last_col)),
                           ((size - 1, self.not_last_col), (-size + 1, self.not_first_col)))
        lines: list[list[int]] = [[], [], [], []]
        for r in range(size):
            lines[0].append(sum(bit(r, c) for c in range(size)))
        for c in range(size):
            lines[1].append(sum(bit(r, c) for r in range(size)))
        for diagonal in range(-(size - 1), size):
            lines[2].append(sum(bit(r, r - diagonal) for r in range(size) if 0 <= r - diagonal < size))
            lines[3].append(sum(bit(r, diagonal + size - 1 - r) for r in range(size)
                                if 0 <= diagonal + size - 1 - r < size))
        self.axis_lines = tuple(tuple(line for line in axis if line) for axis in lines)
        # Corners with their X-square (diagonal neighbour) and C-squares (edge neighbours).
        last = size - 1
        self.corners = []
        for r, c in ((0, 0), (0, last), (last, 0), (last, last)):
            dr, dc = (1 if r == 0 else -1), (1 if c == 0 else -1)
            self.corners.append((bit(r, c), bit(r + dr, c + dc), bit(r + dr, c) | bit(r, c + dc)))
        self.corner_bits = sum(corner for corner, _, _ in self.corners)
        # Static square weights for move ordering: corners, edges, the ring inside the edges.
        weights = np.zeros((size, size), dtype=np.int64)
        weights[[0, last], :] = weights[:, [0, last]] = 10
        weights[[1, last - 1], 1:last] = weights[1:last, [1, last - 1]] = -3
        for corner, x, c in self.corners:
            for cells_bits, value in ((corner, 100), (x, -50), (c, -20)):
                for index in range(cells):
                    if cells_bits >> index & 1:
                        weights.flat[index] = value
        self.square_weights = weights.reshape(-1).tolist()


@lru_cache(maxsize=None)
def _geometry(size: int) -> _Geometry:
    return _Geometry(size)


def _to_bits(cells: np.ndarray) -> int:
    """A boolean board as a bitboard (bit ``row * size + column``)."""
    return int.from_bytes(np.packbits(cells.reshape(-1), bitorder="little").tobytes(), "little")


def _from_bits(bits: int, size: int) -> np.ndarray:
    """bool [size, size] of a bitboard."""
    geometry = _geometry(size)
    raw = np.frombuffer(bits.to_bytes(geometry.bytes, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:geometry.cells].astype(bool).reshape(size, size)


def _shifted(bits: int, shift: int, mask: int) -> int:
    return ((bits << shift) if shift > 0 else (bits >> -shift)) & mask


def placement_bits(own: int, other: int, size: int) -> int:
    """Bitboard of the empty cells where ``own`` may place a disc (it flips something)."""
    geometry = _geometry(size)
    empty = geometry.full & ~(own | other)
    legal = 0
    for shift, mask in geometry.steps:
        # Runs of ``other`` discs that start next to an ``own`` disc, grown along the direction.
        if shift > 0:
            run = (own << shift) & mask & other
            for _ in range(size - 3):
                run |= (run << shift) & mask & other
            legal |= (run << shift) & mask & empty
        else:
            back = -shift
            run = (own >> back) & mask & other
            for _ in range(size - 3):
                run |= (run >> back) & mask & other
            legal |= (run >> back) & mask & empty
    return legal


def placements(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """bool [size, size]: the empty cells where ``own`` may place a disc (it flips something)."""
    size = own.shape[0]
    return _from_bits(placement_bits(_to_bits(own), _to_bits(other), size), size)


def stable_bits(own: int, occupied: int, size: int) -> int:
    """Discs of ``own`` that can never be flipped, by a sound approximation.

    A disc is stable when on each of the four axes its line is full, or its neighbour on
    one side is off the board or a stable disc of the same colour; grown from the corners
    to a fixed point. (It misses some stable discs, e.g. ones held by stable opponent
    discs, but never marks an unstable one.)
    """
    geometry = _geometry(size)
    conditions = []
    for lines, walls in zip(geometry.axis_lines, geometry.axis_walls):
        full = walls
        for line in lines:
            if occupied & line == line:
                full |= line
        conditions.append(full)
    stable = 0
    while True:
        grown = own
        for condition, ((forward, forward_mask), (backward, backward_mask)) in zip(conditions, geometry.axis_steps):
            grown &= condition | _shifted(stable, forward, forward_mask) | _shifted(stable, backward, backward_mask)
            if not grown:
                return stable
        if grown == stable:
            return stable
        stable = grown


# Weights of the static evaluation (`OthelloState.evaluate`), in units of about a disc
# at the end of the game; the sum is squashed by tanh(score / EVAL_SCALE).
EVAL_CORNER = 25.0
EVAL_X_SQUARE = 12.0      # own X-square next to an empty corner (penalty)
EVAL_C_SQUARE = 4.0       # own C-square next to an empty corner (penalty)
EVAL_MOBILITY = 20.0      # times (own - other) / (own + other + 2) legal placements
EVAL_STABLE = 4.0         # per stable disc
EVAL_DISCS = 80.0         # times the disc difference share, weighted by (filled share) ** 6
EVAL_SCALE = 50.0


class OthelloState(State):
    """An Othello position: ``board`` int8 [size, size]; ``history`` includes passes."""

    __slots__ = ("board", "size", "to_play", "history", "_mask", "_terminal", "_bits", "_moves")

    def __init__(self, size: int, board: np.ndarray, history: tuple[int, ...] = ()):
        self.size = size
        self.board = board
        self.board.flags.writeable = False
        self.history = history
        self.to_play = len(history) & 1
        own, other = _to_bits(board == self.to_play + 1), _to_bits(board == 2 - self.to_play)
        self._bits = (own, other)   # (player to move, other player)
        mask = np.zeros(size * size + 1, dtype=bool)
        mine = placement_bits(own, other, size)
        self._moves = mine
        if mine:
            mask[:-1] = _from_bits(mine, size).reshape(-1)
            self._terminal = False
        elif placement_bits(other, own, size):
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

    def evaluate(self) -> float:
        """A static value in (-1, 1) for the player to move (`alphabeta:D`'s leaf value).

        Mobility (own vs opponent legal placements), corners, X/C squares next to an
        empty corner (a penalty), stable discs (`stable_bits`), and the disc difference
        with a weight that grows towards the end of the game. Symmetric in the two sides:
        the same board with the other player to move scores exactly the negative.
        """
        size = self.size
        geometry = _geometry(size)
        own, other = self._bits
        occupied = own | other
        own_moves = self._moves.bit_count()
        other_moves = placement_bits(other, own, size).bit_count()
        score = EVAL_MOBILITY * (own_moves - other_moves) / (own_moves + other_moves + 2)
        score += EVAL_CORNER * ((own & geometry.corner_bits).bit_count() - (other & geometry.corner_bits).bit_count())
        for corner, x_square, c_squares in geometry.corners:
            if not occupied & corner:
                score -= EVAL_X_SQUARE * ((own & x_square).bit_count() - (other & x_square).bit_count())
                score -= EVAL_C_SQUARE * ((own & c_squares).bit_count() - (other & c_squares).bit_count())
        if occupied & geometry.corner_bits:  # without a corner hardly any disc is stable: skip the work
            score += EVAL_STABLE * (stable_bits(own, occupied, size).bit_count()
                                    - stable_bits(other, occupied, size).bit_count())
        own_discs, other_discs = own.bit_count(), other.bit_count()
        filled = (own_discs + other_discs) / geometry.cells
        score += EVAL_DISCS * filled ** 6 * (own_discs - other_discs) / max(own_discs + other_discs, 1)
        return math.tanh(score / EVAL_SCALE)

    def search_actions(self) -> list[int]:
        """The legal actions, best first, for `alphabeta:D`: corners, then by a static square
        weight (edges high, X- and C-squares next to an empty corner lowest)."""
        if self._terminal:
            return []
        moves = self._moves
        if not moves:
            return [self.size * self.size]  # pass
        geometry = _geometry(self.size)
        weights = geometry.square_weights
        occupied = self._bits[0] | self._bits[1]
        actions = [index for index in range(geometry.cells) if moves >> index & 1]
        adjust = {}
        for corner, x_square, c_squares in geometry.corners:
            if occupied & corner:  # next to a taken corner, X and C squares are ordinary edge/inner squares
                for bits in (x_square, c_squares):
                    while bits:
                        low = bits & -bits
                        adjust[low.bit_length() - 1] = 5
                        bits ^= low
        return sorted(actions, key=lambda action: -adjust.get(action, weights[action]))

    def render(self, color: bool = False) -> str:
        """The board, the side to move's legal placements marked ``*`` (an Othello player must
        see where a disc flips something), the disc counts, and who moves where or must pass."""
        chars = {0: ".", 1: "X", 2: "O"}
        cells = [[chars[int(v)] for v in row] for row in self.board]
        legal = [int(a) for a in np.flatnonzero(self._mask[:-1])]
        for action in legal:
            row, column = divmod(action, self.size)
            cells[row][column] = "*"
        first, second = self.disc_counts()
        board = render_grid(cells, GRID_LETTERS, color, {"X": "31", "O": "34", "*": "32"}, rows_from_top=True)
        counts = f"X (black) {first}, O (white) {second}"
        if self._terminal:
            return f"{board}\n{counts}"
        side = "X" if self.to_play == 0 else "O"
        names = sorted(grid_coordinate(*divmod(a, self.size), self.size, GRID_LETTERS, rows_from_top=True)
                       for a in legal)
        moves = f"{side} to move: {' '.join(names)}" if names else f"{side} has no move and must pass"
        return f"{board}\n{counts} · {moves}"


class Othello(Game):
    """Othello on a ``board_size`` board (even, 4..16; 8 by default, 6 for CPU experiments)."""

    agent_names = ("black_0", "white_0")
    # Two random plies reach only 12 positions (4 placements, then 3): deterministic players
    # replayed the same games, 64 distinct in 100 of issue 26's first arena. Six reach 7,092.
    opening_plies = 6

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
        return grid_coordinate(*divmod(int(action), self.size), self.size, GRID_LETTERS, rows_from_top=True)

    def text_to_action(self, text: str) -> int:
        if text.strip().lower() == "pass":
            return self.pass_action
        row, column = parse_grid_coordinate(text, self.size, GRID_LETTERS, rows_from_top=True)
        return row * self.size + column

    def make_env(self, render_mode: str | None = None):
        from envs.native_env import make_native_env

        return make_native_env(self, render_mode=render_mode)
