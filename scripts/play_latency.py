"""How long a player waits in `ponder play` (issue 27): start-up, and each agent move's search.

    python -m scripts.play_latency [--game connect_four] [--level strong] [--repeats 5] [--json]

Runs the real command through a pipe, the agent moving first, the human answering in the
centre column (then the next legal ones) for a few moves, ``--repeats`` times. Reports, as
medians over the repeats: seconds from launch to the agent's first move on screen (torch
import, checkpoint load and warm-up included), and the search time the agent itself reports
for its first move and for the later ones. A benchmark, not a test: these machines are
shared, so quote medians and say what else was running.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from selfplay.machine import cpu_model

MOVE_TIME = re.compile(r"· (\d+) sims in ([0-9.]+) s|policy only in ([0-9.]+) s")


def one_session(game: str, level: str, replies: int) -> tuple[float, list[float]]:
    """(seconds from launch to the first agent move printed, each agent move's own search seconds)."""
    typed = "".join(f"{column}\n" for column in ["4", "4", "3", "5", "3", "5", "2", "6"][:replies]) + "quit\n"
    command = [sys.executable, "-m", "scripts.ponder", "play", "--game", game, "--agent-first", "--level", level]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "NO_COLOR": "1"})
    assert process.stdin is not None and process.stdout is not None
    first_move = None
    searches: list[float] = []
    process.stdin.write(typed)
    process.stdin.close()
    for line in process.stdout:
        if first_move is None and line.startswith("the agent plays"):
            first_move = time.perf_counter() - started
        found = MOVE_TIME.search(line)
        if found:
            searches.append(float(found.group(2) or found.group(3)))
    process.wait(timeout=300)
    if process.returncode != 0 or first_move is None:
        raise SystemExit(f"play_latency: ponder play failed: {process.stderr.read()[-300:]}")
    return first_move, searches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.play_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", default="connect_four")
    parser.add_argument("--level", default="strong")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--replies", type=int, default=4, help="human moves per session")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sessions = [one_session(args.game, args.level, args.replies) for _ in range(args.repeats)]
    result = {
        "game": args.game, "level": args.level, "repeats": args.repeats, "machine": cpu_model(),
        "cores": os.cpu_count(),
        "launch_to_first_move_s": round(statistics.median(s[0] for s in sessions), 3),
        "first_move_search_s": round(statistics.median(s[1][0] for s in sessions), 3),
        "later_move_search_s": round(statistics.median(t for s in sessions for t in s[1][1:]), 3),
        "first_move_search_all_s": [s[1][0] for s in sessions],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.game} at --level {args.level}, median of {args.repeats} ({result['machine']}, "
              f"{result['cores']} cores): launch to first move {result['launch_to_first_move_s']:.2f} s; "
              f"the first move's search {result['first_move_search_s']:.2f} s, later moves "
              f"{result['later_move_search_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
