"""`ponder tradeoff`: what one doubling of search is worth in training compute, from a run's checkpoints.

Takes at least 8 checkpoints spread over a run's wall-clock and a ladder of simulation
counts, builds an agent per (checkpoint, simulations) plus fixed baseline anchors, and
places them all on one Elo scale: first every pairing of the design (`selfplay.tradeoff`)
gets ``--games`` games, then rounds of games go to the pairings whose games shrink the
widest uncertainties most, until ``--max-games`` games or ``--minutes`` of play are spent.
Games are the ablation's (`selfplay.matches`): seeded chunks from random openings with
colours swapped, played on worker processes and appended to ``games.jsonl`` in the output
folder, so a rerun or an interrupted run never replays a chunk. Then the Elo fit with
bootstrap intervals (`selfplay.ratings`), the exchange rate at early, middle and late
training and over the whole run, the iso-Elo frontier, and the outputs: ``tradeoff.json``,
two PNG plots and ``report.md`` (`selfplay.tradeoff_plot`). See docs/tradeoff.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import time
from pathlib import Path

from envs.errors import UsageError
from selfplay.machine import describe as describe_machine

DEFAULT_GAMES = 4
DEFAULT_CHUNK = 4
DEFAULT_CHECKPOINTS = 8
ROUNDS_FILE = "rounds.jsonl"
RESULTS_FILE = "tradeoff.json"
SCHEDULE_BOOTSTRAP = 100   # replicates behind each adaptive round's choice (the final fit uses --bootstrap)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from selfplay.tradeoff import MIN_CHECKPOINTS, SPACINGS, TRAIN_AXES

    parser.add_argument("--run", required=True, metavar="DIR",
                        help=f"a run folder of `ponder train` with at least {MIN_CHECKPOINTS} checkpoints/step_*.pt")
    parser.add_argument("--sims", default=None,
                        help="simulation ladder, e.g. 0,1,2,4,8 (0 = policy-only; default 0..64, tictactoe 0..16)")
    parser.add_argument("--root", default=None,
                        help="root of every search, e.g. puct, gumbel, puct+rules (default: the run's own)")
    parser.add_argument("--anchors", default=None, metavar="P,P,...",
                        help="fixed baseline PLAYERs, the first one is Elo 0 (default random,heuristic,alphabeta:4,"
                             "rollout-mcts:1000; tictactoe random,heuristic,perfect)")
    parser.add_argument("--checkpoints", type=int, default=DEFAULT_CHECKPOINTS, metavar="K",
                        help=f"checkpoints to rate, spread over the run's wall-clock (at least {MIN_CHECKPOINTS}; "
                             f"default {DEFAULT_CHECKPOINTS})")
    parser.add_argument("--spacing", choices=SPACINGS, default="log",
                        help="spread checkpoints at equal ratios (log, default) or equal minutes (linear) "
                             "of wall-clock")
    parser.add_argument("--train-axis", choices=sorted(TRAIN_AXES), default="seconds",
                        help="training compute for the plots and the fit: seconds (wall-clock, default), positions, "
                             "steps or evals (estimated network evaluations)")
    parser.add_argument("--games", type=int, default=DEFAULT_GAMES,
                        help=f"games every pairing of the design gets first, rounded up to whole chunks "
                             f"(default {DEFAULT_GAMES})")
    parser.add_argument("--max-games", type=int, default=None,
                        help="stop when this many games are played in all (default: 4 times the first round's, "
                             "or no limit with --minutes)")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="stop playing after this many minutes, summed over resumes; the first round always "
                             "ends (default 0: no limit)")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                        help=f"games per chunk: what a round adds to one pairing, the unit of caching "
                             f"(default {DEFAULT_CHUNK})")
    parser.add_argument("--round-pairs", type=int, default=None,
                        help="pairings per adaptive round (default: 4 per worker, at least 16)")
    parser.add_argument("--opening-plies", type=int, default=None, metavar="N",
                        help="random plies that open each pair of games (default: the game's, 2; tictactoe 1)")
    parser.add_argument("--out", default="tradeoff", help="output folder (also the game cache; default ./tradeoff)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every match, schedule and bootstrap (default 0)")
    parser.add_argument("--bootstrap", type=int, default=500,
                        help="bootstrap replicates of the final fit (default 500)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core, at most 2)")
    parser.add_argument("--note", default="", help="a line for the report (e.g. what else the machine was doing)")
    parser.add_argument("--json", action="store_true", help="also print tradeoff.json on stdout")


# --- playing -----------------------------------------------------------------------------------------


def _rows_games(rows_by_chunk: dict) -> int:
    return sum(len(rows) for rows in rows_by_chunk.values())


def play(game, design, out_dir: Path, *, workers: int, chunk: int, max_games: float, minutes: float,
         round_pairs: int, seed: int, opening_plies: int, progress: bool = True) -> dict:
    """Play the seed pairings' missing chunks (whatever ``minutes`` says), then adaptive rounds
    until ``max_games`` games or ``minutes`` of play, caching every chunk.

    ``max_games`` may be ``math.inf`` (then ``minutes`` bounds the play). Returns the game
    rows of the design's pairings (cached and new) and the bookkeeping.
    """
    from selfplay.matches import (GAMES_FILE, JobProgress, append_jsonl, cached_chunks, games_job, games_job_cost,
                                  play_chunk, read_jsonl)
    from selfplay.tradeoff import pick_pairs

    out_dir.mkdir(parents=True, exist_ok=True)
    games_path, rounds_path = out_dir / GAMES_FILE, out_dir / ROUNDS_FILE
    keys = {match.key for match in design.candidates}
    rows_by_chunk = {key: rows for key, rows in cached_chunks(read_jsonl(games_path)).items() if key[0] in keys}
    cached_games = _rows_games(rows_by_chunk)
    spent_before = sum(float(row.get("seconds", 0.0)) for row in read_jsonl(rounds_path))
    budget = minutes * 60.0 - spent_before if minutes > 0 else math.inf
    checkpoints = {c.info.label: c.info for c in design.checkpoints}

    def job(match, start: int) -> dict:
        return games_job(game.name, dict(game.options), match, start, start + chunk, seed=seed,
                         opening_plies=opening_plies, checkpoints=checkpoints)

    def next_start(match) -> int:
        start = 0
        while (match.key, start, start + chunk) in rows_by_chunk:
            start += chunk
        return start

    seed_jobs = [job(match, start) for match in design.seed
                 for start in range(0, math.ceil(match.games / chunk) * chunk, chunk)
                 if (match.key, start, start + chunk) not in rows_by_chunk]
    started = time.monotonic()
    last_mark = started
    state = {"pool": None, "new": 0, "rounds": 0, "stopped_by": "max-games"}

    def over_budget() -> bool:
        return time.monotonic() - started >= budget

    def mark_time(games: int) -> None:
        nonlocal last_mark
        now = time.monotonic()
        append_jsonl(rounds_path, [{"round": state["rounds"], "seconds": round(now - last_mark, 3), "games": games}])
        last_mark = now

    def run_round(jobs: list[dict], bar, budgeted: bool = True) -> bool:
        """Play the jobs (longest first); False if the time budget ran out before they all ended
        (never for the seed round: without it some players would have no rating at all)."""
        before = state["new"]
        jobs = sorted(jobs, key=games_job_cost, reverse=True)

        def collect(result: dict) -> None:
            rows = result["rows"]
            append_jsonl(games_path, rows)
            rows_by_chunk[(rows[0]["match"], *rows[0]["chunk"])] = rows
            state["new"] += len(rows)
            bar.advance("games", len(rows))
            if "time" in bar.tasks:
                bar.progress.update(bar.tasks["time"], completed=min(budget, time.monotonic() - started),
                                    description=f"play time, {_rows_games(rows_by_chunk)} games")

        finished = True
        if workers == 1:
            for item in jobs:
                if budgeted and over_budget():
                    finished = False
                    break
                collect(play_chunk(item))
        elif jobs:
            if state["pool"] is None:
                import multiprocessing

                state["pool"] = multiprocessing.get_context("spawn").Pool(workers)
            for result in state["pool"].imap_unordered(play_chunk, jobs):
                collect(result)
                if budgeted and over_budget():
                    finished = False
                    break
        mark_time(state["new"] - before)
        state["rounds"] += 1
        return finished

    try:
        with JobProgress(progress) as bar:
            if math.isfinite(max_games):
                bar.add("games", "games", max(0, int(max_games) - cached_games))
            if math.isfinite(budget) and budget > 0:
                bar.add("time", "play time", int(math.ceil(budget)))
            while True:
                budgeted = not seed_jobs
                if seed_jobs:
                    jobs, seed_jobs = seed_jobs, []
                else:
                    total = _rows_games(rows_by_chunk)
                    if total >= max_games:
                        state["stopped_by"] = "max-games"
                        break
                    if over_budget():
                        state["stopped_by"] = "minutes"
                        break
                    table = rate(design, rows_by_chunk, bootstrap=SCHEDULE_BOOTSTRAP, seed=seed + state["rounds"])
                    want = round_pairs
                    if math.isfinite(max_games):
                        want = min(round_pairs, math.ceil((max_games - total) / chunk))
                    picks = pick_pairs(table, design.candidates, want, chunk)
                    if not picks:
                        break
                    jobs = [job(match, next_start(match)) for match in picks]
                    for name in ("games", "time"):
                        if name in bar.tasks:
                            bar.progress.update(bar.tasks[name], description=f"{name}, round {state['rounds']}: "
                                                f"widest ±{_widest_half_width(design, table):.0f} Elo")
                if not run_round(jobs, bar, budgeted):
                    state["stopped_by"] = "minutes"
                    break
    finally:
        if state["pool"] is not None:
            state["pool"].terminate()
            state["pool"].join()
        if time.monotonic() - last_mark > 0.5:
            mark_time(0)
    return {"rows": [row for key in sorted(rows_by_chunk) for row in rows_by_chunk[key]],
            "new_games": state["new"], "cached_games": cached_games, "rounds": state["rounds"],
            "stopped_by": state["stopped_by"], "seconds": time.monotonic() - started,
            "seconds_total": spent_before + time.monotonic() - started, "workers": workers}


def rate(design, rows_by_chunk_or_rows, *, bootstrap: int, seed: int):
    """The Elo table of every player of the design from its games (anchor: the first anchor)."""
    from selfplay.ratings import GameResult, rate_players

    rows = rows_by_chunk_or_rows
    if isinstance(rows, dict):
        rows = [row for chunk_rows in rows.values() for row in chunk_rows]
    by_key = {match.key: match for match in design.candidates}
    results = [GameResult(by_key[row["match"]].a.name, by_key[row["match"]].b.name, float(row["a_score"]))
               for row in rows if row.get("match") in by_key]
    return rate_players(results, anchor=design.anchors[0].name, players=[p.name for p in design.players],
                        bootstrap=bootstrap, seed=seed)


def _widest_half_width(design, table) -> float:
    widths = [(table.high[i] - table.low[i]) / 2 for i, name in enumerate(table.players)
              if name not in {a.name for a in design.anchors}]
    widths = [w for w in widths if math.isfinite(w)]
    return max(widths) if widths else math.inf


# --- results -----------------------------------------------------------------------------------------


def summarize(design, raw: dict, *, axis: str, bootstrap: int, seed: int, command: str, run: str,
              game, spacing: str, games: int, chunk: int, max_games: float, minutes: float, note: str) -> dict:
    """The results dict (tradeoff.json) from the design and the played games."""
    import datetime

    import numpy as np

    from selfplay.tradeoff import TRAIN_AXES, exchange_rate, frontier_levels, iso_elo_frontier, windows

    rows = raw["rows"]
    table = rate(design, rows, bootstrap=bootstrap, seed=seed)
    elo = table.as_dict()["players"]
    field, axis_label = TRAIN_AXES[axis]
    train = [max(float(c.cost[field]), 1e-9) for c in design.checkpoints]

    spent: dict[str, list[float]] = {}
    for row in rows:
        for side in ("a", "b"):
            entry = spent.setdefault(row[side], [0.0, 0.0])
            entry[0] += row[f"{side}_evals"]
            entry[1] += row[f"{side}_moves"]
    players = []
    for player in design.players:
        entry = {**player.as_dict(), **elo[player.name]}
        if player.kind == "agent":
            index = [c.info.label for c in design.checkpoints].index(player.checkpoint)
            evals, moves = spent.get(player.name, (0.0, 0.0))
            entry.update({"train": train[index], "search_evals_per_move": player.sims + 1,
                          "measured_evals_per_move": round(evals / moves, 3) if moves else None})
        players.append(entry)

    agent_keys = sorted(design.agents)
    columns = [table.index(design.agents[key].name) for key in agent_keys]
    log_train = np.log2([train[i] for i, _ in agent_keys])
    log_search = np.log2([s + 1 for _, s in agent_keys])
    ratings = table.elo[columns]
    samples = table.samples[:, columns] if table.samples.size else np.zeros((0, len(columns)))
    exchange = []
    for window in windows(len(design.checkpoints)):
        keep = np.array([i in window.indices for i, _ in agent_keys])
        exchange.append({"window": window.name,
                         "checkpoints": [design.checkpoints[i].info.label for i in window.indices],
                         "train_from": train[window.indices[0]], "train_to": train[window.indices[-1]],
                         **exchange_rate(log_train[keep], log_search[keep], ratings[keep], samples[:, keep])})
    curves = {s: [float(table.elo[table.index(design.agents[(i, s)].name)]) for i in range(len(design.checkpoints))]
              for s in design.sims}
    levels = frontier_levels(ratings)

    matches, counts = [], []
    for match in design.candidates:
        played = [row for row in rows if row["match"] == match.key]
        if not played:
            continue
        counts.append(len(played))
        matches.append({"a": match.a.name, "b": match.b.name, "games": len(played),
                        "a_wins": sum(1 for r in played if r["a_score"] == 1.0),
                        "draws": sum(1 for r in played if r["a_score"] == 0.5),
                        "b_wins": sum(1 for r in played if r["a_score"] == 0.0)})
    half = [(entry["high"] - entry["low"]) / 2 for entry in players
            if entry["kind"] == "agent" and entry["low"] is not None and entry["high"] is not None]
    return {
        "game": game.name, "game_options": dict(game.options), "run": run, "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": describe_machine(), "note": note, "seed": seed, "root": design.root, "sims": list(design.sims),
        "anchors": [a.name for a in design.anchors], "spacing": spacing,
        "train_axis": axis, "train_axis_label": axis_label,
        "search_axis_label": "network evaluations per move (sims + 1)",
        "checkpoints": [{"label": c.info.label, "step": c.info.step, "path": c.info.path, "sha256_16": c.info.digest,
                         "cost": c.cost} for c in design.checkpoints],
        "players": players,
        "elo": {key: value for key, value in table.as_dict().items() if key != "players"},
        "exchange": exchange,
        "frontier": iso_elo_frontier(train, curves, levels),
        "schedule": {"seed_games_per_pair": math.ceil(games / chunk) * chunk, "chunk": chunk,
                     "max_games": int(max_games) if math.isfinite(max_games) else None,
                     "minutes": minutes, "seed_pairs": len(design.seed), "candidate_pairs": len(design.candidates),
                     "pairs_played": len(counts), "rounds_this_session": raw["rounds"], "stopped_by": raw["stopped_by"],
                     "games_per_pair": ({"min": min(counts), "median": float(np.median(counts)), "max": max(counts)}
                                        if counts else None)},
        "precision": {"agent_half_width_median": round(float(np.median(half)), 1) if half else None,
                      "agent_half_width_max": round(float(np.max(half)), 1) if half else None},
        "matches": matches,
        "totals": {"games": len(rows), "new_games": raw["new_games"], "cached_games": raw["cached_games"],
                   "seconds": round(raw["seconds"], 1), "play_seconds_all_sessions": round(raw["seconds_total"], 1),
                   "workers": raw["workers"]},
    }


def canonical_command(args: argparse.Namespace, sims, root: str, anchors, opening_plies: int, max_games: float) -> str:
    """The `ponder tradeoff` command line that reproduces this measurement, every choice spelled out."""
    parts = ["ponder", "tradeoff", "--run", args.run, "--sims", ",".join(map(str, sims)), "--root", root,
             "--anchors", ",".join(anchors), "--checkpoints", str(args.checkpoints), "--spacing", args.spacing,
             "--train-axis", args.train_axis, "--games", str(args.games),
             *(["--max-games", str(int(max_games))] if math.isfinite(max_games) else []),
             "--chunk", str(args.chunk), "--opening-plies", str(opening_plies), "--out", args.out,
             "--seed", str(args.seed), "--bootstrap", str(args.bootstrap)]
    if args.minutes:
        parts += ["--minutes", f"{args.minutes:g}"]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from selfplay.matches import parse_baselines, parse_sims_list
    from selfplay.tradeoff import GAME_DEFAULTS, MIN_CHECKPOINTS, TradeoffDefaults

    for name, value, low in (("--games", args.games, 1), ("--chunk", args.chunk, 1), ("--bootstrap", args.bootstrap, 0),
                             ("--checkpoints", args.checkpoints, MIN_CHECKPOINTS)):
        if value < low:
            raise UsageError(f"{name} must be at least {low}, not {value}")
    for name, value in (("--max-games", args.max_games), ("--round-pairs", args.round_pairs),
                        ("--workers", args.workers)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, not {value}")
    if args.minutes < 0 or not math.isfinite(args.minutes):
        raise UsageError(f"--minutes must be 0 (no limit) or more, not {args.minutes}")
    explicit_sims = parse_sims_list(args.sims) if args.sims is not None else None
    if explicit_sims is not None and len(explicit_sims) < 2:
        raise UsageError("--sims needs at least two simulation counts: the trade-off compares them")
    explicit_anchors = parse_baselines(args.anchors, "--anchors") if args.anchors is not None else None

    from selfplay.tradeoff import choose_checkpoints, make_design, read_run

    game, all_checkpoints, config = read_run(args.run)
    defaults = GAME_DEFAULTS.get(game.name, TradeoffDefaults())
    sims = explicit_sims or defaults.sims
    anchors = explicit_anchors or defaults.anchors
    from agent.agent import training_search_model
    from agent.player import default_root
    from agent.roots import ROOTS
    from selfplay.matches import check_baselines_and_openings, check_learned_roots

    root = args.root or default_root(training_search_model(config))
    if root not in ROOTS:
        raise UsageError(f"--root must be one of {', '.join(ROOTS)}, not {root!r}")
    check_learned_roots([c.info for c in all_checkpoints], [root])
    opening_plies = check_baselines_and_openings(game, anchors, args.opening_plies, args.seed)
    checkpoints = choose_checkpoints(all_checkpoints, args.checkpoints, args.spacing)
    design = make_design(game, checkpoints, sims, root, anchors, args.games, args.seed, args.chunk, opening_plies)
    seed_games = len(design.seed) * math.ceil(args.games / args.chunk) * args.chunk
    if args.max_games is not None:
        max_games: float = args.max_games
    else:
        max_games = math.inf if args.minutes else 4 * seed_games
    workers = args.workers or max(1, min(2, os.cpu_count() or 1))
    round_pairs = args.round_pairs or max(16, 4 * workers)
    out_dir = Path(args.out)
    raw = play(game, design, out_dir, workers=workers, chunk=args.chunk, max_games=max_games, minutes=args.minutes,
               round_pairs=round_pairs, seed=args.seed, opening_plies=opening_plies, progress=True)
    if not any(row["a"] == anchors[0] or row["b"] == anchors[0] for row in raw["rows"]):
        raise UsageError(f"no game of the Elo anchor {anchors[0]} was played (--minutes too short?): nothing to rate")
    command = canonical_command(args, sims, root, anchors, opening_plies, max_games)
    results = summarize(design, raw, axis=args.train_axis, bootstrap=args.bootstrap, seed=args.seed, command=command,
                        run=args.run, game=game, spacing=args.spacing, games=args.games, chunk=args.chunk,
                        max_games=max_games, minutes=args.minutes, note=args.note)
    from selfplay.tradeoff_plot import summary_lines, write_outputs

    written = write_outputs(results, out_dir)
    if args.json:
        print(json.dumps(json.loads(written["results"].read_text())))
    else:
        print("\n".join(summary_lines(results)))
        print(f"{results['totals']['games']} games ({results['totals']['cached_games']} cached) in "
              f"{results['totals']['seconds']:.0f} s; report: {written['report']}")
    return 0
