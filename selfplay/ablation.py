"""The ablation: how much does explicit search add on top of the network?

For each checkpoint, each simulation count (0 = policy-only) and each root method, an
agent player; plus baseline opponents. Every agent configuration plays every opponent,
neighbouring rungs of each ladder play each other, and neighbouring opponents play each
other (so the opponents' own ratings rest on more than the agents' games). Games are
played in seeded, cached chunks by `selfplay.matches` (shared with `ponder tradeoff`), so
an interrupted ablation resumes without replaying them. Then: Bradley-Terry Elo with
bootstrap intervals (`selfplay.ratings`), accuracy against perfect play
(`selfplay.accuracy`), learned-model fidelity by depth (`selfplay.fidelity`), and the
report, results.json, plots and TensorBoard scalars (`selfplay.report`).

Per-game defaults: tic-tac-toe is solved by a few dozen simulations, so its default ladder
stops at 64 (deep = 64) and it adds the `perfect` opponent; other games use the full
ladder 0..256 (deep = 128). See docs/ablation.md.

This module plans and measures; `selfplay.ablation_cli` is its command line.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agent.roots import Root
from envs.errors import UsageError
from selfplay.matches import (GAMES_FILE, CheckpointInfo, JobProgress, MatchPlan, PlayerConfig, append_jsonl,
                              cached_agent, cached_chunks, chunk_ranges, games_job, games_job_cost, match_key,
                              play_chunk, read_jsonl)

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



# --- planning ----------------------------------------------------------------------------------------


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


ACCURACY_FILE = "accuracy.jsonl"
FIDELITY_FILE = "fidelity.jsonl"


# --- worker jobs -------------------------------------------------------------------------------------


def run_job(job: dict) -> dict:
    """Worker entry: play one chunk of games, or measure one accuracy or fidelity item."""
    if job["type"] == "games":
        return play_chunk(job)
    import torch

    torch.set_num_threads(1)
    from envs.registry import get_game

    game = get_game(job["game"], **job["options"])
    agent = cached_agent(job["path"])
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


def job_cost(job: dict) -> float:
    """Rough relative cost, to start the longest jobs first and keep both workers busy."""
    if job["type"] == "games":
        return games_job_cost(job)
    if job["type"] == "accuracy":
        return 200 * (1 + job["sims"])
    return 5000


# --- running -----------------------------------------------------------------------------------------


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
                jobs.append(games_job(plan.game_name, plan.game_options, match, start, stop, seed=plan.seed,
                                      opening_plies=plan.opening_plies, checkpoints=checkpoints))
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
