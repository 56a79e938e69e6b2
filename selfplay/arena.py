"""`ponder arena`: a seeded match between two players, games in lock-step batches over the cores.

Games are cut into fixed chunks (``batch_size`` games each); a chunk is played in one
process with every game advancing together, so each side makes one ``act_batch`` call per
round for all games where it is to move (one network call per simulation for an agent).
Games come in pairs that start from the same seeded random opening (`selfplay.openings`):
A moves first from it in the even game and second in the odd one. Each chunk seeds its
players from (seed, chunk index), so a match is reproducible whatever the number of workers.

``play_match`` (returns every game's record and the summary) and ``play_games`` (one
chunk in this process, with player objects) are the Python API the ablation reuses.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Sequence

from envs.errors import UsageError

DEFAULT_BATCH = 16


@dataclass(frozen=True)
class GameRecord:
    """One finished game.

    index: game number in the match; a_player: the player index A had (0 moves first);
    moves: action ids from the initial position, the opening's included; winner: 0, 1 or
    None (draw), by player index; a_score: 1 / 0.5 / 0 for A; a_ms / b_ms: total
    milliseconds each side spent (a batched call's time shared equally by its games);
    a_moves / b_moves: moves made by each side; opening_plies: the random moves that
    started the game, played by neither side.
    """

    index: int
    a_player: int
    moves: tuple[int, ...]
    winner: int | None
    a_score: float
    a_ms: float
    b_ms: float
    a_moves: int
    b_moves: int
    opening_plies: int = 0


@dataclass(frozen=True)
class MatchSummary:
    """Totals of a match, the JSON of `ponder arena --json`.

    score: A's mean score (win 1, draw 1/2); score_ci95: (low, high), normal approximation
    clipped to [0, 1]; ms_per_move_a/b: mean milliseconds per move of each side;
    distinct_games: how many of the games differ in their moves (the interval assumes
    independent games, which repeated ones are not); opening_plies: random plies per opening.
    """

    game: str
    a: str
    b: str
    games: int
    a_wins: int
    b_wins: int
    draws: int
    score: float
    score_ci95: tuple[float, float]
    ms_per_move_a: float
    ms_per_move_b: float
    seed: int
    distinct_games: int = 0
    opening_plies: int = 0

    def to_json(self) -> dict:
        data = asdict(self)
        data["score_ci95"] = list(self.score_ci95)
        return data


@dataclass(frozen=True)
class MatchResult:
    """Every game of a match (``records``, in game order) and the ``summary``."""

    records: tuple[GameRecord, ...]
    summary: MatchSummary


def play_games(game, player_a, player_b, game_indices: Sequence[int],
               openings: Sequence[Sequence[int]] = ()) -> list[GameRecord]:
    """Play the given games to the end in this process, in lock-step, with player objects.

    Game ``i`` starts from ``openings[i // 2]`` (the initial position when ``openings`` is
    empty) and has A as player ``i % 2``, so A moves first from the opening in even games.
    Each round, each side gets one ``act_batch`` call with every unfinished game where it
    is to move.
    """
    indices = list(game_indices)
    if openings and len(openings) <= max(indices, default=0) // 2:
        raise ValueError(f"{len(openings)} openings for games up to index {max(indices)}")
    opening_moves = [tuple(openings[index // 2]) if openings else () for index in indices]
    states = [game.state_from_actions(moves) for moves in opening_moves]
    # A is the player to move after the opening in even games, the other one in odd games
    a_players = [states[g].to_play if index % 2 == 0 else 1 - states[g].to_play
                 for g, index in enumerate(indices)]
    spent_ms = [[0.0, 0.0] for _ in indices]   # [A, B]
    move_counts = [[0, 0] for _ in indices]
    while True:
        live = [g for g, state in enumerate(states) if not state.is_terminal()]
        if not live:
            break
        for side, player in ((0, player_a), (1, player_b)):
            mine = [g for g in live if (states[g].to_play == a_players[g]) == (side == 0)]
            if not mine:
                continue
            start = time.perf_counter()
            actions = player.act_batch([states[g] for g in mine])
            share = (time.perf_counter() - start) * 1000.0 / len(mine)
            if len(actions) != len(mine):
                raise RuntimeError(f"{player.name} returned {len(actions)} moves for {len(mine)} positions")
            for g, action in zip(mine, actions):
                action = int(action)
                if not states[g].legal_mask()[action]:
                    raise RuntimeError(f"{player.name} played illegal move {action} in game {indices[g]}")
                states[g] = states[g].play(action)
                spent_ms[g][side] += share
                move_counts[g][side] += 1
            live = [g for g in live if not states[g].is_terminal()]
    records = []
    for g, index in enumerate(indices):
        winner = states[g].winner()
        a_score = 0.5 if winner is None else (1.0 if winner == a_players[g] else 0.0)
        records.append(GameRecord(index=index, a_player=a_players[g], moves=states[g].history,
                                  winner=winner, a_score=a_score, a_ms=spent_ms[g][0], b_ms=spent_ms[g][1],
                                  a_moves=move_counts[g][0], b_moves=move_counts[g][1],
                                  opening_plies=len(opening_moves[g])))
    return records


def _chunk_seed(seed: int, chunk: int, side: int) -> int:
    return (seed * 1_000_003 + chunk * 2 + side) % (2**63)


def _play_chunk(job: tuple) -> list[GameRecord]:
    """Worker entry: build both players for this chunk (seeded by its index) and play it."""
    game_name, game_options, spec_a, spec_b, seed, chunk, indices, openings = job
    from envs.registry import get_game
    from selfplay.players import is_agent_spec, make_player

    if is_agent_spec(spec_a) or is_agent_spec(spec_b):
        import torch  # one thread per worker process: the cores are shared between workers

        torch.set_num_threads(1)
    game = get_game(game_name, **game_options)
    player_a = make_player(spec_a, game, seed=_chunk_seed(seed, chunk, 0))
    player_b = make_player(spec_b, game, seed=_chunk_seed(seed, chunk, 1))
    return play_games(game, player_a, player_b, indices, openings)


def summarize(records: Sequence[GameRecord], game_name: str, spec_a: str, spec_b: str, seed: int,
              opening_plies: int = 0) -> MatchSummary:
    """Totals, A's score with a 95% interval, and the mean time per move of each side."""
    count = len(records)
    scores = [record.a_score for record in records]
    mean = sum(scores) / count if count else float("nan")
    if count > 1:
        variance = sum((s - mean) ** 2 for s in scores) / (count - 1)
        half_width = 1.96 * math.sqrt(variance / count)
    else:
        half_width = float("nan") if count == 0 else 0.5
    low, high = max(0.0, mean - half_width), min(1.0, mean + half_width)
    a_moves = sum(r.a_moves for r in records)
    b_moves = sum(r.b_moves for r in records)
    return MatchSummary(
        game=game_name, a=spec_a, b=spec_b, games=count,
        a_wins=sum(1 for r in records if r.a_score == 1.0),
        b_wins=sum(1 for r in records if r.a_score == 0.0),
        draws=sum(1 for r in records if r.a_score == 0.5),
        score=mean, score_ci95=(low, high),
        ms_per_move_a=sum(r.a_ms for r in records) / a_moves if a_moves else 0.0,
        ms_per_move_b=sum(r.b_ms for r in records) / b_moves if b_moves else 0.0,
        seed=seed, distinct_games=len({(r.a_player, r.moves) for r in records}), opening_plies=opening_plies,
    )


def play_match(game, spec_a: str, spec_b: str, games: int, seed: int = 0, workers: int | None = None,
               batch_size: int = DEFAULT_BATCH, progress: bool = False,
               opening_plies: int | None = None) -> MatchResult:
    """Play ``games`` games between two PLAYER strings; chunks spread over ``workers`` processes.

    ``workers`` None means one per core (at most one per chunk); 1 plays in this process.
    ``opening_plies`` None is the game's default (`selfplay.openings`). Bad PLAYER strings
    raise UsageError before any process starts.
    """
    from selfplay.openings import default_opening_plies, random_openings
    from selfplay.players import validate_player_spec

    if games < 1:
        raise UsageError(f"--games must be at least 1, not {games}")
    if batch_size < 1:
        raise UsageError(f"--batch must be at least 1, not {batch_size}")
    validate_player_spec(spec_a, game)
    validate_player_spec(spec_b, game)
    plies = default_opening_plies(game) if opening_plies is None else opening_plies
    openings = random_openings(game, (games + 1) // 2, plies, seed)
    chunks = [list(range(start, min(games, start + batch_size))) for start in range(0, games, batch_size)]
    jobs = [(game.name, dict(game.options), spec_a, spec_b, seed, c, idx, openings) for c, idx in enumerate(chunks)]
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    records: list[GameRecord] = []
    with _progress_bar(progress, games, f"{spec_a} vs {spec_b}") as advance:
        if workers <= 1:
            for job in jobs:
                records.extend(_play_chunk(job))
                advance(len(job[-1]))
        else:
            import multiprocessing

            context = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
            with context.Pool(workers) as pool:
                for chunk_records in pool.imap_unordered(_play_chunk, jobs):
                    records.extend(chunk_records)
                    advance(len(chunk_records))
    records.sort(key=lambda record: record.index)
    return MatchResult(records=tuple(records), summary=summarize(records, game.name, spec_a, spec_b, seed, plies))


class _progress_bar:
    """Context manager yielding ``advance(n)``; a rich bar on stderr when enabled."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.enabled, self.total, self.label = enabled, total, label
        self.progress = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("games"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
        self.progress.start()
        task = self.progress.add_task(self.label, total=self.total)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--game", required=True, help="game name (see `ponder games`) or module:factory")
    parser.add_argument("--a", required=True, metavar="PLAYER", help="player A: random, heuristic, alphabeta:D, "
                        "rollout-mcts:N, perfect, agent:PATH[:SIMS[:ROOT]]")
    parser.add_argument("--b", required=True, metavar="PLAYER", help="player B (same forms as --a)")
    parser.add_argument("--games", type=int, default=100,
                        help="number of games: pairs from one random opening, colours swapped (default 100)")
    parser.add_argument("--opening-plies", type=int, default=None, metavar="N",
                        help="random plies that open each pair of games (default: the game's, 2; tictactoe 1)")
    parser.add_argument("--seed", type=int, default=0, help="match seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                        help=f"games played in lock-step per process chunk (default {DEFAULT_BATCH})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from envs.registry import get_game

    game = get_game(args.game)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    result = play_match(game, args.a, args.b, args.games, seed=args.seed, workers=args.workers,
                        batch_size=args.batch, progress=True, opening_plies=args.opening_plies)
    summary = result.summary
    if args.json:
        print(json.dumps(summary.to_json()))
        return 0
    low, high = summary.score_ci95
    print(f"{game.name}: {summary.a} (A) vs {summary.b} (B), {summary.games} games, seed {summary.seed}, "
          f"{summary.opening_plies}-ply random openings, {summary.distinct_games} distinct games")
    print(f"A wins {summary.a_wins}, draws {summary.draws}, A losses {summary.b_wins}")
    print(f"A score {summary.score:.3f} (95% CI {low:.3f} .. {high:.3f})")
    print(f"ms per move: A {summary.ms_per_move_a:.2f}, B {summary.ms_per_move_b:.2f}")
    return 0
