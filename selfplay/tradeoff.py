"""The trade between training and search: what a doubling of search is worth in training compute.

Jones (2021, "Scaling Scaling Laws with Board Games") rated Hex agents over a grid of
training compute and test-time search and found that along an iso-Elo curve the two trade
log-linearly. This module holds the pieces of `ponder tradeoff` that decide and compute
(the command itself, its play loop and outputs: `selfplay.tradeoff_cli`; plots and report:
`selfplay.tradeoff_plot`):

* reading a run: every ``checkpoints/step_*.pt`` of one game and one network shape, each
  with its training cost from the checkpoint's ``extra`` (wall-clock, self-play positions,
  learner steps and samples) and the network evaluations those imply (`read_run`);
* choosing at least 8 of them spread over the run's wall-clock (`choose_checkpoints`);
* the design: an agent per (checkpoint, simulations) plus fixed baseline anchors, the
  pairings every agent starts with (its ladder neighbours in search and in training) and
  the candidates the adaptive rounds choose from (`make_design`);
* the adaptive schedule: the next pairings are those whose games would shrink the
  uncertainty of the two players' Elo difference most (`pick_pairs`);
* the fit: Elo = a log2(training) + b log2(search) + c over a window of checkpoints, so one
  doubling of search is worth 2^(b/a)-fold training, with its bootstrap interval
  (`exchange_rate`), and the iso-Elo frontier (`iso_elo_frontier`).

Search compute is network evaluations per move: h once plus one call per simulation
(sims + 1; policy-only is 1), so policy-only sits at log2 = 0 on the same axis.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from envs.errors import UsageError
from selfplay.matches import CheckpointInfo, MatchPlan, PlayerConfig, file_digest, match_key

MIN_CHECKPOINTS = 8
TRAIN_AXES = {   # --train-axis -> (cost field, axis label)
    "seconds": ("seconds", "training wall-clock (s)"),
    "positions": ("positions", "self-play positions"),
    "steps": ("learner_steps", "learner steps"),
    "evals": ("network_evals", "training network evaluations (self-play + learner, estimated)"),
}
SPACINGS = ("log", "linear")


@dataclass(frozen=True)
class TradeoffDefaults:
    """What `ponder tradeoff` plays when the flags leave it open, per game."""

    sims: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64)
    anchors: tuple[str, ...] = ("random", "heuristic", "alphabeta:4", "rollout-mcts:1000")


# tic-tac-toe: a few dozen simulations play it perfectly, and `perfect` is the ceiling
GAME_DEFAULTS = {"tictactoe": TradeoffDefaults(sims=(0, 1, 2, 4, 8, 16), anchors=("random", "heuristic", "perfect"))}


@dataclass(frozen=True)
class RunCheckpoint:
    """One checkpoint of the run: where it is (``info``) and what training had cost by then.

    cost: seconds (training wall-clock, summed over resumes), positions (self-play positions
    added to replay), learner_steps, samples (batch rows trained), games (self-play games),
    selfplay_evals (positions x (training sims + 1), reanalysis included), learner_evals
    (samples x (unroll steps + 1) forward passes; each also costs a backward pass),
    network_evals (their sum). The evaluation counts are estimates from the run's config.
    """

    info: CheckpointInfo
    cost: dict


def _signature(checkpoint) -> tuple:
    """What must be equal across the checkpoints of one run for their agents to be comparable."""
    return (checkpoint.game, json.dumps(checkpoint.game_options, sort_keys=True), tuple(checkpoint.observation_shape),
            checkpoint.num_actions, json.dumps(checkpoint.network_config, sort_keys=True, default=str))


def training_cost(step: int, extra: dict, config: dict) -> dict:
    """The cost fields of `RunCheckpoint` from a checkpoint's step, ``extra`` and run config."""
    from agent.agent import _number_in, _section

    positions = int(_number_in(extra.get("replay_positions_added"), 0, 1e15, 0))
    samples = int(_number_in(extra.get("samples_trained"), 0, 1e15, 0))
    sims = int(_number_in(_section(config, "search").get("num_simulations"), 0, 1e6, 0))
    unroll = int(_number_in(_section(config, "loss").get("unroll_steps"), 0, 1e3, 0))
    reanalyse = _number_in(_section(config, "replay").get("reanalyse_fraction"), 0.0, 1.0, 0.0)
    selfplay_evals = positions * (sims + 1) + samples * reanalyse * (sims + 1)
    learner_evals = samples * (unroll + 1)
    return {"seconds": float(extra["elapsed_seconds"]), "positions": positions, "learner_steps": int(step),
            "samples": samples, "games": int(_number_in(extra.get("games_total"), 0, 1e15, 0)),
            "selfplay_evals": float(selfplay_evals), "learner_evals": float(learner_evals),
            "network_evals": float(selfplay_evals + learner_evals)}


def read_run(run_dir: str | Path) -> tuple[object, list[RunCheckpoint], dict]:
    """(game, every step_*.pt of the run sorted by step, the run config of the last one).

    UsageError (one line) if the folder is missing, holds fewer than `MIN_CHECKPOINTS`
    checkpoints, mixes games or network shapes, or a checkpoint lacks its training record.
    Checkpoints load through `agent.checkpoint.load_checkpoint` (weights only: no code runs).
    """
    from agent.agent import trains_learned_model
    from agent.checkpoint import load_checkpoint
    from envs.registry import get_game

    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise UsageError(f"{run}: no such run folder")
    folder = run / "checkpoints" if (run / "checkpoints").is_dir() else run
    files = [p for p in folder.glob("step_*.pt") if p.stem.split("_", 1)[1].isdigit()]
    if len(files) < MIN_CHECKPOINTS:
        raise UsageError(f"{run} has {len(files)} checkpoints (step_*.pt), the trade-off needs at least "
                         f"{MIN_CHECKPOINTS} spread over training: train with --set trainer.keep_checkpoints=1000 "
                         f"and a checkpoint_minutes that gives {MIN_CHECKPOINTS} or more")
    checkpoints, signature, config = [], None, {}
    for path in sorted(files, key=lambda p: int(p.stem.split("_", 1)[1])):
        checkpoint = load_checkpoint(path)
        mine = _signature(checkpoint)
        if signature is None:
            signature, first = mine, path
        elif mine[:4] != signature[:4]:
            raise UsageError(f"{run}: {first.name} is for {signature[0]} {signature[2]} and {path.name} for "
                             f"{mine[0]} {mine[2]}: one run, one game")
        elif mine != signature:
            raise UsageError(f"{run}: {first.name} and {path.name} have different network shapes "
                             f"(network_config differs): one run, one network")
        if not isinstance(checkpoint.extra.get("elapsed_seconds"), (int, float)):
            raise UsageError(f"{path}: no training record (extra.elapsed_seconds): not a checkpoint of `ponder train`")
        config = checkpoint.config
        info = CheckpointInfo(label=f"step_{checkpoint.step}", path=str(path), step=int(checkpoint.step),
                              digest=file_digest(path),
                              learned_model_trained=trains_learned_model(checkpoint.config, checkpoint.extra))
        checkpoints.append(RunCheckpoint(info, training_cost(checkpoint.step, checkpoint.extra, checkpoint.config)))
        del checkpoint
    game = get_game(signature[0], **json.loads(signature[1]))
    if tuple(game.observation_shape) != signature[2] or game.num_actions != signature[3]:
        raise UsageError(f"{first}: its shapes do not match the game {game.name}")
    if len({c.info.digest for c in checkpoints}) < len(checkpoints):
        raise UsageError(f"{run}: two step_*.pt files are the same checkpoint")
    return game, checkpoints, config


def choose_checkpoints(checkpoints: Sequence[RunCheckpoint], count: int, spacing: str = "log") -> list[RunCheckpoint]:
    """``count`` checkpoints spread over the run's wall-clock: the first, the last, and between
    them the ones nearest to equally spaced times (``log``: equal ratios, so each doubling of
    training gets its share; ``linear``: equal minutes). All of them when there are fewer."""
    ordered = sorted(checkpoints, key=lambda c: (c.cost["seconds"], c.info.step))
    if count >= len(ordered):
        return list(ordered)
    seconds = np.array([max(c.cost["seconds"], 1e-3) for c in ordered])
    if spacing == "log":
        targets, position = np.geomspace(seconds[0], seconds[-1], count), np.log(seconds)
        targets = np.log(targets)
    else:
        targets, position = np.linspace(seconds[0], seconds[-1], count), seconds
    chosen: set[int] = {0, len(ordered) - 1}
    for target in targets[1:-1]:
        free = [i for i in range(len(ordered)) if i not in chosen]
        chosen.add(min(free, key=lambda i: (abs(position[i] - target), i)))
    return [ordered[i] for i in sorted(chosen)]


# --- the design --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """Players and pairings of one trade-off measurement.

    agents: (checkpoint index, sims) -> player; anchors: baseline players (the first is Elo 0);
    seed: pairings every measurement starts with (``games`` each); candidates: every pairing
    the adaptive rounds may add games to (the seed ones included), each with its cache key.
    """

    checkpoints: tuple[RunCheckpoint, ...]
    sims: tuple[int, ...]
    root: str
    agents: dict
    anchors: tuple[PlayerConfig, ...]
    seed: tuple[MatchPlan, ...]
    candidates: tuple[MatchPlan, ...]

    @property
    def players(self) -> tuple[PlayerConfig, ...]:
        return tuple(self.agents[key] for key in sorted(self.agents)) + self.anchors


def agent_name(label: str, sims: int) -> str:
    return f"{label}:{sims}"


def make_design(game, checkpoints: Sequence[RunCheckpoint], sims: Sequence[int], root: str,
                anchors: Sequence[str], games: int, seed: int, chunk: int, opening_plies: int) -> Design:
    """The agents and pairings. Seed pairings: each checkpoint's neighbouring simulation counts,
    each simulation count's neighbouring checkpoints, the anchors' neighbours, and every anchor
    against policy-only and the deepest search of the first and the last checkpoint.
    Candidates add the diagonals (more search against more training: (i, s_j+1) against
    (i+1, s_j)) and every anchor against every agent."""
    agents: dict[tuple[int, int], PlayerConfig] = {}
    for index, checkpoint in enumerate(checkpoints):
        info = checkpoint.info
        for count in sims:
            spec = f"agent:{info.path}:{count}:{root if count else 'puct'}"
            agents[(index, count)] = PlayerConfig(
                name=agent_name(info.label, count), kind="agent", spec=spec, checkpoint=info.label, sims=count,
                root=root if count else "policy", digest=info.digest)
    anchor_players = tuple(PlayerConfig(name=spec, kind="baseline", spec=spec) for spec in anchors)
    last, deepest = len(checkpoints) - 1, sims[-1]

    def plan(a: PlayerConfig, b: PlayerConfig, count: int) -> MatchPlan:
        return MatchPlan(a=a, b=b, games=count, key=match_key(game.name, seed, chunk, a, b, opening_plies))

    seed_pairs: list[tuple[PlayerConfig, PlayerConfig]] = []
    for index in range(len(checkpoints)):
        seed_pairs += [(agents[(index, s)], agents[(index, t)]) for s, t in zip(sims[:-1], sims[1:])]
    for count in sims:
        seed_pairs += [(agents[(i, count)], agents[(i + 1, count)]) for i in range(last)]
    seed_pairs += list(zip(anchor_players[:-1], anchor_players[1:]))
    for anchor in anchor_players:
        for key in dict.fromkeys([(0, 0), (0, deepest), (last, 0), (last, deepest), (0, sims[0]), (last, sims[0])]):
            if key in agents:
                seed_pairs.append((agents[key], anchor))
    extra_pairs = [(agents[(i, t)], agents[(i + 1, s)]) for i in range(last) for s, t in zip(sims[:-1], sims[1:])]
    extra_pairs += [(agent, anchor) for agent in agents.values() for anchor in anchor_players]
    seen: set[frozenset] = set()
    seed_plans, candidates = [], []
    for pairs, count in ((seed_pairs, games), (extra_pairs, 0)):
        for a, b in pairs:
            if frozenset((a.name, b.name)) in seen:
                continue
            seen.add(frozenset((a.name, b.name)))
            match = plan(a, b, count)
            candidates.append(match)
            if count:
                seed_plans.append(match)
    return Design(checkpoints=tuple(checkpoints), sims=tuple(sims), root=root, agents=agents, anchors=anchor_players,
                  seed=tuple(seed_plans), candidates=tuple(candidates))


# --- the adaptive schedule ---------------------------------------------------------------------------

ELO_SCALE = math.log(10.0) / 400.0   # natural-log strength per Elo point


def pick_pairs(table, candidates: Sequence[MatchPlan], size: int, games_per_pick: int) -> list[MatchPlan]:
    """The ``size`` pairings whose next ``games_per_pick`` games would shrink the variance of
    their two players' Elo difference most.

    With V the bootstrap variance of the difference (``table.samples``: wide where the two
    ratings are loosely tied, so where the intervals are widest) and I = n p(1-p) (ln10/400)^2
    the Fisher information of n games at the predicted score p, the expected reduction is
    V - 1 / (1/V + I) = V^2 I / (1 + V I). Pairs never linked (no finite rating) come first.
    Ties go to the earlier candidate, so the schedule is deterministic.
    """
    index = {name: i for i, name in enumerate(table.players)}
    scored = []
    for order, match in enumerate(candidates):
        a, b = index.get(match.a.name), index.get(match.b.name)
        if a is None or b is None or not (np.isfinite(table.elo[a]) and np.isfinite(table.elo[b])):
            scored.append((math.inf, order, match))
            continue
        if table.samples.size:
            difference = table.samples[:, a] - table.samples[:, b]
            difference = difference[np.isfinite(difference)]
            variance = float(np.var(difference)) if difference.size > 1 else math.inf
        else:
            variance = math.inf
        p = 1.0 / (1.0 + 10.0 ** ((table.elo[b] - table.elo[a]) / 400.0))
        information = games_per_pick * p * (1.0 - p) * ELO_SCALE ** 2
        gain = math.inf if math.isinf(variance) else variance ** 2 * information / (1.0 + variance * information)
        scored.append((gain, order, match))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [match for _, _, match in scored[:max(0, size)]]


# --- the fit -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A stretch of training: its name and the indices of its checkpoints."""

    name: str
    indices: tuple[int, ...]


def windows(count: int) -> list[Window]:
    """Early, middle and late training (overlapping runs of consecutive checkpoints, each at
    least 3 and about a third of them plus one), then all checkpoints together."""
    width = min(count, max(3, math.ceil(count / 3) + 1))
    starts = {"early": 0, "middle": (count - width) // 2, "late": count - width}
    return [Window(name, tuple(range(start, start + width))) for name, start in starts.items()] + \
        [Window("all", tuple(range(count)))]


def fit_plane(train: np.ndarray, search: np.ndarray, elo: np.ndarray) -> tuple[float, float, float]:
    """Least squares Elo = a train + b search + c (logs in, finite points only); NaNs if the
    points cannot separate the two slopes."""
    keep = np.isfinite(train) & np.isfinite(search) & np.isfinite(elo)
    if keep.sum() < 3:
        return math.nan, math.nan, math.nan
    design = np.column_stack([train[keep], search[keep], np.ones(int(keep.sum()))])
    if np.linalg.matrix_rank(design) < 3:
        return math.nan, math.nan, math.nan
    (a, b, c), *_ = np.linalg.lstsq(design, elo[keep], rcond=None)
    return float(a), float(b), float(c)


def _ratio(a: float, b: float) -> float:
    """Doublings of training one doubling of search is worth: b / a; +-inf where training buys
    nothing (a <= 0) and search does (or loses); NaN where neither can be told."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.nan
    if a > 0:
        return b / a
    return math.inf if b > 0 else (-math.inf if b < 0 else math.nan)


def _fold_of(doublings: float) -> float:
    """2^doublings: +inf past float range (and for +inf), 0 for -inf, NaN stays NaN."""
    if math.isnan(doublings):
        return doublings
    return math.inf if doublings > 1000 else 2.0 ** max(doublings, -1100.0)


def _interval(values: np.ndarray) -> tuple[float, float]:
    """2.5 / 97.5 percentiles without interpolating across infinities; NaN if no value."""
    values = np.sort(values[~np.isnan(values)])
    if values.size == 0:
        return math.nan, math.nan
    low = values[int(math.floor(0.025 * (values.size - 1)))]
    high = values[int(math.ceil(0.975 * (values.size - 1)))]
    return float(low), float(high)


def exchange_rate(train: np.ndarray, search: np.ndarray, elo: np.ndarray, samples: np.ndarray) -> dict:
    """The plane fit over one window's agents and what it says, with bootstrap intervals.

    ``train``, ``search``: log2 training compute and log2 network evaluations per move of each
    agent; ``elo`` [N] their ratings; ``samples`` [R, N] bootstrap replicates of the ratings
    (the same replicates for every agent, so a shift common to all cancels). Returns Elo per
    doubling of training (a) and of search (b), doublings of training per doubling of search
    (b / a) and the fold (2^(b/a)), each as value / low / high (None where infinite or
    undefined; ``unbounded`` maps the infinite ones to their sign, "+" or "-").
    """
    a, b, _ = fit_plane(train, search, elo)
    replicates = np.array([fit_plane(train, search, row)[:2] for row in samples]) if len(samples) else np.zeros((0, 2))
    ratios = np.array([_ratio(ra, rb) for ra, rb in replicates]) if len(replicates) else np.zeros(0)

    def estimate(value: float, values: np.ndarray, fold: bool = False) -> dict:
        low, high = _interval(values) if values.size else (math.nan, math.nan)
        numbers = [value, low, high]
        if fold:
            numbers = [_fold_of(v) for v in numbers]

        def clean(v: float) -> float | None:
            return round(float(v), 4 if fold else 2) if math.isfinite(v) else None

        out = {"value": clean(numbers[0]), "low": clean(numbers[1]), "high": clean(numbers[2])}
        out["unbounded"] = {name: "+" if v > 0 else "-" for name, v in zip(("value", "low", "high"), numbers)
                            if math.isinf(v)}
        return out

    ratio = _ratio(a, b)
    return {
        "elo_per_doubling_train": estimate(a, replicates[:, 0] if len(replicates) else np.zeros(0)),
        "elo_per_doubling_search": estimate(b, replicates[:, 1] if len(replicates) else np.zeros(0)),
        "train_doublings_per_search_doubling": estimate(ratio, ratios),
        "train_fold_per_search_doubling": estimate(ratio, ratios, fold=True),
        "agents": int(np.isfinite(elo).sum()),
    }


def iso_elo_frontier(train: Sequence[float], curves: dict[int, Sequence[float]], levels: Sequence[float]) -> list[dict]:
    """Where each simulation count's Elo-against-training curve first reaches each Elo level.

    ``train``: the checkpoints' training compute (increasing); ``curves``: sims -> Elo at each
    checkpoint. A curve is made monotone by its running maximum and interpolated linearly
    in log2 training compute between the two checkpoints that straddle the level. Returns one
    entry per level: {"elo", "points": [{"sims", "train"}]}, only where the level is crossed
    inside the run (a curve that starts above it, or never reaches it, gives no point).
    """
    log_train = np.log2(np.maximum(np.asarray(train, dtype=float), 1e-12))
    frontier = []
    for level in levels:
        points = []
        for count, values in curves.items():
            best = np.maximum.accumulate(np.where(np.isfinite(values), values, -np.inf))
            above = np.flatnonzero(best >= level)
            if above.size == 0 or above[0] == 0:
                continue
            i = int(above[0])
            low, high = best[i - 1], best[i]
            share = 1.0 if high == low or not np.isfinite(low) else (level - low) / (high - low)
            points.append({"sims": int(count),
                           "train": float(2.0 ** (log_train[i - 1] + share * (log_train[i] - log_train[i - 1])))})
        frontier.append({"elo": round(float(level), 1), "points": points})
    return frontier


def frontier_levels(elo: np.ndarray, count: int = 5) -> list[float]:
    """``count`` Elo levels evenly inside the range the agents span (ends left out)."""
    finite = elo[np.isfinite(elo)]
    if finite.size < 2 or np.ptp(finite) == 0:
        return []
    return [float(v) for v in np.linspace(finite.min(), finite.max(), count + 2)[1:-1]]
