"""`ponder ablate`: the command line of the ablation (`selfplay.ablation`).

Flags left unset come from ``--experiment``'s [benchmark] table, else from the game's
defaults (`selfplay.ablation.GAME_DEFAULTS`); every choice is validated before a game
starts, and the report records the canonical command that reproduces it. See
docs/ablation.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path
from typing import Sequence

from agent.roots import ROOTS as ROOT_METHODS   # puct, gumbel, and each over the real rules (+rules)
from envs.errors import UsageError
from selfplay.ablation import (ANCHOR, DEFAULT_CHUNK, DEFAULT_GAMES, DEFAULT_LADDER, DEFAULT_OPPONENTS,
                               DEFAULT_ROOTS, DEFAULT_SHALLOW, GAME_DEFAULTS, GameDefaults, execute, make_plan,
                               summarize)
from selfplay.matches import (check_baselines_and_openings, check_learned_roots, load_checkpoints, parse_baselines,
                              parse_sims_list)


def parse_roots(text: str) -> tuple[str, ...]:
    roots = [part.strip() for part in text.split(",") if part.strip()]
    bad = [root for root in roots if root not in ROOT_METHODS]
    if not roots or bad:
        raise UsageError(f"--root must be a comma-separated list of {', '.join(ROOT_METHODS)}, not {text!r}")
    return tuple(dict.fromkeys(roots))



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
    explicit_opponents = parse_baselines(args.opponents, "--opponents") if args.opponents is not None else None
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
    opening_plies = check_baselines_and_openings(game, opponents, args.opening_plies, args.seed)
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
