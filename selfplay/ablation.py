"""`ponder ablate`: how much does explicit search add on top of the network?

For each checkpoint, each simulation count (0 = policy-only) and each root method, an
agent player; plus baseline opponents. Every agent configuration plays every opponent,
neighbouring rungs of each ladder play each other, and neighbouring opponents play each
other (so the opponents' own ratings rest on more than the agents' games). Games are
played by the arena's lock-step `play_games` in seeded chunks spread over worker
processes, every pair of games from its own seeded random opening with colours swapped
(`selfplay.openings`: deterministic players would otherwise repeat one game per colour);
every finished chunk is appended to ``games.jsonl`` in the output folder, so
an interrupted ablation resumes without replaying it. Then: Bradley-Terry Elo with
bootstrap intervals (`selfplay.ratings`), accuracy against perfect play
(`selfplay.accuracy`), learned-model fidelity by depth (`selfplay.fidelity`), and the
report, results.json, plots and TensorBoard scalars (`selfplay.report`).

Per-game defaults: tic-tac-toe is solved by a few dozen simulations, so its default ladder
stops at 64 (deep = 64) and it adds the `perfect` opponent; other games use the full
ladder 0..256 (deep = 128). See docs/ablation.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from agent.roots import ROOTS as ROOT_METHODS   # puct, gumbel, and each over the real rules (+rules)
from agent.roots import Root
from envs.errors import UsageError

DEFAULT_LADDER = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
DEFAULT_OPPONENTS = ("random", "heuristic", "alphabeta:4", "rollout-mcts:1000")
DEFAULT_SHALLOW = 8
DEFAULT_DEEP = 128
DEFAULT_CHUNK = 10
DEFAULT_GAMES = 40
DEFAULT_ROOTS = "puct,gumbel"
ANCHOR = "random"


@dataclass(frozen=True)
class GameDefaults:
    """What `ponder ablate` plays when the flags leave it open, per game."""

    sims: tuple[int, ...] = DEFAULT_LADDER
    opponents: tuple[str, ...] = DEFAULT_OPPONENTS
    deep: int = DEFAULT_DEEP


# Tic-tac-toe: ~25 simulations already play it perfectly, so the ladder stops at 64, and the
# exact solver is the strongest possible opponent. Keeps `make demo`'s ablation short.
GAME_DEFAULTS: dict[str, GameDefaults] = {
    "tictactoe": GameDefaults(sims=(0, 1, 2, 4, 8, 16, 32, 64),
                              opponents=("random", "heuristic", "alphabeta:4", "rollout-mcts:1000", "perfect"),
                              deep=64),
}


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint under test: ``label`` names it in player names and the report."""

    label: str
    path: str
    step: int
    digest: str  # sha256 of the file: cached games of another file never count
    learned_model_trained: bool = True  # False: trained without an unroll, search it over the rules only


@dataclass(frozen=True)
class PlayerConfig:
    """A player of the ablation: an agent configuration or a baseline PLAYER string."""

    name: str
    kind: str                   # "agent" | "baseline"
    spec: str                   # baseline PLAYER string, or agent:PATH:SIMS:ROOT
    checkpoint: str | None = None   # CheckpointInfo.label for agents
    sims: int | None = None
    root: str | None = None
    digest: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "spec": self.spec, "checkpoint": self.checkpoint,
                "sims": self.sims, "root": self.root}


@dataclass(frozen=True)
class MatchPlan:
    """One pairing: ``games`` games of ``a`` against ``b`` (A first in even games)."""

    a: PlayerConfig
    b: PlayerConfig
    games: int
    key: str            # fingerprint of everything that decides these games


@dataclass(frozen=True)
class AblationPlan:
    """Everything `run` will play and measure, decided before any game starts."""

    game_name: str
    game_options: dict
    checkpoints: tuple[CheckpointInfo, ...]
    sims: tuple[int, ...]
    roots: tuple[str, ...]
    players: tuple[PlayerConfig, ...]
    matches: tuple[MatchPlan, ...]
    presets: dict = field(hash=False)
    seed: int = 0
    chunk: int = DEFAULT_CHUNK
    opening_plies: int = 0


# --- argument parsing --------------------------------------------------------------------------------


def parse_sims_list(text: str) -> tuple[int, ...]:
    """"0,1,2,4" -> (0, 1, 2, 4), sorted and unique; UsageError (one line) if malformed."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part.isdigit() for part in parts):
        raise UsageError(f"--sims must be comma-separated non-negative integers like 0,1,2,4,8, not {text!r}")
    values = sorted({int(part) for part in parts})
    if values[-1] > 100_000:
        raise UsageError(f"--sims {values[-1]} is more simulations per move than this harness allows (100000)")
    return tuple(values)


def parse_roots(text: str) -> tuple[str, ...]:
    roots = [part.strip() for part in text.split(",") if part.strip()]
    bad = [root for root in roots if root not in ROOT_METHODS]
    if not roots or bad:
        raise UsageError(f"--root must be a comma-separated list of {', '.join(ROOT_METHODS)}, not {text!r}")
    return tuple(dict.fromkeys(roots))


def parse_opponents(text: str) -> tuple[str, ...]:
    opponents = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in opponents):
        raise UsageError(f"--opponents must be comma-separated PLAYER strings, not {text!r}")
    if any(part.startswith("agent:") for part in opponents):
        raise UsageError("--opponents takes baseline players; give agents with --checkpoint")
    return tuple(dict.fromkeys(opponents))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", nargs="+", required=True, metavar="PATH",
                        help="checkpoint files or run folders (several checkpoints of one run: Elo by step)")
    parser.add_argument("--sims", default=None,
                        help="simulation ladder, e.g. 0,1,2,4,8 (0 = policy-only; default "
                        + ",".join(map(str, DEFAULT_LADDER)) + "; tictactoe 0..64)")
    parser.add_argument("--experiment", metavar="GAME/NAME",
                        help="measure as the recipe's [benchmark] says (see `ponder experiments`): its opponents "
                             "(with random, the anchor), games, roots, and the ladder policy-only, shallow and its "
                             "simulations (the deep preset); flags given win")
    parser.add_argument("--root", default=None,
                        help="root methods, comma-separated: puct, gumbel, and puct+rules or gumbel+rules "
                             "to search the real game instead of the learned model, with +solver to also "
                             "prove wins and losses from its ends (default puct,gumbel)")
    parser.add_argument("--opponents", default=None,
                        help="baseline PLAYERs (default " + ",".join(DEFAULT_OPPONENTS) + "; +perfect for tictactoe)")
    parser.add_argument("--games", type=int, default=None,
                        help=f"games per pairing: pairs from one random opening, colours swapped (default {DEFAULT_GAMES})")
    parser.add_argument("--opening-plies", type=int, default=None, metavar="N",
                        help="random plies that open each pair of games (default: the game's, 2; tictactoe 1)")
    parser.add_argument("--out", default="ablation", help="output folder (also the game cache; default ./ablation)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every match, sample and bootstrap (default 0)")
    parser.add_argument("--json", action="store_true", help="also print results.json on stdout")
    parser.add_argument("--shallow", type=int, default=DEFAULT_SHALLOW, help="the 'shallow' preset's sims (default 8)")
    parser.add_argument("--deep", type=int, default=None, help="the 'deep' preset's sims (default 128; tictactoe 64)")
    parser.add_argument("--positions", type=int, default=None,
                        help="Connect Four accuracy: positions sampled per Pons set (default: all)")
    parser.add_argument("--fidelity-games", type=int, default=40,
                        help="games (policy-only vs random) along which fidelity is measured (default 40; 0 skips)")
    parser.add_argument("--bootstrap", type=int, default=500, help="bootstrap replicates for Elo intervals (default 500)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core, at most 2)")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                        help=f"games per lock-step chunk, the unit of caching (default {DEFAULT_CHUNK})")
    parser.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard scalars")


# --- planning ----------------------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def load_checkpoints(paths: Sequence[str]) -> tuple[Any, tuple[CheckpointInfo, ...]]:
    """(game, checkpoint infos sorted by step); UsageError if missing, unreadable or of mixed games."""
    from agent.agent import trains_learned_model
    from agent.checkpoint import load_checkpoint, resolve_checkpoint_path
    from envs.registry import get_game

    loaded = []
    for path in paths:
        file = resolve_checkpoint_path(path)
        checkpoint = load_checkpoint(file)
        loaded.append((file, checkpoint))
    games = {(c.game, json.dumps(c.game_options, sort_keys=True)) for _, c in loaded}
    if len(games) > 1:
        raise UsageError("the checkpoints are for different games: " + ", ".join(sorted(g for g, _ in games)))
    first = loaded[0][1]
    game = get_game(first.game, **first.game_options)
    if tuple(game.observation_shape) != tuple(first.observation_shape) or game.num_actions != first.num_actions:
        raise UsageError(f"{loaded[0][0]}: its shapes do not match the game {game.name}")
    loaded.sort(key=lambda item: item[1].step)
    labels = [f"step_{checkpoint.step}" for _, checkpoint in loaded]
    if len(set(labels)) < len(labels):
        labels = [f"c{index}_step_{checkpoint.step}" for index, (_, checkpoint) in enumerate(loaded)]
    infos = tuple(CheckpointInfo(label=label, path=str(file), step=int(checkpoint.step), digest=file_digest(file),
                                 learned_model_trained=trains_learned_model(checkpoint.config, checkpoint.extra))
                  for label, (file, checkpoint) in zip(labels, loaded))
    if len({info.digest for info in infos}) < len(infos):
        raise UsageError("the same checkpoint file is given twice")
    return game, infos


def match_key(game_name: str, seed: int, chunk: int, a: PlayerConfig, b: PlayerConfig, opening_plies: int) -> str:
    fields = [game_name, seed, chunk, a.spec, a.digest, b.spec, b.digest]
    text = json.dumps(fields + [opening_plies] if opening_plies else fields)   # games from the empty board keep their keys
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_plan(game, checkpoints: Sequence[CheckpointInfo], sims: Sequence[int], roots: Sequence[str],
              opponents: Sequence[str], games: int, seed: int, shallow: int, deep: int,
              chunk: int = DEFAULT_CHUNK, opening_plies: int = 0) -> AblationPlan:
    """Players and pairings: agents x opponents, ladder neighbours, opponent neighbours."""
    players: list[PlayerConfig] = []
    ladders: list[list[PlayerConfig]] = []
    for info in checkpoints:
        policy_player = None
        if 0 in sims:
            policy_player = PlayerConfig(name=f"{info.label}:policy", kind="agent", spec=f"agent:{info.path}:0:puct",
                                         checkpoint=info.label, sims=0, root="policy", digest=info.digest)
            players.append(policy_player)
        for root in roots:
            ladder = [policy_player] if policy_player else []
            for count in sims:
                if count == 0:
                    continue
                player = PlayerConfig(name=f"{info.label}:{root}:{count}", kind="agent",
                                      spec=f"agent:{info.path}:{count}:{root}", checkpoint=info.label,
                                      sims=count, root=root, digest=info.digest)
                players.append(player)
                ladder.append(player)
            ladders.append(ladder)
    baselines = [PlayerConfig(name=spec, kind="baseline", spec=spec) for spec in opponents]
    if ANCHOR not in opponents:
        raise UsageError(f"--opponents must include {ANCHOR!r}: ratings are anchored at {ANCHOR} = 0")
    pairs: list[tuple[PlayerConfig, PlayerConfig]] = []
    for player in players:
        pairs.extend((player, baseline) for baseline in baselines)
    for ladder in ladders:
        pairs.extend(zip(ladder[:-1], ladder[1:]))
    pairs.extend(learned_against_rules(players))
    pairs.extend(zip(baselines[:-1], baselines[1:]))
    seen, matches = set(), []
    for a, b in pairs:
        if (a.name, b.name) in seen or (b.name, a.name) in seen:
            continue
        seen.add((a.name, b.name))
        matches.append(MatchPlan(a=a, b=b, games=games, key=match_key(game.name, seed, chunk, a, b, opening_plies)))
    return AblationPlan(
        game_name=game.name, game_options=dict(game.options), checkpoints=tuple(checkpoints), sims=tuple(sims),
        roots=tuple(roots), players=tuple(players + baselines), matches=tuple(matches),
        presets={"policy_only": 0, "shallow": shallow, "deep": deep}, seed=seed, chunk=chunk,
        opening_plies=opening_plies,
    )


def learned_against_rules(players: Sequence[PlayerConfig]) -> list[tuple[PlayerConfig, PlayerConfig]]:
    """(learned-model player, the same network over the rules) at equal simulations: for every
    checkpoint, root R with R+rules also in the ladder, and simulation count. Played directly,
    so what the learned model costs the search has its own games, not only a path through the
    opponents."""
    by_key = {(p.checkpoint, p.root, p.sims): p for p in players if p.kind == "agent" and p.sims > 0}
    pairs = []
    for (checkpoint, root, sims), player in by_key.items():
        if Root.parse(root).model != "learned":
            continue
        over_rules = by_key.get((checkpoint, str(Root.parse(root).over_rules), sims))
        if over_rules is not None:
            pairs.append((player, over_rules))
    return pairs


# --- the game cache ----------------------------------------------------------------------------------


GAMES_FILE = "games.jsonl"
ACCURACY_FILE = "accuracy.jsonl"
FIDELITY_FILE = "fidelity.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    """Every parseable line of a JSONL file (a line cut short by an interruption is skipped)."""
    if not path.is_file():
        return []
    rows = []
    with open(path) as file:
        for line in file:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def append_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Append rows in one write and flush to disk, so a chunk is either cached whole or not at all."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as file:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                text = "\n" + text  # end a line cut short by an interruption, so it stays skipped alone
    with open(path, "a") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def chunk_ranges(games: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(games, start + chunk)) for start in range(0, games, chunk)]


def cached_chunks(rows: Sequence[dict]) -> dict[tuple[str, int, int], list[dict]]:
    """(match key, start, stop) -> its game rows, for chunks present in full."""
    chunks: dict[tuple[str, int, int], dict[int, dict]] = {}
    for row in rows:
        try:
            key = (row["match"], int(row["chunk"][0]), int(row["chunk"][1]))
            chunks.setdefault(key, {})[int(row["index"])] = row
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return {key: [games[i] for i in range(key[1], key[2])] for key, games in chunks.items()
            if all(i in games for i in range(key[1], key[2]))}


# --- worker jobs -------------------------------------------------------------------------------------

_AGENTS: dict[str, Any] = {}   # per worker process: checkpoint path -> Agent


def _agent(path: str):
    if path not in _AGENTS:
        from agent.agent import Agent

        _AGENTS[path] = Agent.load(path)
    return _AGENTS[path]


def _chunk_seed(key: str, start: int, side: int) -> int:
    return int(hashlib.sha256(f"{key}:{start}:{side}".encode()).hexdigest()[:15], 16)


def _build_player(player: dict, game, seed: int):
    """A fresh player for one chunk: baselines from their PLAYER string, agents around a cached Agent."""
    from selfplay.players import make_player

    if player["kind"] != "agent":
        return make_player(player["spec"], game, seed=seed)
    from agent.player import AgentPlayer

    return AgentPlayer(_agent(player["path"]), player["sims"], "puct" if player["root"] == "policy" else player["root"])


def _network_evals(player) -> int:
    try:
        return int((player.stats() or {}).get("network_evals", 0))
    except (AttributeError, TypeError, ValueError):
        return 0


def run_job(job: dict) -> dict:
    """Worker entry: play one chunk of games, or measure one accuracy or fidelity item."""
    import torch

    torch.set_num_threads(1)
    from envs.registry import get_game

    game = get_game(job["game"], **job["options"])
    if job["type"] == "games":
        from selfplay.arena import play_games

        start, stop = job["chunk"]
        player_a = _build_player(job["a"], game, _chunk_seed(job["match"], start, 0))
        player_b = _build_player(job["b"], game, _chunk_seed(job["match"], start, 1))
        from selfplay.openings import random_openings

        openings = random_openings(game, (stop + 1) // 2, job["opening_plies"], job["seed"])
        evals_before = (_network_evals(player_a), _network_evals(player_b))
        records = play_games(game, player_a, player_b, range(start, stop), openings)
        evals = (_network_evals(player_a) - evals_before[0], _network_evals(player_b) - evals_before[1])
        moves = (max(1, sum(r.a_moves for r in records)), max(1, sum(r.b_moves for r in records)))
        rows = [{
            "match": job["match"], "chunk": [start, stop], "index": r.index, "a": job["a"]["name"],
            "b": job["b"]["name"], "a_player": r.a_player, "a_score": r.a_score, "moves": list(r.moves),
            "a_ms": r.a_ms, "b_ms": r.b_ms, "a_moves": r.a_moves, "b_moves": r.b_moves,
            "a_evals": evals[0] * r.a_moves / moves[0], "b_evals": evals[1] * r.b_moves / moves[1],
            "opening_plies": r.opening_plies,
        } for r in records]
        return {"type": "games", "rows": rows}
    agent = _agent(job["path"])
    if job["type"] == "accuracy":
        return {"type": "accuracy", "row": _accuracy_row(job, agent, game)}
    if job["type"] == "fidelity":
        from selfplay.fidelity import model_fidelity

        table = model_fidelity(agent.network, game, num_games=job["games"], seed=job["seed"],
                               positive_weight=agent.end_positive_weight)
        return {"type": "fidelity", "key": job["key"], "label": job["label"], "table": table.as_dict()}
    raise ValueError(f"unknown job type {job['type']!r}")


def _accuracy_row(job: dict, agent, game) -> dict:
    from agent.player import AgentPlayer
    from selfplay import accuracy

    choose = AgentPlayer(agent, job["sims"], "puct" if job["root"] == "policy" else job["root"]).act_batch

    row = {"key": job["key"], "checkpoint": job["label"], "root": job["root"], "sims": job["sims"]}
    if game.name == "tictactoe":
        table = accuracy.tictactoe_perfect_table()
        row["optimal_rate"] = accuracy.optimal_move_rate(table, choose)
        row["positions"] = len(table.states)
    else:
        row["sets"] = [accuracy.evaluate_pons_set(pons_set, choose, game, positions=job["positions"],
                                                  seed=job["seed"]).as_dict()
                       for pons_set in accuracy.load_pons_sets()]
    return row


# --- running -----------------------------------------------------------------------------------------


class JobProgress:
    """A rich progress bar on stderr (games and evaluations), with rate and ETA."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     console=Console(stderr=True))
            self.progress.start()
        return self

    def add(self, name: str, description: str, total: int) -> None:
        if self.progress is not None and total > 0:
            self.tasks[name] = self.progress.add_task(description, total=total)

    def advance(self, name: str, amount: int = 1) -> None:
        if self.progress is not None and name in self.tasks:
            self.progress.advance(self.tasks[name], amount)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False


def player_job_dict(player: PlayerConfig, checkpoints: dict[str, CheckpointInfo]) -> dict:
    data = player.as_dict()
    if player.kind == "agent":
        data["path"] = checkpoints[player.checkpoint].path
    return data


def job_cost(job: dict) -> float:
    """Rough relative cost, to start the longest jobs first and keep both workers busy."""
    if job["type"] == "games":
        sims = sum(side.get("sims") or 0 for side in (job["a"], job["b"]))
        heavy = sum(1000 if "rollout" in side["spec"] else 0 for side in (job["a"], job["b"]))
        return (job["chunk"][1] - job["chunk"][0]) * (1 + sims + heavy)
    if job["type"] == "accuracy":
        return 200 * (1 + job["sims"])
    return 5000


def execute(plan: AblationPlan, out_dir: Path, *, workers: int, positions: int | None, fidelity_games: int,
            progress: bool = True) -> dict:
    """Play every missing chunk and measure everything; returns the raw material for the results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    games_path, accuracy_path, fidelity_path = out_dir / GAMES_FILE, out_dir / ACCURACY_FILE, out_dir / FIDELITY_FILE
    cached = cached_chunks(read_jsonl(games_path))
    checkpoints = {info.label: info for info in plan.checkpoints}
    base = {"game": plan.game_name, "options": plan.game_options}
    rows_by_chunk: dict[tuple[str, int, int], list[dict]] = {}
    jobs: list[dict] = []
    cached_games = 0
    for match in plan.matches:
        for start, stop in chunk_ranges(match.games, plan.chunk):
            key = (match.key, start, stop)
            if key in cached:
                rows_by_chunk[key] = cached[key]
                cached_games += stop - start
            else:
                jobs.append({**base, "type": "games", "match": match.key, "chunk": [start, stop],
                             "opening_plies": plan.opening_plies, "seed": plan.seed,
                             "a": player_job_dict(match.a, checkpoints), "b": player_job_dict(match.b, checkpoints)})
    new_games = sum(job["chunk"][1] - job["chunk"][0] for job in jobs)

    accuracy_rows: dict[str, dict] = {}
    if plan.game_name in ("tictactoe", "connect_four"):
        cached_accuracy = {row.get("key"): row for row in read_jsonl(accuracy_path)}
        for info in plan.checkpoints:
            for root in plan.roots:
                for sims in plan.sims:
                    if sims == 0 and root != plan.roots[0]:
                        continue
                    shown_root = "policy" if sims == 0 else root
                    key = hashlib.sha256(json.dumps([info.digest, sims, shown_root, positions, plan.seed])
                                         .encode()).hexdigest()[:16]
                    if key in cached_accuracy:
                        accuracy_rows[key] = cached_accuracy[key]
                        continue
                    jobs.append({**base, "type": "accuracy", "key": key, "path": info.path, "label": info.label,
                                 "sims": sims, "root": shown_root, "positions": positions,
                                 "seed": plan.seed})
    fidelity: dict[str, dict] = {}
    if fidelity_games > 0:
        cached_fidelity = {row.get("key"): row for row in read_jsonl(fidelity_path)}
        for info in plan.checkpoints:
            key = hashlib.sha256(json.dumps([info.digest, fidelity_games, plan.seed]).encode()).hexdigest()[:16]
            if key in cached_fidelity and isinstance(cached_fidelity[key].get("table"), dict):
                fidelity[info.label] = cached_fidelity[key]["table"]
                continue
            jobs.append({**base, "type": "fidelity", "key": key, "path": info.path, "label": info.label,
                         "games": fidelity_games, "seed": plan.seed})
    jobs.sort(key=job_cost, reverse=True)
    started = time.perf_counter()
    with JobProgress(progress) as bar:
        bar.add("games", "games", new_games)
        bar.add("evals", "accuracy / fidelity", sum(1 for job in jobs if job["type"] != "games"))

        def collect(result: dict) -> None:
            if result["type"] == "games":
                rows = result["rows"]
                append_jsonl(games_path, rows)
                rows_by_chunk[(rows[0]["match"], *rows[0]["chunk"])] = rows
                bar.advance("games", len(rows))
            elif result["type"] == "accuracy":
                append_jsonl(accuracy_path, [result["row"]])
                accuracy_rows[result["row"]["key"]] = result["row"]
                bar.advance("evals")
            else:
                append_jsonl(fidelity_path, [{"key": result["key"], "table": result["table"]}])
                fidelity[result["label"]] = result["table"]
                bar.advance("evals")

        workers = max(1, min(workers, len(jobs)))
        if workers == 1:
            for job in jobs:
                collect(run_job(job))
        elif jobs:
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for result in pool.imap_unordered(run_job, jobs):
                    collect(result)
    return {
        "rows": [row for match in plan.matches for start, stop in chunk_ranges(match.games, plan.chunk)
                 for row in rows_by_chunk[(match.key, start, stop)]],
        "accuracy": list(accuracy_rows.values()),
        "fidelity": {info.label: fidelity[info.label] for info in plan.checkpoints if info.label in fidelity},
        "new_games": new_games, "cached_games": cached_games,
        "seconds": time.perf_counter() - started, "workers": workers,
    }


# --- results -----------------------------------------------------------------------------------------


def summarize(plan: AblationPlan, raw: dict, *, bootstrap: int, command: str, positions: int | None) -> dict:
    """The results dict (results.json) from the plan and the raw games and measurements."""
    from selfplay.ratings import GameResult, elo_difference, elo_per_doubling, rate_players

    rows = raw["rows"]
    by_key = {match.key: match for match in plan.matches}
    results_for_elo = [GameResult(by_key[row["match"]].a.name, by_key[row["match"]].b.name, float(row["a_score"]))
                       for row in rows]
    table = rate_players(results_for_elo, anchor=ANCHOR, players=[p.name for p in plan.players],
                         bootstrap=bootstrap, seed=plan.seed)
    matches = []
    for match in plan.matches:
        games = [row for row in rows if row["match"] == match.key]
        matches.append({
            "a": match.a.name, "b": match.b.name, "games": len(games),
            "a_wins": sum(1 for g in games if g["a_score"] == 1.0),
            "draws": sum(1 for g in games if g["a_score"] == 0.5),
            "b_wins": sum(1 for g in games if g["a_score"] == 0.0),
        })
    cost: dict[str, dict] = {}
    for row in rows:
        match = by_key[row["match"]]
        for side, player in (("a", match.a), ("b", match.b)):
            entry = cost.setdefault(player.name, {"moves": 0, "ms": 0.0, "evals": 0.0})
            entry["moves"] += row[f"{side}_moves"]
            entry["ms"] += row[f"{side}_ms"]
            entry["evals"] += row[f"{side}_evals"]
    kinds = {p.name: p.kind for p in plan.players}
    move_cost = {name: {"moves": entry["moves"],
                        "ms_per_move": entry["ms"] / entry["moves"] if entry["moves"] else None,
                        "network_evals_per_move": (entry["evals"] / entry["moves"]
                                                   if entry["moves"] and kinds[name] == "agent" else None)}
                 for name, entry in cost.items()}
    per_doubling = []
    for info in plan.checkpoints:
        for root in plan.roots:
            ladder = [(p.sims, p.name) for p in plan.players
                      if p.kind == "agent" and p.checkpoint == info.label and p.root == root]
            estimate = elo_per_doubling(table, ladder)
            per_doubling.append({"checkpoint": info.label, "root": root, **estimate.as_dict()})
    model_cost = [{"checkpoint": a.checkpoint, "root": a.root, "rules_root": b.root, "sims": a.sims,
                   **elo_difference(table, a.name, b.name).as_dict()}
                  for a, b in learned_against_rules(plan.players)]
    results = {
        "game": plan.game_name,
        "game_options": plan.game_options,
        "command": command,
        "seed": plan.seed,
        "games_per_match": plan.matches[0].games if plan.matches else 0,
        "opening_plies": plan.opening_plies,
        "presets": plan.presets,
        "sims": list(plan.sims),
        "roots": list(plan.roots),
        "checkpoints": [{"label": c.label, "path": c.path, "step": c.step, "sha256_16": c.digest}
                        for c in plan.checkpoints],
        "players": [p.as_dict() for p in plan.players],
        "matches": matches,
        "elo": table.as_dict(),
        "elo_per_doubling": per_doubling,
        "learned_minus_rules": model_cost,
        "move_cost": move_cost,
        "accuracy": _accuracy_results(plan, raw["accuracy"], positions),
        "fidelity": raw["fidelity"],
        "totals": {"games": len(rows), "new_games": raw["new_games"], "cached_games": raw["cached_games"],
                   "seconds": round(raw["seconds"], 1), "workers": raw["workers"]},
    }
    return results


def _accuracy_results(plan: AblationPlan, rows: list[dict], positions: int | None) -> dict:
    from selfplay import accuracy

    order = {info.label: i for i, info in enumerate(plan.checkpoints)}
    rows = sorted((dict(row) for row in rows), key=lambda r: (order.get(r["checkpoint"], 0), r["root"] != "policy",
                                                             r["root"], r["sims"]))
    for row in rows:
        row.pop("key", None)
    if plan.game_name == "tictactoe":
        table = accuracy.tictactoe_perfect_table()
        random_rate = float(sum(table.optimal[i].sum() / table.states[i].legal_mask().sum()
                                for i in range(len(table.states))) / len(table.states))
        return {"kind": "tictactoe", "positions": len(table.states), "rows": rows,
                "baselines": {"random_optimal_rate": random_rate}}
    if plan.game_name == "connect_four":
        from envs.registry import get_game

        game = get_game("connect_four")
        sets = [{"name": s.name, "title": s.title, "rows": len(s),
                 "random_mistake_rate": accuracy.expected_random_mistake_rate(s),
                 "win_block_mistake_rate": accuracy.expected_win_block_mistake_rate(s, game),
                 "random_not_exact_rate": accuracy.expected_random_not_exact_rate(s)}
                for s in accuracy.load_pons_sets()]
        return {"kind": "connect_four", "positions_per_set": positions, "rows": rows, "baselines": {"sets": sets}}
    return {"kind": "none", "rows": []}


def canonical_command(args: argparse.Namespace, sims: Sequence[int], roots: Sequence[str],
                      opponents: Sequence[str], deep: int, opening_plies: int) -> str:
    """The exact `ponder ablate` command line that reproduces this run, every choice spelled out."""
    parts = ["ponder", "ablate", "--checkpoint", *args.checkpoint, "--sims", ",".join(map(str, sims)),
             "--root", ",".join(roots), "--opponents", ",".join(opponents), "--games", str(args.games),
             "--out", args.out, "--seed", str(args.seed), "--shallow", str(args.shallow), "--deep", str(deep),
             "--opening-plies", str(opening_plies),
             "--fidelity-games", str(args.fidelity_games), "--bootstrap", str(args.bootstrap)]
    if args.positions is not None:
        parts += ["--positions", str(args.positions)]
    return shlex.join(parts)


def check_learned_roots(checkpoints: Sequence[CheckpointInfo], roots: Sequence[str]) -> None:
    """UsageError (one line) when a root would search the learned model of a checkpoint whose
    run never trained it (``loss.unroll_steps=0``): its g is random weights."""
    untrained = [info.path for info in checkpoints if not info.learned_model_trained]
    learned = [root for root in roots if Root.parse(root).model == "learned"]
    if untrained and learned:
        raise UsageError(f"{untrained[0]} was trained without an unroll (loss.unroll_steps=0), so its learned "
                         f"model is untrained: give --root over the rules only, e.g. "
                         f"{','.join(str(Root.parse(root).over_rules) for root in learned)}")


def apply_benchmark(args: argparse.Namespace) -> tuple[list[int], str | None]:
    """Fill the flags left unset from ``--experiment``'s [benchmark] table (in place), and
    return simulation counts the ladder must include and the recipe's game (None without one)."""
    if args.experiment is None:
        args.games = DEFAULT_GAMES if args.games is None else args.games
        args.root = args.root or DEFAULT_ROOTS
        return [], None
    from selfplay.experiments import load_experiment

    experiment = load_experiment(args.experiment)
    bench = experiment.benchmark
    if bench is None:
        raise UsageError(f"experiment {args.experiment} has no [benchmark] table: give the flags instead")
    args.games = bench.games if args.games is None else args.games
    args.root = args.root or ",".join(bench.roots)
    if args.opponents is None and bench.opponents:
        args.opponents = ",".join(dict.fromkeys([ANCHOR, *bench.opponents]))   # ratings need the anchor
    if args.deep is None:
        args.deep = bench.sims
    if args.sims is None:   # policy-only, shallow and the benchmark's budget: the short ladder it asks for
        args.sims = ",".join(str(sims) for sims in sorted({0, args.shallow, bench.sims}))
    return [bench.sims], experiment.config.game.name


def run(args: argparse.Namespace) -> int:
    required_sims, recipe_game = apply_benchmark(args)
    for name, value, low in (("--games", args.games, 1), ("--bootstrap", args.bootstrap, 0),
                             ("--fidelity-games", args.fidelity_games, 0), ("--chunk", args.chunk, 1),
                             ("--shallow", args.shallow, 0)):
        if value < low:
            raise UsageError(f"{name} must be at least {low}, not {value}")
    if args.positions is not None and args.positions < 1:
        raise UsageError(f"--positions must be at least 1, not {args.positions}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    roots = parse_roots(args.root)
    explicit_sims = parse_sims_list(args.sims) if args.sims is not None else None
    explicit_opponents = parse_opponents(args.opponents) if args.opponents is not None else None
    game, checkpoints = load_checkpoints(args.checkpoint)
    if recipe_game is not None and recipe_game != game.name:
        raise UsageError(f"experiment {args.experiment} is a {recipe_game} recipe, but the checkpoints are {game.name}")
    defaults = GAME_DEFAULTS.get(game.name, GameDefaults())
    sims = explicit_sims or sorted({*defaults.sims, *required_sims})
    opponents = explicit_opponents or defaults.opponents
    deep = args.deep if args.deep is not None else defaults.deep
    if deep < 0:
        raise UsageError(f"--deep must be at least 0, not {deep}")
    check_learned_roots(checkpoints, roots)
    from selfplay.players import validate_player_spec

    for spec in opponents:
        validate_player_spec(spec, game)
    from selfplay.openings import default_opening_plies, random_openings

    opening_plies = default_opening_plies(game) if args.opening_plies is None else args.opening_plies
    random_openings(game, 1, opening_plies, args.seed)          # a bad --opening-plies is one line, now
    plan = make_plan(game, checkpoints, sims, roots, opponents, args.games, args.seed, args.shallow, deep,
                     chunk=args.chunk, opening_plies=opening_plies)
    workers = args.workers or max(1, min(2, os.cpu_count() or 1))
    out_dir = Path(args.out)
    raw = execute(plan, out_dir, workers=workers, positions=args.positions, fidelity_games=args.fidelity_games,
                  progress=True)
    command = canonical_command(args, sims, roots, opponents, deep, opening_plies)
    results = summarize(plan, raw, bootstrap=args.bootstrap, command=command, positions=args.positions)
    from selfplay.report import write_outputs

    written = write_outputs(results, out_dir, tensorboard=not args.no_tensorboard)
    if args.json:
        print(json.dumps(json.loads(written["results"].read_text())))
    else:
        from selfplay.summary import print_summary

        print_summary(results)
        print(f"{results['totals']['games']} games ({results['totals']['cached_games']} cached) in "
              f"{results['totals']['seconds']:.0f} s; report: {written['report']}")
    return 0
