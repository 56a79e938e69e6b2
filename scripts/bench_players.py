"""Benchmark: seconds per move of baseline players from a game's initial position (median of repeats).

The issue's target: a `rollout-mcts:1000` move from Connect Four's initial position under
0.5 s on one core. Usage: python -m scripts.bench_players [--game G] [--player P ...] [--repeats R] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="connect_four")
    parser.add_argument("--player", action="append", default=None,
                        help="PLAYER string (repeatable; default rollout-mcts:1000, alphabeta:4, heuristic)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from envs.registry import get_game
    from envs.players import parse_player

    game = get_game(args.game)
    results = {}
    for spec in args.player or ["rollout-mcts:1000", "alphabeta:4", "heuristic"]:
        player = parse_player(spec, game, seed=0)
        state = game.initial_state()
        player.act_batch([state])  # warm-up
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            player.act_batch([state])
            seconds.append(time.perf_counter() - start)
        results[spec] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                         "repeats": args.repeats}
    if args.json:
        print(json.dumps({"game": game.name, "players": results}))
    else:
        for spec, row in results.items():
            print(f"{game.name} {spec:20s} median {row['median_s'] * 1000:8.2f} ms/move "
                  f"(min {row['min_s'] * 1000:.2f}, max {row['max_s'] * 1000:.2f}, {row['repeats']} repeats)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
