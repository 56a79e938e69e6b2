"""Elo ratings from game results: Bradley-Terry maximum likelihood with bootstrap intervals.

Every game between two named players is one observation; a win scores 1, a draw 1/2, a
loss 0. The model is ``P(a beats b) = 1 / (1 + 10 ** ((elo_b - elo_a) / 400))``; ratings
are the maximum-likelihood fit over *all* games at once (so a player's Elo uses games it
never played directly, through common opponents), anchored at one player (``random`` = 0).

A player that wins (or loses) every game has an infinite maximum-likelihood rating. To
keep every rating finite and honest about how little such a record says, each pairing
that was played gets ``prior_draws`` virtual drawn games (default 1). With 40 wins out
of 40 that caps the gap at ``400 * log10(40.5 / 0.5)`` = 763 Elo; more games push it
further. The report states this prior.

95% intervals come from a bootstrap over games: each replicate resamples the games of
every pairing with replacement (the match design stays fixed), refits, and the interval
is the 2.5 / 97.5 percentiles of each player's rating over replicates. The Elo gained
per doubling of simulations is the least-squares slope of Elo against log2(sims) along
a ladder, with its interval from the same replicates.

Pure numpy; no game or torch imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

ELO_PER_NAT = 400.0 / np.log(10.0)


@dataclass(frozen=True)
class GameResult:
    """One finished game: ``score_a`` is 1 if ``player_a`` won, 0.5 for a draw, 0 if it lost."""

    player_a: str
    player_b: str
    score_a: float


@dataclass(frozen=True)
class EloTable:
    """Fitted ratings of P players.

    players: names [P]; elo, low, high: float [P] (Elo, 95% interval; NaN for a player
    with no chain of games to the anchor); games, score: float [P] (games played, points
    scored); samples: float [R, P] bootstrap replicates of the ratings (R may be 0).
    """

    players: tuple[str, ...]
    elo: np.ndarray
    low: np.ndarray
    high: np.ndarray
    games: np.ndarray
    score: np.ndarray
    samples: np.ndarray
    anchor: str
    prior_draws: float

    def index(self, name: str) -> int:
        return self.players.index(name)

    def as_dict(self) -> dict:
        """JSON-ready: one entry per player (NaN becomes None)."""

        def number(value: float) -> float | None:
            return None if not np.isfinite(value) else round(float(value), 1)

        return {
            "anchor": self.anchor,
            "prior_draws": self.prior_draws,
            "bootstrap_replicates": int(self.samples.shape[0]),
            "players": {
                name: {
                    "elo": number(self.elo[i]),
                    "low": number(self.low[i]),
                    "high": number(self.high[i]),
                    "games": int(self.games[i]),
                    "score": float(self.score[i]),
                }
                for i, name in enumerate(self.players)
            },
        }


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% bootstrap interval (NaN where it cannot be computed)."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        def number(value: float) -> float | None:
            return None if not np.isfinite(value) else round(float(value), 1)

        return {"value": number(self.value), "low": number(self.low), "high": number(self.high)}


def _pair_tables(index_a: np.ndarray, index_b: np.ndarray, score_a: np.ndarray, weight: np.ndarray,
                 num_players: int) -> tuple[np.ndarray, np.ndarray]:
    """(points [P, P]: points i scored against j, games [P, P]: symmetric game counts)."""
    points = np.zeros((num_players, num_players))
    games = np.zeros((num_players, num_players))
    np.add.at(points, (index_a, index_b), weight * score_a)
    np.add.at(points, (index_b, index_a), weight * (1.0 - score_a))
    np.add.at(games, (index_a, index_b), weight)
    np.add.at(games, (index_b, index_a), weight)
    return points, games


def _connected_to(anchor: int, games: np.ndarray) -> np.ndarray:
    """bool [P]: players linked to ``anchor`` by a chain of played pairings."""
    reached = np.zeros(games.shape[0], dtype=bool)
    reached[anchor] = True
    frontier = [anchor]
    while frontier:
        player = frontier.pop()
        for other in np.flatnonzero((games[player] > 0) & ~reached):
            reached[other] = True
            frontier.append(int(other))
    return reached


def fit_bradley_terry(points: np.ndarray, games: np.ndarray, anchor: int,
                      prior_draws: float = 1.0, iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood Elo [P] from pairwise tables, anchored at ``anchor`` = 0.

    points [P, P]: points i scored against j (draws as half); games [P, P]: symmetric
    counts. Each played pair gets ``prior_draws`` virtual draws. Newton's method on the
    concave log-likelihood with step halving; players not connected to the anchor: NaN.
    """
    num_players = games.shape[0]
    played = games > 0
    points = points + 0.5 * prior_draws * played
    games = games + prior_draws * played
    linked = _connected_to(anchor, games)
    free = np.flatnonzero(linked & (np.arange(num_players) != anchor))
    strength = np.zeros(num_players)  # natural-log units

    def log_likelihood(values: np.ndarray) -> float:
        gap = values[:, None] - values[None, :]
        return float(np.sum(points * -np.logaddexp(0.0, -gap)))

    current = log_likelihood(strength)
    for _ in range(iterations):
        gap = strength[:, None] - strength[None, :]
        win_probability = 1.0 / (1.0 + np.exp(-gap))
        gradient = np.sum(points - games * win_probability, axis=1)
        curvature = games * win_probability * (1.0 - win_probability)
        hessian = curvature - np.diag(curvature.sum(axis=1))  # negative semi-definite
        if free.size == 0:
            break
        step_free = np.linalg.solve(-hessian[np.ix_(free, free)], gradient[free])
        step = np.zeros(num_players)
        step[free] = step_free
        scale = 1.0
        while scale > 1e-6:
            candidate = strength + scale * step
            value = log_likelihood(candidate)
            if value >= current - 1e-12:
                break
            scale *= 0.5
        strength, improvement, current = candidate, value - current, value
        if np.max(np.abs(scale * step_free)) < 1e-9 or abs(improvement) < 1e-12:
            break
    elo = strength * ELO_PER_NAT
    elo[~linked] = np.nan
    return elo


def rate_players(results: Iterable[GameResult], anchor: str = "random", *, players: Sequence[str] | None = None,
                 bootstrap: int = 500, seed: int = 0, prior_draws: float = 1.0) -> EloTable:
    """Fit every player's Elo from all games, anchored at ``anchor`` = 0, with bootstrap intervals.

    ``players`` fixes the order of the table (default: order of first appearance); the
    anchor must be among the players. ``bootstrap`` = 0 skips the intervals (they are NaN).
    """
    results = list(results)
    names: list[str] = list(players) if players is not None else []
    for result in results:
        for name in (result.player_a, result.player_b):
            if name not in names:
                names.append(name)
    if anchor not in names:
        raise ValueError(f"anchor {anchor!r} played no games")
    position = {name: i for i, name in enumerate(names)}
    index_a = np.array([position[r.player_a] for r in results], dtype=np.int64)
    index_b = np.array([position[r.player_b] for r in results], dtype=np.int64)
    score_a = np.array([r.score_a for r in results], dtype=np.float64)
    ones = np.ones(len(results))
    num_players = len(names)
    anchor_index = position[anchor]
    points, games = _pair_tables(index_a, index_b, score_a, ones, num_players)
    elo = fit_bradley_terry(points, games, anchor_index, prior_draws)

    # Bootstrap: resample the games of each unordered pairing with replacement.
    pair_key = np.minimum(index_a, index_b) * num_players + np.maximum(index_a, index_b)
    groups = [np.flatnonzero(pair_key == key) for key in np.unique(pair_key)]
    rng = np.random.default_rng(seed)
    samples = np.empty((bootstrap, num_players))
    for replicate in range(bootstrap):
        weight = np.zeros(len(results))
        for members in groups:
            np.add.at(weight, rng.choice(members, size=members.size, replace=True), 1.0)
        points_r, games_r = _pair_tables(index_a, index_b, score_a, weight, num_players)
        samples[replicate] = fit_bradley_terry(points_r, games_r, anchor_index, prior_draws)
    low, high = np.full(num_players, np.nan), np.full(num_players, np.nan)
    for player in np.flatnonzero(np.isfinite(elo)):
        finite = samples[:, player][np.isfinite(samples[:, player])]
        if finite.size:
            low[player], high[player] = np.percentile(finite, [2.5, 97.5])
    return EloTable(
        players=tuple(names), elo=elo, low=low, high=high,
        games=games.sum(axis=1), score=points.sum(axis=1), samples=samples,
        anchor=anchor, prior_draws=prior_draws,
    )


def _slope(log_sims: np.ndarray, values: np.ndarray) -> float:
    keep = np.isfinite(values)
    if keep.sum() < 2 or np.ptp(log_sims[keep]) == 0:
        return float("nan")
    centred = log_sims[keep] - log_sims[keep].mean()
    return float(np.sum(centred * (values[keep] - values[keep].mean())) / np.sum(centred ** 2))


def elo_per_doubling(table: EloTable, ladder: Sequence[tuple[int, str]]) -> Estimate:
    """Elo gained per doubling of simulations along one ladder, with its 95% interval.

    ``ladder``: (simulation count, player name) pairs of one network and root method.
    Counts below 1 (policy-only) are left out: they have no place on a log axis. The
    estimate is the least-squares slope of Elo against log2(sims), refitted on every
    bootstrap replicate for the interval.
    """
    rungs = [(sims, name) for sims, name in ladder if sims >= 1 and name in table.players]
    if len(rungs) < 2:
        return Estimate(float("nan"), float("nan"), float("nan"))
    log_sims = np.log2([sims for sims, _ in rungs]).astype(np.float64)
    columns = [table.index(name) for _, name in rungs]
    value = _slope(log_sims, table.elo[columns])
    replicate_slopes = np.array([_slope(log_sims, row[columns]) for row in table.samples])
    replicate_slopes = replicate_slopes[np.isfinite(replicate_slopes)]
    if replicate_slopes.size == 0:
        return Estimate(value, float("nan"), float("nan"))
    low, high = np.percentile(replicate_slopes, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


def elo_difference(table: EloTable, first: str, second: str) -> Estimate:
    """Elo of ``first`` minus that of ``second``, with the 95% interval of the difference over
    the bootstrap replicates (not the difference of the two intervals: the two ratings move
    together when they share games)."""
    if first not in table.players or second not in table.players:
        return Estimate(float("nan"), float("nan"), float("nan"))
    a, b = table.index(first), table.index(second)
    value = float(table.elo[a] - table.elo[b])
    replicates = table.samples[:, a] - table.samples[:, b] if table.samples.size else np.zeros(0)
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size == 0:
        return Estimate(value, float("nan"), float("nan"))
    low, high = np.percentile(replicates, [2.5, 97.5])
    return Estimate(value, float(low), float(high))
