"""Connect Four as a native bitboard state, with the action ids of PettingZoo `connect_four_v3`.

The board is 6 rows x 7 columns; the action is the column (0-6). Each player's stones are
one Python int with bit ``column * 7 + height`` (height 0 = bottom row; bit 6 of each
column stays empty as a sentinel so that shifts never wrap), which makes a win test four
shifts and ands. PettingZoo's observation is the board with row 0 at the top; ``planes()``
is that observation transposed to [2, 6, 7] (plane 0: the player to move).
"""
from __future__ import annotations

from typing import Hashable

import numpy as np

from envs.errors import UsageError
from envs.game import DecidedState, Game, filling_ends

ROWS, COLUMNS = 6, 7
# BIT_INDEX[r, c]: the bit of the cell drawn at row r (0 = top) and column c.
BIT_INDEX = np.array([[c * 7 + (ROWS - 1 - r) for c in range(COLUMNS)] for r in range(ROWS)], dtype=np.int64)
TOP_BITS = tuple(1 << (c * 7 + ROWS - 1) for c in range(COLUMNS))
BOTTOM_BITS = tuple(1 << (c * 7) for c in range(COLUMNS))



def _windows() -> tuple[int, ...]:
    windows = []
    for column in range(COLUMNS):
        for height in range(ROWS):
            for d_column, d_height in ((1, 0), (0, 1), (1, 1), (1, -1)):
                cells = [(column + k * d_column, height + k * d_height) for k in range(4)]
                if all(0 <= c < COLUMNS and 0 <= h < ROWS for c, h in cells):
                    windows.append(sum(1 << (c * 7 + h) for c, h in cells))
    return tuple(windows)


WINDOWS = _windows()  # the 69 lines of four cells, as bitmasks
WINDOW_WEIGHTS = (0.0, 0.2, 1.0, 4.0, 0.0)  # by stones of one colour in an otherwise empty window


def has_four(bits: int) -> bool:
    """True if the bitboard holds four in a row in any direction."""
    for shift in (1, 7, 6, 8):
        pairs = bits & (bits >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


class ConnectFourState(DecidedState):
    """A Connect Four position: ``stones[p]`` is player ``p``'s bitboard, ``heights[c]`` the fill."""

    __slots__ = ("stones", "heights", "to_play", "history", "_winner", "_terminal")

    def __init__(self, stones: tuple[int, int] = (0, 0), heights: tuple[int, ...] = (0,) * COLUMNS,
                 history: tuple[int, ...] = ()):
        self.stones = stones
        self.heights = heights
        self.history = history
        self.to_play = len(history) & 1
        last = 1 - self.to_play
        if history and has_four(stones[last]):
            self._winner, self._terminal = last, True
        else:
            self._winner, self._terminal = None, len(history) == ROWS * COLUMNS

    def legal_mask(self) -> np.ndarray:
        if self._terminal:
            return np.zeros(COLUMNS, dtype=bool)
        return np.array([height < ROWS for height in self.heights], dtype=bool)

    def open_mask(self) -> np.ndarray:
        """bool [7]: the columns with room, even once the game is over (PettingZoo's env mask)."""
        return np.array([height < ROWS for height in self.heights], dtype=bool)

    def planes(self) -> np.ndarray:
        return self.planes_for(self.to_play)

    def planes_for(self, player: int) -> np.ndarray:
        """float32 [2, 6, 7]: plane 0 the stones of ``player``, plane 1 the other's; row 0 on top."""
        own = (np.int64(self.stones[player]) >> BIT_INDEX) & 1
        other = (np.int64(self.stones[1 - player]) >> BIT_INDEX) & 1
        return np.stack([own, other]).astype(np.float32)

    def play(self, action: int) -> "ConnectFourState":
        action = int(action)
        if self._terminal or not 0 <= action < COLUMNS or self.heights[action] >= ROWS:
            raise ValueError(f"illegal Connect Four move {action} after {list(self.history)}")
        bit = 1 << (action * 7 + self.heights[action])
        stones = (self.stones[0] | bit, self.stones[1]) if self.to_play == 0 else (self.stones[0], self.stones[1] | bit)
        heights = self.heights[:action] + (self.heights[action] + 1,) + self.heights[action + 1:]
        return ConnectFourState(stones, heights, self.history + (action,))

    def _wins_for(self, player: int) -> list[int]:
        if self._terminal:
            return []
        return [column for column in range(COLUMNS) if self.heights[column] < ROWS
                and has_four(self.stones[player] | 1 << (column * 7 + self.heights[column]))]

    def winning_actions(self) -> list[int]:
        return self._wins_for(self.to_play)

    def action_ends(self) -> np.ndarray:
        return filling_ends(self.legal_mask(), self.winning_actions(), len(self.history) == ROWS * COLUMNS - 1)

    def threat_actions(self) -> list[int]:
        return self._wins_for(1 - self.to_play)

    def rollout_winner(self, rng) -> int | None:
        """Play uniformly random moves to the end on plain ints; the winner (None: draw).

        ``rng`` is a ``random.Random``. This is the inner loop of `rollout-mcts`, so it
        avoids State objects and numpy entirely.
        """
        if self._terminal:
            return self._winner
        stones = [self.stones[0], self.stones[1]]
        heights = list(self.heights)
        open_columns = [column for column in range(COLUMNS) if heights[column] < ROWS]
        player = self.to_play
        plies = len(self.history)
        random = rng.random
        while True:
            column = open_columns[int(random() * len(open_columns))]
            bits = stones[player] | 1 << (column * 7 + heights[column])
            stones[player] = bits
            heights[column] += 1
            if heights[column] == ROWS:
                open_columns.remove(column)
            pairs = bits & (bits >> 7)
            if pairs & (pairs >> 14):
                return player
            pairs = bits & (bits >> 1)
            if pairs & (pairs >> 2):
                return player
            pairs = bits & (bits >> 6)
            if pairs & (pairs >> 12):
                return player
            pairs = bits & (bits >> 8)
            if pairs & (pairs >> 16):
                return player
            plies += 1
            if plies == ROWS * COLUMNS:
                return None
            player ^= 1

    def evaluate(self) -> float:
        """A cheap static value in (-1, 1) for the player to move: open windows of 2 and 3."""
        own, other = self.stones[self.to_play], self.stones[1 - self.to_play]
        score = 0.0
        for window in WINDOWS:
            mine, theirs = (own & window).bit_count(), (other & window).bit_count()
            if theirs == 0 and mine:
                score += WINDOW_WEIGHTS[mine]
            elif mine == 0 and theirs:
                score -= WINDOW_WEIGHTS[theirs]
        return float(np.tanh(score / 20.0))

    def key(self) -> Hashable:
        return self.stones

    def render(self, color: bool = False) -> str:
        marks = ("X", "O")
        colours = ("31", "33")
        lines = [" " + " ".join(str(c + 1) for c in range(COLUMNS))]
        for row in range(ROWS):
            cells = []
            for column in range(COLUMNS):
                bit = 1 << int(BIT_INDEX[row, column])
                char = "."
                for player in (0, 1):
                    if self.stones[player] & bit:
                        char = marks[player]
                        if color:
                            char = f"\x1b[{colours[player]}m{char}\x1b[0m"
                cells.append(char)
            lines.append("|" + "|".join(cells) + "|")
        lines.append(" " + " ".join(str(c + 1) for c in range(COLUMNS)))
        return "\n".join(lines)


class ConnectFour(Game):
    """Connect Four with the ids, observations and rewards of PettingZoo `connect_four_v3`."""

    agent_names = ("player_0", "player_1")

    def __init__(self) -> None:
        self.name = "connect_four"
        self.options = {}
        self.num_actions = COLUMNS
        self.observation_shape = (2, ROWS, COLUMNS)
        self.board_shape = (ROWS, COLUMNS)

    def initial_state(self) -> ConnectFourState:
        return ConnectFourState()

    def action_to_text(self, action: int) -> str:
        if not 0 <= action < COLUMNS:
            raise UsageError(f"{action} is not a Connect Four column (0-6)")
        return str(int(action) + 1)

    def text_to_action(self, text: str) -> int:
        cleaned = text.strip()
        if not cleaned.isdigit() or not 1 <= int(cleaned) <= COLUMNS:
            raise UsageError(f"{text!r} is not a Connect Four column (1-7)")
        return int(cleaned) - 1

    def make_env(self, render_mode: str | None = None):
        from envs.native_env import make_native_env

        return make_native_env(self, render_mode=render_mode)
