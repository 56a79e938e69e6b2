"""`ponder engine`: answer positions on stdin with the agent's move as JSON lines on stdout.

Each input line is a position written as the game's action ids from the initial position,
separated by spaces (an empty line is the initial position). Each gets exactly one JSON
line: ``{"action", "value", "policy", "visits", "sims", "ms"}``, or ``{"error": ...}`` for
a malformed, illegal or finished position, after which the engine keeps reading. EOF ends
it with status 0. A checkpoint that cannot be used is one line on stderr and status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import IO

from agent.player import agent_default_root
from agent.roots import ROOTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="PATH",
                        help="checkpoint file or run folder (then checkpoints/latest.pt)")
    parser.add_argument("--sims", type=int, default=50, metavar="S",
                        help="simulations per move; 0 = policy-only (default 50)")
    parser.add_argument("--root", choices=ROOTS,
                        help="root selection of the search (default puct, over the rules if the agent was trained over them)")


def answer(player, line: str) -> dict:
    """The JSON object for one input line (an error object for bad positions)."""
    from envs.errors import UsageError

    tokens = line.split()
    actions = []
    for ply, token in enumerate(tokens):
        try:
            actions.append(int(token))
        except ValueError:
            return {"error": f"move {ply + 1}: {token!r} is not an action id"}
    try:
        state = player.agent.game.state_from_actions(actions)
    except UsageError as error:
        return {"error": str(error)}
    if state.is_terminal():
        return {"error": "the game is over in this position"}
    result = player.search_batch([state])
    return {
        "action": int(result.actions[0]),
        "value": round(float(result.root_value[0]), 6),
        "policy": [round(float(p), 6) for p in result.policy[0]],
        "visits": [int(v) for v in result.visit_counts[0]],
        "sims": player.sims,
        "ms": round(result.seconds * 1000.0, 3),
    }


def serve(player, lines: IO[str], out: IO[str]) -> None:
    """Answer every line of ``lines`` on ``out``, one flushed JSON line each, with
    ``player`` (an `agent.player.AgentPlayer`: each position searched on its own)."""
    for line in lines:
        out.write(json.dumps(answer(player, line.strip())) + "\n")
        out.flush()


def run(args: argparse.Namespace) -> int:
    from envs.errors import UsageError

    if args.sims < 0:
        raise UsageError(f"--sims must be >= 0, got {args.sims}")
    import torch

    torch.set_num_threads(1)   # one position at a time: one thread is the fastest on small nets
    from agent.agent import Agent
    from agent.player import AgentPlayer

    agent = Agent.load(args.checkpoint, device="cpu")
    serve(AgentPlayer(agent, args.sims, args.root or agent_default_root(agent), reuse=False), sys.stdin, sys.stdout)
    return 0
