"""Strength against training time, measured after the run from its saved checkpoints.

A run keeps only its last few checkpoints, and its in-training evaluation is small (20 games
against weak baselines) so that it costs the learner little. For a curve against a strong
opponent, keep every checkpoint while the run goes (copy ``RUN/checkpoints/step_*.pt``
somewhere, or raise ``trainer.keep_checkpoints``), then play each one here: seeded
`ponder arena` matches of the agent at ``--sims`` against every ``--opponent``. The x axis is
the checkpoint's cumulative training wall-clock (``elapsed_seconds``, summed over resumes).

    python scripts/checkpoint_curve.py SNAPSHOT_DIR --opponent alphabeta:4 --opponent heuristic \\
        --sims 200 --games 20 --every-minutes 15 --out curve.png --markdown curve.md

With ``--cache DIR`` each match's result is kept there (`ponder arena --json`'s object) and
read back instead of replayed: a curve can be played while the run trains, checkpoint by
checkpoint as they appear, and an interrupted one resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.player import default_root
from agent.roots import ROOTS


@dataclass(frozen=True)
class Snapshot:
    path: Path
    step: int
    minutes: float


def list_snapshots(sources: list[Path]) -> list[Snapshot]:
    """Every ``step_*.pt`` in the given folders (or the given files), sorted by step."""
    from agent.checkpoint import load_checkpoint

    files: list[Path] = []
    for source in sources:
        files.extend(sorted(source.glob("step_*.pt")) if source.is_dir() else [source])
    snapshots = []
    for path in files:
        checkpoint = load_checkpoint(path)
        snapshots.append(Snapshot(path, checkpoint.step, float(checkpoint.extra.get("elapsed_seconds", 0.0)) / 60.0))
    return sorted(snapshots, key=lambda snapshot: snapshot.step)


def thin(snapshots: list[Snapshot], every_minutes: float) -> list[Snapshot]:
    """The first snapshot at or after each multiple of ``every_minutes``, plus the last one."""
    if every_minutes <= 0 or not snapshots:
        return snapshots
    chosen, next_mark = [], 0.0
    for snapshot in snapshots:
        if snapshot.minutes >= next_mark:
            chosen.append(snapshot)
            next_mark = (snapshot.minutes // every_minutes + 1) * every_minutes
    if chosen[-1] is not snapshots[-1]:
        chosen.append(snapshots[-1])
    return chosen


def cached_match(cache: Path | None, game, snapshot: Snapshot, agent: str, opponent: str, games: int, seed: int,
                 workers: int | None):
    """The summary of ``agent`` against ``opponent``: from ``cache`` when that match is there
    (same players, checkpoint file included, games and seed), else played (and written there)."""
    from selfplay.arena import MatchSummary, play_match

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"step{snapshot.step}_{agent.split(':', 2)[-1]}_{opponent}_{games}g_s{seed}")
    file = cache / f"{name}.json" if cache else None
    if file is not None and file.is_file():
        data = json.loads(file.read_text())
        if (data["a"], data["b"]) == (agent, opponent):      # another run's checkpoint of that step is replayed
            return MatchSummary(**{**data, "score_ci95": tuple(data["score_ci95"])})
    summary = play_match(game, agent, opponent, games, seed=seed, workers=workers).summary
    if file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(summary.to_json()))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="folders of step_*.pt checkpoints, or files")
    parser.add_argument("--opponent", action="append", required=True, help="baseline PLAYER (repeatable)")
    parser.add_argument("--sims", type=int, default=200, help="agent simulations per move (0 = policy-only)")
    parser.add_argument("--root", choices=ROOTS,
                        help="the agent's root (default puct, over the rules for a run trained over them)")
    parser.add_argument("--games", type=int, default=20, help="games per checkpoint and opponent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every-minutes", type=float, default=0.0, help="thin to one checkpoint per this many minutes")
    parser.add_argument("--out", type=Path, help="PNG plot")
    parser.add_argument("--markdown", type=Path, help="markdown table")
    parser.add_argument("--cache", type=Path, help="folder that keeps each match's result (reused when there)")
    parser.add_argument("--workers", type=int, help="arena processes (default: one per core)")
    args = parser.parse_args()

    from envs.errors import UsageError
    from envs.registry import get_game
    from scripts.training_curves import publish

    try:
        snapshots = thin(list_snapshots(args.sources), args.every_minutes)
        if not snapshots:
            raise UsageError("no step_*.pt checkpoints in " + ", ".join(map(str, args.sources)))
        from agent.agent import training_search_model
        from agent.checkpoint import load_checkpoint

        first = load_checkpoint(snapshots[0].path)
        root = args.root or default_root(training_search_model(first.config))   # one run: one root
        game = get_game(first.game, **first.game_options)
        rows = []
        for snapshot in snapshots:
            scores = {}
            for opponent in args.opponent:
                agent = f"agent:{snapshot.path}:{args.sims}:{root}"
                summary = cached_match(args.cache, game, snapshot, agent, opponent, args.games, args.seed,
                                       args.workers)
                scores[opponent] = summary
                print(f"step {snapshot.step:>6} ({snapshot.minutes:5.1f} min) vs {opponent}: "
                      f"{summary.score:.3f} ({summary.a_wins}-{summary.draws}-{summary.b_wins})", file=sys.stderr)
            rows.append((snapshot, scores))
    except UsageError as error:
        print(f"checkpoint_curve: {error}", file=sys.stderr)
        return 2

    lines = [f"Score of the agent ({root}, {args.sims} sims) by training wall-clock, "
             f"{args.games} games per cell, seed {args.seed} (wins-draws-losses):", "",
             "| minutes | step | " + " | ".join(f"vs {o}" for o in args.opponent) + " |",
             "|---|---|" + "---|" * len(args.opponent)]
    for snapshot, scores in rows:
        cells = [f"{s.score:.2f} ({s.a_wins}-{s.draws}-{s.b_wins})" for s in scores.values()]
        lines.append(f"| {snapshot.minutes:.0f} | {snapshot.step} | " + " | ".join(cells) + " |")
    minutes = [snapshot.minutes for snapshot, _ in rows]
    series = {f"vs {opponent}": (minutes, [scores[opponent].score for _, scores in rows]) for opponent in args.opponent}
    publish("\n".join(lines) + "\n", series, f"score ({root}, {args.sims} sims)", [0.95],
            args.markdown, args.out, ylim=(-0.02, 1.02))
    return 0


if __name__ == "__main__":
    sys.exit(main())
