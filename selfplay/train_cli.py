"""`ponder train`: self-play training of a game into a run folder (resumable).

The config is the game's preset, then ``--config FILE.toml``, then ``--set section.key=value``
pairs, then the dedicated flags (``--sims``, ``--actors``, ...). ``--steps`` and ``--minutes``
bound this invocation (a resumed run continues its step count from the checkpoint); the other
budget, when given with ``--set``, bounds it too: whichever comes first stops the run.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mcts.config import ROOT_METHODS

    parser.add_argument("--game", help="game to train (see `ponder games`); optional with --resume or --experiment")
    parser.add_argument("--experiment", metavar="GAME/NAME",
                        help="start from a recipe (see `ponder experiments`) instead of the game's base")
    parser.add_argument("--out", required=True, help="run folder (config.toml, checkpoints/, tb/, replay/)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="train this many minutes (this invocation)")
    budget.add_argument("--steps", type=int, help="train this many learner steps (this invocation)")
    parser.add_argument("--actors", type=int, help="self-play actor processes (default: the preset's)")
    parser.add_argument("--sims", type=int, help="simulations per self-play move")
    parser.add_argument("--root", choices=ROOT_METHODS, help="root selection of the self-play search")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="learner device (default auto)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local", help="where actors run")
    parser.add_argument("--address", help="Ray cluster address for --backend ray (default: a private local Ray)")
    parser.add_argument("--seed", type=int, help="seed of every random generator (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--config", type=Path, help="TOML file over the preset")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. learner.batch_size=128 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def resolve_config(args: argparse.Namespace):
    """The run config from preset/run folder, --config, --set and flags; UsageError if bad."""
    from envs.errors import UsageError
    from envs.registry import get_game
    from selfplay import config as run_config

    out = Path(args.out)
    config_path = out / "config.toml"
    if args.resume:
        if not config_path.exists():
            raise UsageError(f"--resume: {out} holds no run (no config.toml); start one without --resume")
        config = run_config.read_toml(config_path)
        if args.game and args.game != config.game.name:
            raise UsageError(f"--resume: {out} is a {config.game.name} run, not {args.game}")
        if args.experiment:
            raise UsageError("--resume continues the run's own config.toml: drop --experiment")
    else:
        experiment = None
        if args.experiment:
            from selfplay.experiments import load_experiment

            experiment = load_experiment(args.experiment)
            if args.game and args.game != experiment.config.game.name:
                raise UsageError(f"--experiment {args.experiment} is a {experiment.config.game.name} recipe, "
                                 f"not {args.game}")
        elif not args.game:
            raise UsageError("--game or --experiment is required (unless --resume)")
        if out.exists() and (config_path.exists() or (out / "checkpoints").exists()):
            raise UsageError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        if experiment is not None:
            config = experiment.config
        else:
            get_game(args.game)   # UsageError for an unknown game, before any work
            config = run_config.preset(args.game)
    if args.config is not None:
        config = run_config.read_toml(args.config, base=config)
    config = run_config.apply_overrides(config, args.assignments)
    flags = {
        ("actor", "num_actors"): args.actors,
        ("search", "num_simulations"): args.sims,
        ("search", "root"): args.root,
        ("learner", "device"): args.device,
        ("trainer", "seed"): args.seed,
    }
    for (section, key), value in flags.items():
        if value is not None:
            config = run_config.apply_overrides(config, [f"{section}.{key}={_toml_literal(value)}"])
    trainer = config.trainer
    # A budget flag replaces the other budget of the preset (tic-tac-toe's 5 minutes must not
    # cut `--steps 10000` short), but one set explicitly with --set stays as a second bound.
    explicit = {assignment.split("=", 1)[0].strip() for assignment in args.assignments}
    if args.steps is not None:
        if args.steps < 1:
            raise UsageError("--steps must be >= 1")
        minutes = trainer.max_minutes if "trainer.max_minutes" in explicit else 0.0
        trainer = dataclasses.replace(trainer, max_steps=args.steps, max_minutes=minutes)
    elif args.minutes is not None:
        if not args.minutes > 0:
            raise UsageError("--minutes must be > 0")
        steps = trainer.max_steps if "trainer.max_steps" in explicit else 0
        trainer = dataclasses.replace(trainer, max_steps=steps, max_minutes=float(args.minutes))
    trainer = dataclasses.replace(trainer, backend=args.backend)
    config = dataclasses.replace(config, trainer=trainer)
    run_config.check_trainable(config)
    return config


def _toml_literal(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def run(args: argparse.Namespace) -> int:
    from envs.errors import UsageError

    config = resolve_config(args)
    if args.address and config.trainer.backend != "ray":
        raise UsageError("--address needs --backend ray")
    if not config.trainer.max_steps and not config.trainer.max_minutes:
        print("ponder train: no --steps or --minutes: training until Ctrl-C", flush=True)
    if config.trainer.backend == "ray":
        from selfplay.ray_backend import run_ray_training

        summary = run_ray_training(config, Path(args.out), resume=args.resume,
                                   show_progress=not args.quiet, address=args.address)
    else:
        from selfplay.local_backend import LocalBackend
        from selfplay.session import train

        summary = train(config, Path(args.out), args.resume, LocalBackend(), show_progress=not args.quiet)
    _print_summary(summary, args.out)
    if summary.stopped_by == "interrupt":
        return 130
    if config.model_fit.minutes > 0:
        return _fit_model(config, Path(args.out), quiet=args.quiet)
    return 0


def _fit_model(config, out: Path, quiet: bool) -> int:
    """The recipe's [model_fit] phase after self-play (`selfplay.model_fit.fit_run`)."""
    import signal
    import sys

    from selfplay.model_fit import fit_run

    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    fit = config.model_fit

    def report(progress) -> None:
        if progress.note:
            print(f"ponder train: {progress.note}", file=sys.stderr, flush=True)
        elif not quiet:
            print(f"ponder train: fitting the {'learned model' if progress.phase == 'model' else progress.phase}, "
                  f"step {progress.steps}, {progress.seconds / 60:.1f} of {progress.budget_minutes(fit):g} min",
                  file=sys.stderr, flush=True)

    try:
        board = f"its board model alone for {fit.board_pretrain_minutes:g} min, then " \
            if fit.board_pretrain_minutes > 0 else ""
        detector = f", then its end detector for {fit.board_ends_minutes:g}" if fit.board_ends_minutes > 0 else ""
        print(f"ponder train: fitting the learned model to the network: {board}{fit.minutes:g} min{detector} "
              f"(model_fit; h and f frozen)", flush=True)
        fitted = fit_run(out, fit, report=report, should_stop=lambda: bool(interrupted))
    finally:
        signal.signal(signal.SIGINT, previous)
    if fitted is None:
        print("ponder train: interrupted during the model fit; nothing written, --resume fits again",
              file=sys.stderr)
        return 130
    print(f"ponder train: fitted agent {fitted} (it searches its learned model)", flush=True)
    return 0


def _print_summary(summary, out) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ponder train: {out}", show_header=False)
    table.add_row("stopped by", summary.stopped_by)
    table.add_row("learner step", f"{summary.step} (+{summary.steps_this_session} this run)")
    minutes = summary.seconds / 60
    table.add_row("wall time", f"{minutes:.1f} min")
    table.add_row("self-play", f"{summary.games} games, {summary.positions} positions "
                  f"({summary.positions / max(summary.seconds, 1e-9):.0f} positions/s)")
    table.add_row("samples trained", f"{summary.samples_trained}")
    for name, value in sorted(summary.evaluation.items()):
        table.add_row(name, f"{value:.3f}")
    table.add_row("checkpoint", str(summary.checkpoint))
    table.add_row("tensorboard", f"tensorboard --logdir {Path(out) / 'tb'}")
    Console().print(table)
