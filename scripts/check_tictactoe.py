"""Measure a tic-tac-toe agent against perfect play: the issue 5/8 acceptance numbers.

Given a checkpoint file or run folder, prints the share of the 4,520 reachable
non-terminal positions where the agent plays an optimal (value-preserving) move, for each
requested simulation count (0 = the policy alone), each through one batched
``Agent.act`` per chunk with the deterministic evaluation search of `ponder arena`
(no root noise, temperature 0). ``--arena N`` also plays N games against ``perfect``
(half with each side) the way ``ponder arena`` does and counts wins, draws and losses.

    .venv/bin/python scripts/check_tictactoe.py runs/ttt [--sims 0,25] [--arena 100] [--json]

Exit status 0, or 2 with one line on stderr for a bad checkpoint or option.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# runnable as a plain script from anywhere: the repository root on the path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_sims(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sims expects comma-separated integers, got {text!r}") from None
    if not values or any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"--sims expects integers >= 0, got {text!r}")
    return values


def measure(checkpoint: str, sims_list: list[int], root: str, arena_games: int, seed: int,
            arena_sims: int = 25, detail: bool = False) -> dict:
    """The accuracy (and optional arena) figures of one checkpoint, as a plain dict."""
    import torch

    from agent.agent import Agent
    from agent.player import AgentPlayer
    from envs.players import parse_player
    from selfplay.accuracy import optimal_move_rate, tictactoe_perfect_table

    torch.set_num_threads(1)
    agent = Agent.load(checkpoint)
    if agent.game.name != "tictactoe":
        from envs.errors import UsageError

        raise UsageError(f"{checkpoint}: a {agent.game.name} checkpoint, not tictactoe")
    table = tictactoe_perfect_table(agent.game)
    report: dict = {"checkpoint": agent.checkpoint_path, "step": agent.checkpoint_step,
                    "positions": len(table.states), "root": root, "optimal_moves": {}}
    for sims in sims_list:
        choose = AgentPlayer(agent, sims, root).act_batch
        started = time.perf_counter()
        rate = optimal_move_rate(table, choose)
        figures = {"rate": rate, "errors": round((1.0 - rate) * len(table.states)),
                   "seconds": round(time.perf_counter() - started, 2)}
        if detail:
            figures["errors_by_value"] = _errors_by_value(table, choose)
        report["optimal_moves"][str(sims)] = figures
    if detail:
        report["value_head"] = _value_head(agent, table)
    if arena_games > 0:
        perfect = parse_player("perfect", agent.game, seed=seed)
        player = AgentPlayer(agent, arena_sims, root)
        wins, draws, losses = _arena(agent.game, player, perfect, arena_games)
        report["vs_perfect"] = {"sims": arena_sims, "games": arena_games, "wins": wins, "draws": draws,
                                "losses": losses}
    return report


def _errors_by_value(table, choose, batch_size: int = 512) -> dict:
    """Non-optimal moves split by the position's perfect-play value (won / drawn / lost)."""
    import numpy as np

    wrong = np.zeros(len(table.states), dtype=bool)
    for start in range(0, len(table.states), batch_size):
        batch = table.states[start:start + batch_size]
        actions = np.asarray(choose(batch), dtype=np.int64)
        wrong[start:start + len(batch)] = ~table.optimal[np.arange(start, start + len(batch)), actions]
    names = {1.0: "won", 0.0: "drawn", -1.0: "lost"}
    return {names[value]: {"positions": int((table.values == value).sum()),
                           "errors": int((wrong & (table.values == value)).sum())} for value in names}


def _value_head(agent, table, batch_size: int = 1024) -> dict:
    """How well the root value (h then f, no search) knows the perfect-play value of each position."""
    import numpy as np
    import torch

    values = np.empty(len(table.states))
    with torch.inference_mode():
        for start in range(0, len(table.states), batch_size):
            batch = table.states[start:start + batch_size]
            planes = torch.from_numpy(np.stack([state.planes() for state in batch]))
            _, _, value = agent.network.initial(planes)
            values[start:start + len(batch)] = value.float().numpy()
    error = np.abs(values - table.values)
    nearest = np.select([values > 0.5, values < -0.5], [1.0, -1.0], 0.0)
    return {"mean_abs_error": round(float(error.mean()), 4),
            "nearest_class_accuracy": round(float((nearest == table.values).mean()), 4)}


def _arena(game, player, opponent, games: int) -> tuple[int, int, int]:
    """(wins, draws, losses) of ``player`` against ``opponent``, half of the games moving first."""
    states = [game.initial_state() for _ in range(games)]
    seats = [index % 2 for index in range(games)]
    while True:
        live = [i for i, state in enumerate(states) if not state.is_terminal()]
        if not live:
            break
        mine = [i for i in live if states[i].to_play == seats[i]]
        theirs = [i for i in live if states[i].to_play != seats[i]]
        if mine:
            for i, action in zip(mine, player.act_batch([states[i] for i in mine])):
                states[i] = states[i].play(int(action))
        if theirs:
            for i, action in zip(theirs, opponent.act_batch([states[i] for i in theirs])):
                states[i] = states[i].play(int(action))
    winners = [state.winner() for state in states]
    wins = sum(1 for winner, seat in zip(winners, seats) if winner == seat)
    draws = sum(1 for winner in winners if winner is None)
    return wins, draws, games - wins - draws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint file or run folder")
    parser.add_argument("--sims", type=parse_sims, default=[0, 25], help="comma-separated, 0 = policy only")
    parser.add_argument("--root", choices=("puct", "gumbel"), default="puct")
    parser.add_argument("--arena", type=int, default=0, metavar="GAMES",
                        help="also play GAMES games against perfect (half as each side)")
    parser.add_argument("--arena-sims", type=int, default=25, help="simulations of the agent in the arena")
    parser.add_argument("--detail", action="store_true",
                        help="also split errors by position value and score the value head")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    from envs.errors import UsageError

    try:
        report = measure(args.checkpoint, args.sims, args.root, args.arena, args.seed, args.arena_sims,
                         args.detail)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['checkpoint']} (step {report['step']}), {report['positions']} positions, root {report['root']}")
    for sims, figures in report["optimal_moves"].items():
        print(f"  sims {sims:>4}: optimal {figures['rate']:.2%} ({figures['errors']} errors, {figures['seconds']} s)")
        if "errors_by_value" in figures:
            print("             errors by position value: " + ", ".join(
                f"{name} {part['errors']}/{part['positions']}" for name, part in figures["errors_by_value"].items()))
    if "value_head" in report:
        head = report["value_head"]
        print(f"  value head: mean |v - v*| {head['mean_abs_error']}, "
              f"right class (|v|>0.5) {head['nearest_class_accuracy']:.2%}")
    if "vs_perfect" in report:
        arena = report["vs_perfect"]
        print(f"  vs perfect ({arena['sims']} sims, {arena['games']} games): {arena['wins']} wins, "
              f"{arena['draws']} draws, {arena['losses']} losses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
