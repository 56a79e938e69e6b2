"""Move accuracy against perfect play: every tic-tac-toe position, and Pons' Connect Four sets.

A *chooser* is any function ``choose(states) -> actions`` (one legal action per state):
an agent at some simulation count, a baseline player's ``act_batch``. Positions are
handed to it in batches so an agent answers a whole batch with one network call per
simulation.

- Tic-tac-toe: every reachable non-terminal position (4,520 of them, transpositions
  merged); a move is *optimal* if it keeps the position's game-theoretic value (a won
  position stays won, a drawn one drawn), judged by the perfect-play solver of `envs/`.
- Connect Four: Pascal Pons' six benchmark sets with a perfect-play label for every
  column (shipped in ``selfplay/data/``, see its README). A move is a *mistake* if its
  outcome is strictly worse than the position's best (the AlphaZero.jl metric), and
  *exact-optimal* if its exact score equals the best score (sets with scores only).

The exact expected mistake rates of uniform-random and win/block play are computed from
the labels too, as the baselines every agent figure is read against.
"""
from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from envs.game import Game, State

Chooser = Callable[[Sequence[State]], Sequence[int]]

PONS_SETS: tuple[tuple[str, str], ...] = (
    ("Test_L1_R1", "Beginning-Easy"),
    ("Test_L1_R2", "Beginning-Medium"),
    ("Test_L1_R3", "Beginning-Hard"),
    ("Test_L2_R1", "Middle-Easy"),
    ("Test_L2_R2", "Middle-Medium"),
    ("Test_L3_R1", "End-Easy"),
)
PONS_COLUMNS = 7


@dataclass(frozen=True)
class PonsSet:
    """One labelled Pons set of N positions.

    moves: N tuples of PettingZoo action ids (0-based columns) from the empty board;
    outcomes: float [N, 7] perfect-play outcome of each column for the player to move
    (1 win, 0 draw, -1 loss, NaN for a full column); scores: float [N, 7] exact scores
    (NaN for a full column) or None where the set has none.
    """

    name: str
    title: str
    moves: tuple[tuple[int, ...], ...]
    outcomes: np.ndarray
    scores: np.ndarray | None

    def __len__(self) -> int:
        return len(self.moves)


@dataclass(frozen=True)
class SetAccuracy:
    """A chooser's result on one Pons set: rates over ``positions`` judged moves."""

    name: str
    title: str
    positions: int
    mistake_rate: float
    exact_optimal_rate: float | None  # None where the set has no exact scores
    allows_win: int | None = None      # mistakes that hand the opponent a win in one (`allows_win_in_one`)

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "positions": self.positions,
                "mistake_rate": self.mistake_rate, "exact_optimal_rate": self.exact_optimal_rate,
                "allows_win": self.allows_win}


def _parse_row(field: str) -> np.ndarray:
    values = field.split(",")
    if len(values) != PONS_COLUMNS:
        raise ValueError(f"expected {PONS_COLUMNS} comma-separated labels, got {field!r}")
    return np.array([float(v) if v.strip() else np.nan for v in values])


def load_pons_set(name: str) -> PonsSet:
    """Read ``selfplay/data/<name>.tsv`` (one of PONS_SETS) from the installed package."""
    titles = dict(PONS_SETS)
    if name not in titles:
        raise ValueError(f"unknown Pons set {name!r} (choose from {', '.join(titles)})")
    text = importlib.resources.files("selfplay").joinpath("data", f"{name}.tsv").read_text()
    lines = text.splitlines()
    if not lines or lines[0].split("\t")[:3] != ["moves", "score", "outcomes"]:
        raise ValueError(f"{name}.tsv: unexpected header {lines[:1]}")
    moves, outcomes, scores = [], [], []
    for line in lines[1:]:
        if not line.strip():
            continue
        fields = line.split("\t") + [""] * 4
        moves.append(tuple(int(digit) - 1 for digit in fields[0]))
        outcomes.append(_parse_row(fields[2]))
        scores.append(_parse_row(fields[3]) if fields[3].strip() else None)
    has_scores = all(row is not None for row in scores)
    return PonsSet(
        name=name, title=titles[name], moves=tuple(moves), outcomes=np.array(outcomes),
        scores=np.array(scores) if has_scores else None,
    )


def load_pons_sets() -> list[PonsSet]:
    """All six labelled sets, in the order of PONS_SETS."""
    return [load_pons_set(name) for name, _ in PONS_SETS]


def judge_moves(pons_set: PonsSet, rows: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(mistake bool [n], exact_optimal bool [n] or None) for ``actions`` [n] chosen at ``rows`` [n].

    A move into a full column (unlabelled, so illegal) counts as a mistake and not optimal.
    """
    outcomes = pons_set.outcomes[rows]
    chosen = outcomes[np.arange(len(rows)), actions]
    best = np.nanmax(outcomes, axis=1)
    mistake = ~(chosen >= best)  # NaN (illegal) compares False -> mistake
    exact = None
    if pons_set.scores is not None:
        scores = pons_set.scores[rows]
        exact = scores[np.arange(len(rows)), actions] == np.nanmax(scores, axis=1)
    return mistake, exact


def allows_win_in_one(pons_set: PonsSet, rows: np.ndarray, actions: np.ndarray, game: Game) -> np.ndarray:
    """bool [n]: the move at ``rows`` is a mistake that hands the opponent a win in one (after
    it, the opponent has a column that wins at once): the blunder a search that does not see
    game ends inside its tree makes."""
    mistake, _ = judge_moves(pons_set, rows, actions)
    allows = np.zeros(len(rows), dtype=bool)
    for index in np.flatnonzero(mistake):
        state = game.state_from_actions(pons_set.moves[rows[index]])
        action = int(actions[index])
        if state.legal_mask()[action]:
            after = state.play(action)
            allows[index] = not after.is_terminal() and bool(after.winning_actions())
    return allows


def sample_rows(pons_set: PonsSet, positions: int | None, seed: int) -> np.ndarray:
    """The rows of a set to measure: all of them, or a seeded sample of ``positions`` (sorted)."""
    rows = np.arange(len(pons_set))
    if positions is not None and positions < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=positions, replace=False))
    return rows


def evaluate_pons_set(pons_set: PonsSet, choose: Chooser, game: Game, *, positions: int | None = None,
                      seed: int = 0, batch_size: int = 256) -> SetAccuracy:
    """Mistake (and exact-optimal) rate of ``choose`` over the set, or a seeded subsample of it,
    and how many of its mistakes hand the opponent a win in one."""
    rows = sample_rows(pons_set, positions, seed)
    actions = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        states = [game.state_from_actions(pons_set.moves[row]) for row in batch]
        actions[start:start + len(batch)] = np.asarray(choose(states), dtype=np.int64)
    mistake, exact = judge_moves(pons_set, rows, actions)
    return SetAccuracy(
        name=pons_set.name, title=pons_set.title, positions=len(rows),
        mistake_rate=float(mistake.mean()) if len(rows) else float("nan"),
        exact_optimal_rate=None if exact is None else float(exact.mean()),
        allows_win=int(allows_win_in_one(pons_set, rows, actions, game).sum()),
    )


def expected_random_mistake_rate(pons_set: PonsSet) -> float:
    """Exact expected mistake rate of a uniformly random legal column over the whole set."""
    outcomes = pons_set.outcomes
    legal = np.isfinite(outcomes)
    best = np.nanmax(outcomes, axis=1, keepdims=True)
    mistakes = legal & (np.nan_to_num(outcomes, nan=np.inf) < best)
    return float(np.mean(mistakes.sum(axis=1) / legal.sum(axis=1)))


def expected_random_not_exact_rate(pons_set: PonsSet) -> float | None:
    """Exact expected share of uniformly random legal columns that are not exact-optimal."""
    if pons_set.scores is None:
        return None
    scores = pons_set.scores
    legal = np.isfinite(scores)
    best = np.nanmax(scores, axis=1, keepdims=True)
    optimal = legal & (np.nan_to_num(scores, nan=-np.inf) == best)
    return float(np.mean(1.0 - optimal.sum(axis=1) / legal.sum(axis=1)))


def expected_win_block_mistake_rate(pons_set: PonsSet, game: Game) -> float:
    """Exact expected mistake rate of win/block play: win now, else block the first threat, else random.

    "First threat" is the opponent's lowest-numbered column that would win at once; the
    random fallback is averaged exactly over the legal columns.
    """
    rates = np.empty(len(pons_set))
    for row, moves in enumerate(pons_set.moves):
        state = game.state_from_actions(moves)
        outcomes = pons_set.outcomes[row]
        best = np.nanmax(outcomes)
        wins = state.winning_actions()
        threats = [action for action in (state.threat_actions() or []) if state.legal_mask()[action]]
        if wins:
            candidates = wins  # every immediate win is labelled a win: never a mistake
        elif threats:
            candidates = threats[:1]
        else:
            candidates = state.legal_actions()
        rates[row] = np.mean([outcomes[action] < best for action in candidates])
    return float(rates.mean())


# --- tic-tac-toe -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerfectPlayTable:
    """For P positions: the states and, per position, the value-preserving actions.

    optimal: bool [P, A] (True where the move keeps the position's perfect-play value);
    values: float [P] the perfect-play value for the player to move (1, 0, -1).
    """

    states: tuple[State, ...]
    optimal: np.ndarray
    values: np.ndarray


def tictactoe_perfect_table(game: Game | None = None) -> PerfectPlayTable:
    """Every reachable non-terminal tic-tac-toe position with its optimal moves, from the envs solver.

    ``game`` is optional and only checked (it must be tic-tac-toe). Built once per process
    (the solver walks all 4,520 positions) and shared by every caller.
    """
    if game is not None and game.name != "tictactoe":
        raise ValueError(f"the perfect-play table exists for tictactoe only, not {game.name}")
    return _tictactoe_table()


@functools.lru_cache(maxsize=1)
def _tictactoe_table() -> PerfectPlayTable:
    from envs.tictactoe_solver import game_value, optimal_actions, reachable_positions

    states = reachable_positions()
    optimal = np.zeros((len(states), 9), dtype=bool)
    for row, state in enumerate(states):
        optimal[row, sorted(optimal_actions(state))] = True
    values = np.array([game_value(state) for state in states], dtype=np.float64)
    return PerfectPlayTable(states=tuple(states), optimal=optimal, values=values)


def optimal_move_rate(table: PerfectPlayTable, choose: Chooser, *, batch_size: int = 512) -> float:
    """Share of the table's positions where ``choose`` picks a value-preserving move."""
    hits = 0
    for start in range(0, len(table.states), batch_size):
        batch = table.states[start:start + batch_size]
        actions = np.asarray(choose(batch), dtype=np.int64)
        hits += int(table.optimal[np.arange(start, start + len(batch)), actions].sum())
    return hits / len(table.states)
