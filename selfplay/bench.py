"""`ponder bench selfplay`: self-play positions per second of one actor, and where the time goes.

One `Actor` (the class the trainer runs in each actor process) plays B games at once with
the game's preset network (random weights: speed does not depend on them) on one torch
thread, as an actor process does. Each repeat plays a fixed number of moves and reports
positions per second; the result is the median over repeats. The network's ``initial``
and ``recurrent`` calls are timed, so the share of self-play time spent outside the
network (tree, game logic, Python glue) is measured too: the batched design aims to keep
it small.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--game", required=True, help="game to play (see `ponder games`)")
    parser.add_argument("--sims", type=int, default=50, help="simulations per move (default 50)")
    parser.add_argument("--batch", type=int, default=None, help="games played at once (default: the preset's)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    parser.add_argument("--moves", type=int, default=20, help="batched moves per repeat (default 20)")
    from mcts.config import ROOT_METHODS

    parser.add_argument("--root", choices=ROOT_METHODS, default="puct")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (an actor uses 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the preset like `ponder train` does, e.g. network.representation_blocks=3")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


class _TimedNetwork:
    """Wraps a network's two search calls to add up the seconds spent inside them."""

    def __init__(self, network) -> None:
        self.seconds = 0.0
        self._initial, self._recurrent = network.initial, network.recurrent
        network.initial, network.recurrent = self.initial, self.recurrent

    def initial(self, *args):
        started = time.perf_counter()
        try:
            return self._initial(*args)
        finally:
            self.seconds += time.perf_counter() - started

    def recurrent(self, *args):
        started = time.perf_counter()
        try:
            return self._recurrent(*args)
        finally:
            self.seconds += time.perf_counter() - started


def measure(game_name: str, sims: int, batch: int | None, repeats: int, moves: int, root: str,
            threads: int, seed: int = 0, overrides: tuple[str, ...] = ()) -> dict:
    """Play ``repeats`` x ``moves`` batched moves and return the measured figures."""
    import dataclasses

    import numpy as np
    import torch

    from agent.agent import Agent
    from agent.networks import MuZeroNetwork
    from envs.registry import get_game
    from selfplay.actor import Actor
    from selfplay.config import apply_overrides, preset

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    game = get_game(game_name)
    config = apply_overrides(preset(game.name), list(overrides))
    search = dataclasses.replace(config.search, num_simulations=sims, root=root)
    actor_config = config.actor if batch is None else dataclasses.replace(config.actor, games_per_actor=batch)
    network = MuZeroNetwork(game, config.network).eval()
    timer = _TimedNetwork(network)
    agent = Agent(network, game, device="cpu")
    actor = Actor(game, agent, search, actor_config, np.random.default_rng(seed))
    actor.play_move()                                  # warm-up: allocations, first calls
    rates, outside_shares = [], []
    for _ in range(repeats):
        timer.seconds = 0.0
        positions_before = actor.positions
        started = time.perf_counter()
        for _ in range(moves):
            actor.play_move()
        seconds = time.perf_counter() - started
        rates.append((actor.positions - positions_before) / seconds)
        outside_shares.append(1.0 - timer.seconds / seconds)
    return {
        "game": game.name, "sims": sims, "root": root, "batch": actor_config.games_per_actor,
        "threads": threads, "repeats": repeats, "moves_per_repeat": moves,
        "network": config.network.to_dict(),
        "positions_per_second": statistics.median(rates),
        "positions_per_second_all": rates,
        "share_outside_network": statistics.median(outside_shares),
        "games_finished": actor.finished_games,
    }


def run(args: argparse.Namespace) -> int:
    from envs.errors import UsageError
    from envs.registry import get_game

    for name in ("sims", "repeats", "moves", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1")
    if args.batch is not None and args.batch < 1:
        raise UsageError("--batch must be >= 1")
    get_game(args.game)
    print(f"ponder bench selfplay: {args.game}, {args.sims} sims, {args.repeats} repeats ...", file=sys.stderr)
    result = measure(args.game, args.sims, args.batch, args.repeats, args.moves, args.root, args.threads,
                     overrides=tuple(args.overrides))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['game']}: {result['positions_per_second']:.1f} self-play positions/s "
              f"(median of {result['repeats']}; {result['batch']} games at once, {result['sims']} sims "
              f"{result['root']}, {result['threads']} torch thread); "
              f"{result['share_outside_network']:.1%} of the time outside the network")
    return 0
