"""`ponder games [--json]`: list the built-in and registered games with their sizes.

For each game: the action count A, the observation planes (C, H, W) and the board shape,
at the default options. Registered ``module:factory`` games appear when registered.
"""
from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def describe_games() -> list[dict]:
    """One dict per registered game: name, options, num_actions, observation_shape, board_shape."""
    from envs.registry import game_names, get_game

    rows = []
    for name in game_names():
        game = get_game(name)
        rows.append({"name": name, "options": dict(game.options), "num_actions": game.num_actions,
                     "observation_shape": list(game.observation_shape), "board_shape": list(game.board_shape)})
    return rows


def run(args: argparse.Namespace) -> int:
    rows = describe_games()
    if args.json:
        print(json.dumps({"games": rows}))
        return 0
    print(f"{'game':14s} {'actions':>7s}  {'planes (C,H,W)':16s} options")
    for row in rows:
        shape = "x".join(str(v) for v in row["observation_shape"])
        options = ", ".join(f"{k}={v}" for k, v in row["options"].items()) or "-"
        print(f"{row['name']:14s} {row['num_actions']:7d}  {shape:16s} {options}")
    return 0
