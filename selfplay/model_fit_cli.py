"""`ponder fit-model`: fit a trained network's learned model so that its agent can search it.

Reads a checkpoint (or a run folder's latest) and the self-play games of a run's replay,
trains g, the reward head and the action heads with h and f frozen for ``--minutes``
(`selfplay.model_fit`), and writes the fitted agent to ``--out``. The settings are a
recipe's ``[model_fit]`` table (``--experiment``, or the run's own config), flags on top.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from envs.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or run folder (its checkpoints/latest.pt)")
    parser.add_argument("--replay", metavar="RUN",
                        help="run folder whose replay/games.npz to fit on (default: the checkpoint's run folder)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the fitted checkpoint")
    parser.add_argument("--experiment", metavar="GAME/NAME",
                        help="take the [model_fit] settings from this recipe (default: the checkpoint's run config)")
    parser.add_argument("--minutes", type=float, help="wall-clock budget of the fit")
    parser.add_argument("--dynamics", choices=("board", "latent"),
                        help="what g steps: the board (predicts the next planes; default) or h's hidden state")
    parser.add_argument("--detector-only", action="store_true",
                        help="keep the checkpoint's fitted board model and train only an end detector, on "
                             "positions the rules generate, for --minutes (no replay needed)")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="with --detector-only: train it for N optimizer steps instead of --minutes "
                             "(the same work on any machine, however busy)")
    parser.add_argument("--examples", type=int, metavar="N",
                        help="with --detector-only: positions to generate (default: the recipe's "
                             "model_fit.board_ends_examples)")
    parser.add_argument("--seed", type=int, help="seed of the paths and the model's initialisation")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")


def _settings(args: argparse.Namespace, checkpoint):
    from selfplay.config import ModelFitConfig

    if args.experiment:
        from selfplay.experiments import load_experiment

        values = dataclasses.asdict(load_experiment(args.experiment).config.model_fit)
    else:
        section = checkpoint.config.get("model_fit") if isinstance(checkpoint.config, dict) else None
        values = dict(section) if isinstance(section, dict) else {}
    for name in ("minutes", "dynamics", "seed", "threads"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if not args.detector_only and (args.steps is not None or args.examples is not None):
        raise UsageError("--steps and --examples are the end detector's: give them with --detector-only")
    if args.detector_only:
        if (args.minutes is None) == (args.steps is None):
            raise UsageError("give the end detector's budget: --minutes or --steps (one of them)")
        if args.steps is not None and args.steps < 1 or args.examples is not None and args.examples < 1:
            raise UsageError("--steps and --examples must be at least 1")
        if args.replay is not None or args.dynamics is not None:
            raise UsageError("--detector-only keeps the fitted model and reads no replay: "
                             "leave out --replay and --dynamics")
        values.update(board_ends=True, board_ends_minutes=args.minutes or 0.0)
        if args.examples is not None:
            values["board_ends_examples"] = args.examples
    try:
        config = ModelFitConfig(**{**dataclasses.asdict(ModelFitConfig()), **values})
    except (TypeError, ValueError) as error:
        raise UsageError(f"model_fit settings: {error}") from None
    if config.minutes <= 0 and not args.detector_only:
        raise UsageError("give --minutes (the recipe's [model_fit] minutes is 0)")
    return config


def run(args: argparse.Namespace) -> int:
    from agent.checkpoint import load_checkpoint, resolve_checkpoint_path, save_checkpoint
    from selfplay.model_fit import fit_checkpoint, load_replay_games

    path = resolve_checkpoint_path(args.checkpoint)
    checkpoint = load_checkpoint(path)
    if args.detector_only:
        return _detector_only(args, checkpoint)
    if args.replay is None and path.parent.name != "checkpoints":
        raise UsageError("give --replay RUN: the checkpoint is not inside a run folder")
    replay_folder = Path(args.replay) if args.replay else path.parent.parent
    config = _settings(args, checkpoint)
    games = load_replay_games(replay_folder)
    started = time.monotonic()

    def report(progress) -> None:
        if progress.note:
            print(f"fit-model: {progress.note}", file=sys.stderr, flush=True)
            return
        parts = " ".join(f"{name} {value:.4f}" for name, value in (progress.parts or {}).items())
        print(f"fit-model: {progress.phase} step {progress.steps}, {progress.seconds / 60:.1f} of "
              f"{progress.budget_minutes(config):g} min: "
              f"{parts}", file=sys.stderr, flush=True)

    payload, progress = fit_checkpoint(checkpoint, games, config, report=report)
    out = save_checkpoint(args.out, payload)
    print(f"{out}: model fitted in {progress.steps} steps, {(time.monotonic() - started) / 60:.1f} min, on "
          f"{payload['extra']['model_fit_positions']} positions of {replay_folder}")
    return 0


def _detector_only(args: argparse.Namespace, checkpoint) -> int:
    """``--detector-only``: the checkpoint's fitted board model plus an end detector."""
    from agent.checkpoint import save_checkpoint
    from selfplay.model_fit import add_end_detector

    config = _settings(args, checkpoint)
    started = time.monotonic()

    def report(progress) -> None:
        if progress.note:       # the check's verdict: in the last line below, or the refusal
            return
        parts = " ".join(f"{name} {value:.4g}" for name, value in (progress.parts or {}).items())
        budget = f"{args.steps} steps" if args.steps else f"{config.board_ends_minutes:g} min"
        print(f"fit-model: end detector step {progress.steps}, {progress.seconds / 60:.1f} min of {budget}: {parts}",
              file=sys.stderr, flush=True)

    payload = add_end_detector(checkpoint, config, report=report, steps=args.steps)
    out = save_checkpoint(args.out, payload)
    extra = payload["extra"]
    print(f"{out}: end detector trained in {extra['board_ends_steps']} steps on {extra['board_ends_examples']} "
          f"generated positions, {(time.monotonic() - started) / 60:.1f} min; on "
          f"{extra['board_ends_check_positions']:,} fresh ones precision {extra['board_ends_check_precision']:.2%}, "
          f"recall {extra['board_ends_check_recall']:.2%}")
    return 0
