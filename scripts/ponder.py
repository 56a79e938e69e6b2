"""`ponder`: a thin dispatcher over the subcommands that live in the packages.

Each subcommand's options and run function belong to the package that owns the feature
(docs/architecture.md): a command module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Command modules are imported only when their subcommand runs, so `ponder games` does not
pay for importing torch. Every usage error, here or raised as ``envs.errors.UsageError``
by a command, becomes one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn, Sequence

# name -> (module implementing it, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "games": ("envs.cli", "list the built-in and registered games"),
    "train": ("selfplay.train_cli", "self-play training into a run folder"),
    "experiments": ("selfplay.experiments_cli", "list the recipes `ponder train --experiment` reproduces"),
    "play": ("agent.play", "play against the agent (or any player) in the terminal"),
    "arena": ("selfplay.arena", "play a seeded match between two players"),
    "ablate": ("selfplay.ablation_cli", "measure how much search adds on top of the network"),
    "tradeoff": ("selfplay.tradeoff_cli", "what a doubling of search is worth in training compute, from a run"),
    "fit-model": ("selfplay.model_fit_cli", "fit a trained network's learned model so that its agent can search it"),
    "engine": ("agent.engine", "answer positions on stdin with JSON moves on stdout"),
}
BENCHMARKS: dict[str, tuple[str, str]] = {
    "tree": ("mcts.bench", "tree operations only (fake network), simulations per second"),
    "inference": ("agent.bench", "network evaluations per second, initial and recurrent"),
    "selfplay": ("selfplay.bench", "self-play positions per second (actors only)"),
    "learner": ("selfplay.bench_learner", "learner steps per second on replay batches, fp32 against bf16"),
    "soak": ("selfplay.soak", "a long training run's resident memory and disk, sampled: flat after warm-up?"),
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _top_level_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="ponder",
        description="ponder: a MuZero-style agent with a compiled tree search, "
        "trained by self-play, and an ablation harness that measures what search adds.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary)
    sub.add_parser("bench", help="benchmarks: " + ", ".join(BENCHMARKS))
    return parser


def _command_parser(prog: str, module_name: str, summary: str) -> tuple[OneLineParser, object]:
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=prog, description=(module.__doc__ or summary).strip().splitlines()[0])
    module.add_arguments(parser)
    return parser, module


def main(argv: Sequence[str] | None = None) -> int:
    from envs.errors import UsageError

    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_level_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "bench":
        if not rest or rest[0] not in BENCHMARKS:
            if rest and rest[0] in ("-h", "--help"):
                print("usage: ponder bench {" + ",".join(BENCHMARKS) + "} [options] [--json]")
                for bench_name, (_, summary) in BENCHMARKS.items():
                    print(f"  {bench_name:10s} {summary}")
                return 0
            top.exit(2, f"ponder bench: error: choose one of {', '.join(BENCHMARKS)}\n")
        module_name, summary = BENCHMARKS[rest[0]]
        prog, rest = f"ponder bench {rest[0]}", rest[1:]
    elif name in COMMANDS:
        module_name, summary = COMMANDS[name]
        prog = f"ponder {name}"
    else:
        top.exit(2, f"ponder: error: unknown command {name!r} (choose from {', '.join([*COMMANDS, 'bench'])})\n")

    parser, module = _command_parser(prog, module_name, summary)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
