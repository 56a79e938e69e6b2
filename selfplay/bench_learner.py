"""`ponder bench learner`: learner steps per second, in each precision, on real replay batches.

The trainer's other half: a time-boxed run gets as many learner steps as this allows (the
actors are throttled to a fixed ratio of samples per position). The replay is filled with
games from a self-play `Actor` so that sampling, augmentation and the consistency loss's
target planes cost what they cost in a run; the network is the preset's (random weights:
speed does not depend on them). Precisions are timed in alternation, repeat by repeat, so a
noisy shared machine affects them alike; the ratio of medians is the figure to quote.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from selfplay.config import PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--game", required=True, help="game to train (see `ponder games`)")
    parser.add_argument("--precision", default="fp32,bf16",
                        help=f"comma-separated learner precisions to compare ({', '.join(PRECISIONS)})")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per precision; medians reported")
    parser.add_argument("--steps", type=int, default=5, help="learner steps per repeat (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the trainer's learner uses 1 on 2 cores)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the preset like `ponder train` does, e.g. learner.batch_size=128")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def selfplay_games(game, config, count: int, seed: int) -> list:
    """At least ``count`` finished games from one `Actor`, the trainer's own path to the replay,
    with the preset's untrained network and one simulation a move (what the batches cost does
    not depend on how well the games were played)."""
    import dataclasses

    from agent.agent import Agent
    from agent.networks import MuZeroNetwork
    from selfplay.actor import Actor

    agent = Agent(MuZeroNetwork(game, config.network), game, device="cpu")
    search = dataclasses.replace(config.search, num_simulations=1)
    actor = Actor(game, agent, search, config.actor, np.random.default_rng(seed))
    games: list = []
    while len(games) < count:
        games.extend(actor.play_move())
    return games


def measure(game_name: str, precisions: list[str], repeats: int, steps: int, threads: int,
            seed: int = 0, overrides: tuple[str, ...] = ()) -> dict:
    """Time ``steps`` learner steps per repeat for each precision in turn; medians per precision."""
    import torch

    from agent.networks import MuZeroNetwork
    from envs.registry import get_game
    from selfplay.config import apply_overrides, preset
    from selfplay.learner import Learner
    from selfplay.replay import Replay

    torch.set_num_threads(threads)
    game = get_game(game_name)
    config = apply_overrides(preset(game.name), list(overrides))
    rng = np.random.default_rng(seed)
    replay = Replay.from_config(config)
    for history in selfplay_games(game, config, 200, seed):
        replay.add_game(history)
    learners = {}
    for precision in precisions:
        torch.manual_seed(seed)
        learner_config = apply_overrides(config, [f"learner.precision={precision}"])
        learners[precision] = Learner(MuZeroNetwork(game, config.network), learner_config, torch.device("cpu"))
    batch_size = config.learner.batch_size
    rates: dict[str, list[float]] = {precision: [] for precision in precisions}
    for repeat in range(repeats + 1):                   # repeat 0 warms up (allocations, oneDNN kernels)
        for precision, learner in learners.items():
            started = time.perf_counter()
            for _ in range(steps):
                learner.train_step(replay.sample(batch_size, rng), replay)
            if repeat > 0:
                rates[precision].append(steps / (time.perf_counter() - started))
    medians = {precision: statistics.median(values) for precision, values in rates.items()}
    return {
        "game": game.name, "batch": batch_size, "unroll_steps": config.loss.unroll_steps,
        "consistency": config.loss.consistency, "threads": threads, "repeats": repeats,
        "steps_per_repeat": steps, "network": config.network.to_dict(),
        "steps_per_second": medians, "steps_per_second_all": rates,
        "speedup_vs_first": {precision: medians[precision] / medians[precisions[0]] for precision in precisions},
    }


def run(args: argparse.Namespace) -> int:
    from envs.errors import UsageError
    from envs.registry import get_game

    for name in ("repeats", "steps", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1")
    precisions = [item.strip() for item in args.precision.split(",") if item.strip()]
    unknown = [item for item in precisions if item not in PRECISIONS]
    if not precisions or unknown:
        raise UsageError(f"--precision: expected some of {', '.join(PRECISIONS)}, got {args.precision!r}")
    get_game(args.game)
    print(f"ponder bench learner: {args.game}, {', '.join(precisions)}, {args.repeats} repeats ...", file=sys.stderr)
    result = measure(args.game, precisions, args.repeats, args.steps, args.threads, overrides=tuple(args.overrides))
    if args.json:
        print(json.dumps(result))
        return 0
    for precision in precisions:
        print(f"{result['game']} {precision}: {result['steps_per_second'][precision]:.2f} learner steps/s "
              f"(median of {result['repeats']}; batch {result['batch']}, K = {result['unroll_steps']}, "
              f"{result['threads']} torch thread), x{result['speedup_vs_first'][precision]:.2f} of {precisions[0]}")
    return 0
