"""Games between configured players, played in cached, seeded chunks: the engine under
`ponder ablate` and `ponder tradeoff`.

A player is a `PlayerConfig`: an agent (checkpoint, simulations, root) or a baseline PLAYER
string. A `MatchPlan` pairs two of them for a number of games, under a key that fingerprints
everything that decides those games (game, seed, chunk size, both players and the checkpoint
files' digests, the opening length). Games are played by the arena's lock-step `play_games`
in chunks (`play_chunk`, one worker job), every pair of games from its own seeded random
opening with colours swapped; each finished chunk is appended whole to ``games.jsonl``
(`append_jsonl`), so an interrupted command resumes without replaying it (`cached_chunks`).

The command-line checks that both commands share are here too: the simulation ladder, the
baseline players, the opening length, and the refusal to search an untrained learned model.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from agent.roots import Root
from envs.errors import UsageError

GAMES_FILE = "games.jsonl"

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


# --- command-line checks shared by ablate and tradeoff ---------------------------------------------

def parse_sims_list(text: str) -> tuple[int, ...]:
    """"0,1,2,4" -> (0, 1, 2, 4), sorted and unique; UsageError (one line) if malformed."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part.isdigit() for part in parts):
        raise UsageError(f"--sims must be comma-separated non-negative integers like 0,1,2,4,8, not {text!r}")
    values = sorted({int(part) for part in parts})
    if values[-1] > 100_000:
        raise UsageError(f"--sims {values[-1]} is more simulations per move than this harness allows (100000)")
    return tuple(values)


def parse_baselines(text: str, flag: str) -> tuple[str, ...]:
    """"random,heuristic" -> ("random", "heuristic"): baseline PLAYER strings for ``flag``, in
    order, no repeats; UsageError (one line) if malformed or an agent."""
    players = [part.strip() for part in text.split(",")]
    if not text.strip() or not all(players):
        raise UsageError(f"{flag} must be comma-separated PLAYER strings, not {text!r}")
    if any(part.startswith("agent:") for part in players):
        raise UsageError(f"{flag} takes baseline players (random, heuristic, alphabeta:D, rollout-mcts:N, perfect); "
                         "give agents with --checkpoint or --run")
    return tuple(dict.fromkeys(players))


def check_baselines_and_openings(game, baselines: Sequence[str], opening_plies: int | None, seed: int) -> int:
    """Validate the baseline PLAYER strings for ``game`` and the opening length (None: the
    game's default) before any game starts; returns the opening length."""
    from selfplay.openings import default_opening_plies, random_openings
    from selfplay.players import validate_player_spec

    for spec in baselines:
        validate_player_spec(spec, game)
    plies = default_opening_plies(game) if opening_plies is None else opening_plies
    random_openings(game, 1, plies, seed)          # a bad --opening-plies is one line, now
    return plies

def check_learned_roots(checkpoints: Sequence[CheckpointInfo], roots: Sequence[str]) -> None:
    """UsageError (one line) when a root would search the learned model of a checkpoint whose
    run never trained it (``loss.unroll_steps=0``): its g is random weights."""
    untrained = [info.path for info in checkpoints if not info.learned_model_trained]
    learned = [root for root in roots if Root.parse(root).model == "learned"]
    if untrained and learned:
        raise UsageError(f"{untrained[0]} was trained without an unroll (loss.unroll_steps=0), so its learned "
                         f"model is untrained: give --root over the rules only, e.g. "
                         f"{','.join(str(Root.parse(root).over_rules) for root in learned)}")


# --- the players' checkpoints and the match keys ----------------------------------------------------

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


# --- the game cache ----------------------------------------------------------------------------------

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


# --- worker jobs -------------------------------------------------------------------------------------
_AGENTS: dict[str, Any] = {}   # per worker process: checkpoint path -> Agent


def cached_agent(path: str):
    """The `Agent` of a checkpoint file, loaded once per worker process."""
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

    return AgentPlayer(cached_agent(player["path"]), player["sims"], "puct" if player["root"] == "policy" else player["root"])


def _network_evals(player) -> int:
    try:
        return int((player.stats() or {}).get("network_evals", 0))
    except (AttributeError, TypeError, ValueError):
        return 0


def play_chunk(job: dict) -> dict:
    """Worker entry: play one chunk of one match; its game rows, with time and network
    evaluations per move for each side."""
    import torch

    torch.set_num_threads(1)
    from envs.registry import get_game
    from selfplay.arena import play_games
    from selfplay.openings import random_openings

    game = get_game(job["game"], **job["options"])
    start, stop = job["chunk"]
    player_a = _build_player(job["a"], game, _chunk_seed(job["match"], start, 0))
    player_b = _build_player(job["b"], game, _chunk_seed(job["match"], start, 1))
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


def games_job(game_name: str, options: dict, match: MatchPlan, start: int, stop: int, *, seed: int,
              opening_plies: int, checkpoints: dict[str, CheckpointInfo]) -> dict:
    """The `play_chunk` job for games ``start``..``stop`` of ``match``."""
    return {"game": game_name, "options": options, "type": "games", "match": match.key, "chunk": [start, stop],
            "opening_plies": opening_plies, "seed": seed,
            "a": player_job_dict(match.a, checkpoints), "b": player_job_dict(match.b, checkpoints)}


def games_job_cost(job: dict) -> float:
    """Rough relative cost of a games job, to start the longest first and keep every worker busy."""
    sims = sum(side.get("sims") or 0 for side in (job["a"], job["b"]))
    heavy = sum(1000 if "rollout" in side["spec"] else 0 for side in (job["a"], job["b"]))
    return (job["chunk"][1] - job["chunk"][0]) * (1 + sims + heavy)

def player_job_dict(player: PlayerConfig, checkpoints: dict[str, CheckpointInfo]) -> dict:
    data = player.as_dict()
    if player.kind == "agent":
        data["path"] = checkpoints[player.checkpoint].path
    return data


# --- progress ----------------------------------------------------------------------------------------

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
