"""The game adapter contract: `Game` (a game and its options) and `State` (one position).

Every other package sees games only through these two types, so a search, an agent or an
arena never touches a PettingZoo env directly:

- ``State`` is immutable: ``play(action)`` returns a new state, which is the cheap clone
  that lookahead players need. It knows the player to move (``to_play``: 0 or 1, the index
  in the env's ``possible_agents``), the legal mask (bool ``[A]``), the observation planes
  from the view of the player to move (float32 ``[C, H, W]``), whether the game is over,
  the outcome for the player to move (-1, 0 or 1) and the winner, and a hashable ``key``
  that is equal for equal positions.
- ``Game`` is one game with one option set. It is immutable and pickles as its name and
  options, so passing it to another process costs nothing. Action ids are always the
  PettingZoo env's own ids; ``action_to_text``/``text_to_action`` give natural coordinates
  ("4" for a Connect Four column, "d4" on a grid, "pass").

`tictactoe`, `connect_four`, `gomoku` and `othello` have native states (small ints or
numpy boards); any other registered env gets the generic adapter of `envs/generic.py`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Hashable, Sequence

import numpy as np

from envs.errors import UsageError


class State(ABC):
    """One position of a game; immutable (``play`` returns a new state)."""

    to_play: int
    history: tuple[int, ...]

    @abstractmethod
    def legal_mask(self) -> np.ndarray:
        """bool ``[A]``: True where the action is legal (all False once terminal)."""

    @abstractmethod
    def planes(self) -> np.ndarray:
        """float32 ``[C, H, W]``: the observation from the view of the player to move."""

    @abstractmethod
    def is_terminal(self) -> bool:
        """True once the game is over."""

    @abstractmethod
    def winner(self) -> int | None:
        """Terminal only: 0 or 1 (index of the winner), None for a draw."""

    @abstractmethod
    def play(self, action: int) -> "State":
        """The state after ``action``; ValueError if it is illegal or the game is over."""

    @abstractmethod
    def key(self) -> Hashable:
        """A hashable key, equal for equal positions (transpositions included)."""

    @abstractmethod
    def render(self, color: bool = False) -> str:
        """The board as text with coordinates; ``color`` adds ANSI colours."""

    def outcome(self) -> float:
        """Terminal only: -1, 0 or 1 from the view of the player to move."""
        if not self.is_terminal():
            raise ValueError("outcome() of a game that is not over")
        winner = self.winner()
        if winner is None:
            return 0.0
        return 1.0 if winner == self.to_play else -1.0

    def winning_actions(self) -> list[int]:
        """Legal actions that win at once for the player to move (games may override faster)."""
        if self.is_terminal():
            return []
        wins = []
        for action in self.legal_actions():
            after = self.play(action)
            if after.is_terminal() and after.winner() == self.to_play:
                wins.append(action)
        return wins

    def action_ends(self) -> np.ndarray:
        """int8 ``[A]``: what each action does to the game, for the player to move: `END_NONE`
        (the game goes on, or the action is illegal), `END_WIN`, `END_DRAW` or `END_LOSS`.

        These are the dense labels of the learned model's game-end head (every action of
        every stored position, not only the one played). This default plays each legal
        action; games that can tell faster override it.
        """
        ends = np.zeros(len(self.legal_mask()), dtype=np.int8)
        for action in self.legal_actions():
            after = self.play(action)
            ends[action] = end_code(mover_reward(after, self.to_play), after.is_terminal())
        return ends

    def threat_actions(self) -> list[int] | None:
        """Legal actions with which the opponent would win at once were it their move.

        Games that can tell cheaply override this (it is what "block" means for the
        heuristic player); None means the game cannot, and callers fall back to lookahead.
        """
        return None

    def legal_actions(self) -> list[int]:
        """The legal action ids in increasing order (a convenience over ``legal_mask``)."""
        return np.flatnonzero(self.legal_mask()).tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(history={list(self.history)})"


# What an action does to the game, from the view of the player who takes it (`State.action_ends`).
END_NONE, END_WIN, END_DRAW, END_LOSS = 0, 1, 2, 3
END_CLASSES = 4
# the mover's reward of each code: a game end's result, 0 for END_NONE
END_REWARDS = np.array([0.0, 1.0, 0.0, -1.0], dtype=np.float32)


def end_code(reward: float, terminal: bool) -> int:
    """The `END_*` code of a transition from its reward to the mover and whether it ended the game."""
    if not terminal:
        return END_NONE
    return END_WIN if reward > 0 else (END_LOSS if reward < 0 else END_DRAW)


def mover_reward(state_after: State, mover: int) -> float:
    """Reward of the move that led to ``state_after``, from the view of the player who made it:
    1 for the winning move, -1 for a move that lost on the spot, 0 otherwise (draws too)."""
    if not state_after.is_terminal():
        return 0.0
    winner = state_after.winner()
    if winner is None:
        return 0.0
    return 1.0 if winner == mover else -1.0


def filling_ends(legal: np.ndarray, wins: Sequence[int], last_cell: bool) -> np.ndarray:
    """`State.action_ends` of a game that ends only by a win of the mover or a full board
    (tic-tac-toe, Connect Four): ``wins`` the winning actions, ``last_cell`` whether one
    empty cell is left (so any other legal move fills the board: a draw)."""
    ends = np.where(legal, END_DRAW if last_cell else END_NONE, END_NONE).astype(np.int8)
    ends[list(wins)] = END_WIN
    return ends


class DecidedState(State):
    """A State that decides its result when it is built: ``_terminal`` and ``_winner`` set by
    the subclass's constructor, so ``is_terminal`` and ``winner`` are one lookup each."""

    _terminal: bool
    _winner: int | None

    def is_terminal(self) -> bool:
        return self._terminal

    def winner(self) -> int | None:
        if not self._terminal:
            raise ValueError("winner() of a game that is not over")
        return self._winner


class Game(ABC):
    """One game with one option set: sizes, the initial state, coordinates, the env.

    Subclasses set ``name``, ``options``, ``num_actions``, ``observation_shape`` (C, H, W)
    and ``board_shape`` (H, W) in ``__init__``; instances are never mutated afterwards.
    """

    name: str
    options: dict
    num_actions: int
    observation_shape: tuple[int, int, int]
    board_shape: tuple[int, int]
    # Random plies that start each pair of evaluation games (`selfplay.openings`): enough
    # that deterministic players meet in many different games, few enough to stay near a
    # real opening. A game whose every short opening is lopsided can lower it.
    opening_plies: int = 2

    @abstractmethod
    def initial_state(self) -> State:
        """The position before the first move."""

    @abstractmethod
    def action_to_text(self, action: int) -> str:
        """Natural coordinates of an action id: "4", "d4", "pass"."""

    @abstractmethod
    def text_to_action(self, text: str) -> int:
        """The action id of natural coordinates; UsageError if garbled or off the board."""

    @abstractmethod
    def make_env(self, render_mode: str | None = None):
        """A fresh PettingZoo AEC env of this game (reset already called)."""

    def state_from_actions(self, actions: Sequence[int]) -> State:
        """The state after playing ``actions`` from the start; UsageError if one is illegal."""
        state = self.initial_state()
        for ply, action in enumerate(actions):
            try:
                action = int(action)
            except (TypeError, ValueError):
                raise UsageError(f"move {ply + 1}: {action!r} is not an action id") from None
            if state.is_terminal():
                raise UsageError(f"move {ply + 1}: the game is already over")
            if not 0 <= action < self.num_actions or not state.legal_mask()[action]:
                raise UsageError(f"move {ply + 1}: action {action} is illegal here")
            state = state.play(action)
        return state


    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Game({self.name}{', ' + opts if opts else ''})"


def parse_grid_coordinate(text: str, size: int, columns: str, rows_from_top: bool = False) -> tuple[int, int]:
    """Parse "d4" on a ``size`` x ``size`` grid -> (row from the top, column); UsageError if bad.

    ``columns`` is the letter alphabet (Go skips "i"); row 1 is the bottom row, or the top one
    with ``rows_from_top`` (Othello's own notation, where black opens with d3, c4, f5 or e6).
    """
    cleaned = text.strip().lower()
    if len(cleaned) < 2 or cleaned[0] not in columns[:size] or not cleaned[1:].isdigit():
        raise UsageError(f"{text!r} is not a move here (expected e.g. {columns[0]}1 .. {columns[size - 1]}{size})")
    number = int(cleaned[1:])
    if not 1 <= number <= size:
        raise UsageError(f"{text!r} is off the board (rows 1..{size})")
    return (number - 1 if rows_from_top else size - number), columns.index(cleaned[0])


def grid_coordinate(row: int, column: int, size: int, columns: str, rows_from_top: bool = False) -> str:
    """The "d4" text of (row from the top, column) on a ``size`` grid (row 1 at the bottom, or
    at the top with ``rows_from_top``)."""
    return f"{columns[column]}{row + 1 if rows_from_top else size - row}"


GRID_LETTERS = "abcdefghijklmnopqrstuvwxyz"
GO_LETTERS = "abcdefghjklmnopqrstuvwxyz"  # Go coordinates skip "i"


def render_grid(cells: Sequence[Sequence[str]], columns: str, color: bool = False,
                marks: dict[str, str] | None = None, rows_from_top: bool = False) -> str:
    """Text board: rows numbered from the bottom (from the top with ``rows_from_top``),
    lettered columns, one cell character each.

    ``cells[row][column]`` is a one-character string, row 0 at the top. ``marks`` maps a
    cell character to an ANSI colour code used when ``color`` is True.
    """
    size_rows, size_cols = len(cells), len(cells[0])
    width = len(str(size_rows))
    header = " " * (width + 1) + " ".join(columns[c] for c in range(size_cols))
    lines = [header]
    for row in range(size_rows):
        label = str(row + 1 if rows_from_top else size_rows - row).rjust(width)
        drawn = []
        for char in cells[row]:
            if color and marks and char in marks:
                drawn.append(f"\x1b[{marks[char]}m{char}\x1b[0m")
            else:
                drawn.append(char)
        lines.append(f"{label} " + " ".join(drawn) + f" {label}")
    lines.append(header)
    return "\n".join(lines)
