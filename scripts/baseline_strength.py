"""How strong and how fast is `alphabeta:D` on a game? Seconds per move and scores against baselines.

For each depth D: the median and max seconds per move of `alphabeta:D` over ``--positions``
positions reached by random play (of a random length, at least the opening's), then
``--games`` games of `alphabeta:D` against each of ``--opponents`` (default `random`,
`heuristic`, `rollout-mcts:1000`) with `ponder arena`'s machinery (`selfplay.arena.play_match`:
pairs of games from one seeded random opening, colours swapped, spread over ``--workers``
processes). Prints a table; ``--json FILE`` writes every figure with the machine it ran on
(rewritten after each depth, so a long run keeps what it has measured).

    .venv/bin/python -m scripts.baseline_strength --game othello --depths 1,2,3,4,5,6 --games 40
    .venv/bin/python -m scripts.baseline_strength --game gomoku:board_size=9,win_length=5 --depths 1,2,3,4 \\
        --games 40 --json gomoku9_alphabeta.json

Seconds per move are wall-clock (`time.perf_counter`) in this process, with the CPU time
beside them: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

DEFAULT_OPPONENTS = "random,heuristic,rollout-mcts:1000"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, not {text!r}")
    return values


def random_positions(game, count: int, seed: int, min_plies: int) -> list:
    """``count`` positions, each after a random number of random moves (none of them over)."""
    import numpy as np

    rng = np.random.default_rng([seed, 0xA1FA])
    longest = max(min_plies, int(game.num_actions * 0.6))
    positions = []
    while len(positions) < count:
        plies = int(rng.integers(min_plies, longest + 1))
        state = game.initial_state()
        for _ in range(plies):
            state = state.play(int(rng.choice(state.legal_actions())))
            if state.is_terminal():
                break
        if not state.is_terminal():
            positions.append(state)
    return positions


def time_moves(game, depth: int, positions: list, seed: int) -> dict:
    """Wall and CPU seconds of one `alphabeta:depth` move at each position (a fresh player each)."""
    from envs.players import parse_player

    wall, cpu, nodes = [], [], []
    for index, state in enumerate(positions):
        player = parse_player(f"alphabeta:{depth}", game, seed=seed + index)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        player.act_batch([state])
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
        nodes.append(player.stats().get("nodes", 0))
    return {"positions": len(positions), "median_s": statistics.median(wall), "max_s": max(wall),
            "median_cpu_s": statistics.median(cpu), "max_cpu_s": max(cpu),
            "median_nodes": statistics.median(nodes), "max_nodes": max(nodes)}


def _score_cell(summary: dict) -> str:
    return f"{summary['score']:.2f} ({summary['a_wins']}-{summary['draws']}-{summary['b_wins']})"


def print_table(report: dict) -> None:
    opponents = report["settings"]["opponents"]
    header = ["D", "median s/move", "max s/move", "median CPU s", *[f"vs {name}" for name in opponents]]
    rows = []
    for entry in report["depths"]:
        timing = entry["move_time"]
        scores = {match["b"]: _score_cell(match) for match in entry["matches"]}
        rows.append([str(entry["depth"]), f"{timing['median_s']:.3f}", f"{timing['max_s']:.3f}",
                     f"{timing['median_cpu_s']:.3f}",
                     *[scores.get(name, "-") for name in opponents]])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"{report['game']}: alphabeta:D, {report['settings']['positions']} timed positions, "
          f"{report['settings']['games']} games per opponent (score, W-D-L), seed {report['settings']['seed']}")
    print(f"machine: {report['machine']['cpu']} ({report['machine']['cores']} cores)")
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--game", default="othello", help="game spec, e.g. othello, gomoku:board_size=9,win_length=5")
    parser.add_argument("--depths", type=_int_list, default=[1, 2, 3, 4], help="comma-separated D values (default 1,2,3,4)")
    parser.add_argument("--opponents", default=DEFAULT_OPPONENTS,
                        help=f"comma-separated PLAYER strings (default {DEFAULT_OPPONENTS})")
    parser.add_argument("--games", type=int, default=20, help="games per opponent and depth (default 20)")
    parser.add_argument("--positions", type=int, default=10, help="random positions timed per depth (default 10)")
    parser.add_argument("--opening-plies", type=int, default=None, metavar="N",
                        help="random plies opening each pair of games (default: the game's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="arena processes (default: one per core)")
    parser.add_argument("--skip-games", action="store_true", help="time the moves only")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    args = parser.parse_args(argv)

    from envs.errors import UsageError
    from envs.registry import get_game
    from selfplay.arena import play_match
    from selfplay.machine import describe
    from selfplay.openings import default_opening_plies
    from selfplay.players import validate_player_spec

    try:
        game = get_game(args.game)
        opponents = [spec.strip() for spec in args.opponents.split(",") if spec.strip()]
        for spec in opponents:
            validate_player_spec(spec, game)
        if args.games < 1 or args.positions < 1:
            raise UsageError("--games and --positions must be at least 1")
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plies = default_opening_plies(game) if args.opening_plies is None else args.opening_plies
    report = {
        "game": args.game, "game_name": game.name, "options": dict(game.options), "machine": describe(),
        "command": " ".join(["python -m scripts.baseline_strength", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {"depths": args.depths, "opponents": opponents, "games": args.games, "positions": args.positions,
                     "opening_plies": plies, "seed": args.seed, "workers": args.workers},
        "depths": [],
    }
    positions = random_positions(game, args.positions, args.seed, max(plies, 1))
    for depth in args.depths:
        entry = {"depth": depth, "move_time": time_moves(game, depth, positions, args.seed), "matches": []}
        timing = entry["move_time"]
        print(f"alphabeta:{depth}: median {timing['median_s']:.3f} s/move, max {timing['max_s']:.3f} "
              f"({timing['positions']} positions)", file=sys.stderr, flush=True)
        if not args.skip_games:
            for opponent in opponents:
                result = play_match(game, f"alphabeta:{depth}", opponent, args.games, seed=args.seed,
                                    workers=args.workers, progress=sys.stderr.isatty(), opening_plies=plies)
                entry["matches"].append(result.summary.to_json())
                print(f"alphabeta:{depth} vs {opponent}: {_score_cell(entry['matches'][-1])}", file=sys.stderr, flush=True)
        report["depths"].append(entry)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
