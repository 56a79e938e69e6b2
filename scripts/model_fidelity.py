"""Does an agent's learned model know the game? Fidelity by unroll depth, and the blunders it costs.

For a checkpoint, along real trajectories, at each unroll depth k (g applied k times from
h of a real position, then compared with the real position k plies later):

- value error and policy KL against the same network on the real position;
- for a board model, the share of predicted boards equal to the real one, cell for cell;
- legal moves (accuracy over all actions), wins and game ends (precision and recall over
  the legal actions) as the action heads predict them, where the network has them;
- wins as the reward head sees them (reward > 0.5 for the move), for every network.

Trajectory sources: ``--games N`` policy-only games against random moves (colours
alternating), ``--replay RUN_DIR`` the run's own self-play games (the last
``--replay-games``), ``--pons`` every position of Pons' six Connect Four sets played to
the end by the network's policy on both sides.

With ``--pons-sims S`` it also searches every Pons position twice with the same network, S
simulations over its learned model (``--root``, default puct) and over the real rules
(``puct+rules``), and counts per set the mistakes and the mistakes that hand the opponent a
win in one. ``--perfect-sims S`` does the same for tic-tac-toe over every one of its 4,520
reachable positions, a mistake being a move that gives up the perfect-play value.

    python scripts/model_fidelity.py CHECKPOINT [--games 40] [--replay RUN] [--pons] [--depth 10]
                                     [--pons-sims 200] [--positions N] [--json FILE] [--markdown FILE]
    python scripts/model_fidelity.py TICTACTOE_CHECKPOINT --games 200 --depth 6 --perfect-sims 25
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def replay_trajectories(run_dir: Path, count: int) -> tuple[list[tuple[int, ...]], list[int]]:
    """(action sequences from the initial state, index of the first stored ply) of the last
    ``count`` games of a run's saved replay; UsageError when it has none."""
    from envs.errors import UsageError
    from selfplay.replay import REPLAY_FILE

    path = Path(run_dir) / "replay" / REPLAY_FILE
    if not path.exists():
        raise UsageError(f"{run_dir}: no saved replay ({path} is missing)")
    with np.load(path, allow_pickle=False) as data:
        lengths, opening_lengths = data["lengths"], data["opening_lengths"]
        actions, openings = np.split(data["actions"], np.cumsum(lengths)[:-1]), \
            np.split(data["opening"], np.cumsum(opening_lengths)[:-1])
    chosen = range(max(0, len(lengths) - count), len(lengths))
    trajectories = [tuple(openings[i].tolist()) + tuple(actions[i].tolist()) for i in chosen]
    return trajectories, [int(opening_lengths[i]) for i in chosen]


def fidelity_rows(table) -> list[str]:
    """Markdown rows of a `FidelityByDepth` with its end counts."""
    def pct(value) -> str:
        return "-" if value is None or not np.isfinite(value) else f"{100 * value:.2f}%"

    detector = any(entry.get("detector_end_tp", 0) + entry.get("detector_end_fp", 0) + entry.get("detector_end_fn", 0)
                   for entry in table.ends)
    extra = " win P / R (detector) | end P / R (detector) |" if detector else ""
    boards = bool(table.boards_exact)
    lines = ["| k | pairs |" + (" boards exact |" if boards else "") + " value abs err | policy KL | legal acc "
             "| win P / R (heads) | end P / R (heads) | win P / R (reward head) |" + extra,
             "|---|---|" + ("---|" if boards else "") + "---|---|---|---|---|---|" + ("---|---|" if detector else "")]
    for depth in table.depths.tolist():
        ends = table.ends[depth] if depth < len(table.ends) else {}
        exact = f" {pct(table.boards_exact[depth])} |" if boards else ""
        row = (f"| {depth} | {table.pairs[depth]} |{exact} {table.value_abs_error[depth]:.3f} | {table.policy_kl[depth]:.3f} "
               f"| {pct(ends.get('legal_accuracy'))} | {pct(ends.get('win_precision'))} / {pct(ends.get('win_recall'))} "
               f"| {pct(ends.get('end_precision'))} / {pct(ends.get('end_recall'))} "
               f"| {pct(ends.get('reward_win_precision'))} / {pct(ends.get('reward_win_recall'))} |")
        if detector:
            row += (f" {pct(ends.get('detector_win_precision'))} / {pct(ends.get('detector_win_recall'))} "
                    f"| {pct(ends.get('detector_end_precision'))} / {pct(ends.get('detector_end_recall'))} |")
        lines.append(row)
    return lines


def _sample(pons_set, args) -> list:
    from selfplay.accuracy import sample_rows

    return [pons_set.moves[row] for row in sample_rows(pons_set, args.positions, args.seed)]


def _search(agent, sims: int, root: str, end_rewards_only: bool):
    """The evaluation search of ``root`` at ``sims``, with ``SearchConfig.end_rewards_only``."""
    import dataclasses

    from agent.player import evaluation_search

    return dataclasses.replace(evaluation_search(sims, root, agent.discount), end_rewards_only=end_rewards_only)


def pons_blunders(agent, game, roots: list[str], sims: int, positions: int | None, seed: int,
                  end_rewards_only: bool = True) -> dict:
    """Per Pons set and root: positions, mistakes and mistakes that allow a win in one."""
    from selfplay.accuracy import allows_win_in_one, judge_moves, load_pons_sets, sample_rows

    results: dict = {}
    for pons_set in load_pons_sets():
        rows = sample_rows(pons_set, positions, seed)  # the same rows `ponder ablate --positions` judges
        states = [game.state_from_actions(pons_set.moves[row]) for row in rows]
        per_root = {}
        for root in roots:
            search = _search(agent, sims, root, end_rewards_only)
            actions = np.concatenate([agent.act(states[start:start + 256], search).actions
                                      for start in range(0, len(states), 256)])
            mistake, _ = judge_moves(pons_set, rows, actions)
            allows = allows_win_in_one(pons_set, rows, actions, game)
            per_root[root] = {"mistakes": int(mistake.sum()), "allows_win_in_one": int(allows.sum())}
        results[pons_set.title] = {"positions": int(len(rows)), **per_root}
    return results


def perfect_blunders(agent, game, roots: list[str], sims: int, end_rewards_only: bool = True) -> dict:
    """Tic-tac-toe's every reachable position, per root: positions, moves that give up the
    perfect-play value, and those that also hand the opponent a win in one."""
    from selfplay.accuracy import tictactoe_perfect_table

    table = tictactoe_perfect_table(game)
    states = list(table.states)
    results: dict = {"positions": len(states)}
    for root in roots:
        search = _search(agent, sims, root, end_rewards_only)
        actions = np.concatenate([agent.act(states[start:start + 256], search).actions
                                  for start in range(0, len(states), 256)])
        mistakes = ~table.optimal[np.arange(len(states)), actions]
        allows = 0
        for row in np.flatnonzero(mistakes):
            after = states[row].play(int(actions[row]))
            allows += int(not after.is_terminal() and bool(after.winning_actions()))
        results[root] = {"mistakes": int(mistakes.sum()), "allows_win_in_one": allows}
    return results


def blunder_table(title: str, sims: int, roots: list[str], rows: dict) -> list[str]:
    """Markdown: per set (``rows``: name -> {"positions", root -> counts}) and in all, each
    root's mistake rate with the wins in one it handed over in brackets."""
    table = [f"## {title} searched with {sims} simulations: mistakes (allows a win in one)", "",
             "| set | positions | " + " | ".join(roots) + " |", "|---|---|" + "---|" * len(roots)]
    totals = {root: [0, 0] for root in roots}
    for name, entry in rows.items():
        cells = []
        for root in roots:
            totals[root][0] += entry[root]["mistakes"]
            totals[root][1] += entry[root]["allows_win_in_one"]
            cells.append(f"{100 * entry[root]['mistakes'] / entry['positions']:.1f}% "
                         f"({entry[root]['allows_win_in_one']})")
        table.append(f"| {name} | {entry['positions']} | " + " | ".join(cells) + " |")
    if len(rows) > 1:
        positions = sum(entry["positions"] for entry in rows.values())
        table.append(f"| all | {positions} | " + " | ".join(
            f"{100 * totals[root][0] / positions:.1f}% ({totals[root][1]})" for root in roots) + " |")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint file or run folder")
    parser.add_argument("--games", type=int, default=40, help="policy-vs-random trajectories (0 skips)")
    parser.add_argument("--replay", type=Path, help="run folder whose saved self-play games to unroll along")
    parser.add_argument("--replay-games", type=int, default=200)
    parser.add_argument("--pons", action="store_true", help="also unroll from every Pons position")
    parser.add_argument("--depth", type=int, default=10, help="deepest unroll (default 10)")
    parser.add_argument("--pons-sims", type=int, default=0, help="search each Pons position with S sims (0 skips)")
    parser.add_argument("--perfect-sims", type=int, default=0,
                        help="tic-tac-toe: search every reachable position with S sims (0 skips)")
    parser.add_argument("--root", default="puct",
                        help="learned-model root for --pons-sims and --perfect-sims (default puct)")
    parser.add_argument("--positions", type=int, help="Pons positions per set (default all)")
    parser.add_argument("--keep-rewards", action="store_true",
                        help="the learned search adds g's reward where it reads no game end "
                             "(SearchConfig.end_rewards_only false; the search before 2026-12-05)")
    parser.add_argument("--no-snap", action="store_true",
                        help="the board model's search steps through its predicted probabilities, "
                             "not the most likely board (snap_planes false; before 2026-12-05)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    args = parser.parse_args()

    import torch

    from agent.agent import Agent
    from envs.errors import UsageError
    from selfplay.accuracy import load_pons_sets
    from selfplay.fidelity import measure_fidelity, play_trajectories, policy_continuations

    torch.set_num_threads(1)
    try:
        if args.depth < 1 or args.games < 0 or args.pons_sims < 0 or args.perfect_sims < 0:
            raise UsageError("--depth must be >= 1, --games, --pons-sims and --perfect-sims >= 0")
        agent = Agent.load(args.checkpoint)
        agent.network.snap_planes = agent.network.board_model and not args.no_snap
        game = agent.game
        if (args.pons or args.pons_sims) and game.name != "connect_four":
            raise UsageError(f"--pons and --pons-sims need a Connect Four checkpoint, not {game.name}")
        if args.perfect_sims and game.name != "tictactoe":
            raise UsageError(f"--perfect-sims needs a tic-tac-toe checkpoint, not {game.name}")
        sources: dict[str, tuple[list, list | None]] = {}
        if args.games:
            sources[f"policy vs random ({args.games} games)"] = (
                play_trajectories(agent.network, game, args.games, args.seed), None)
        if args.replay is not None:
            trajectories, first = replay_trajectories(args.replay, args.replay_games)
            sources[f"self-play replay ({len(trajectories)} games)"] = (trajectories, first)
        if args.pons:
            openings = [moves for pons_set in load_pons_sets() for moves in _sample(pons_set, args)]
            sources[f"Pons positions ({len(openings)}), continued by the policy"] = (
                policy_continuations(agent.network, game, openings), [len(moves) for moves in openings])
    except UsageError as error:
        print(f"model_fidelity: {error}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    lines = [f"# Learned-model fidelity of {args.checkpoint} (step {agent.checkpoint_step})", ""]
    results: dict = {"checkpoint": str(args.checkpoint), "step": agent.checkpoint_step,
                     "action_heads": agent.network.action_heads is not None, "fidelity": {}}
    for label, (trajectories, first) in sources.items():
        # from Pons' positions themselves, not from every later ply of the games played on from them
        table = measure_fidelity(agent.network, game, trajectories, args.depth, first_plies=first,
                                 positive_weight=agent.end_positive_weight,
                                 starts_per_trajectory=1 if label.startswith("Pons") else None)
        results["fidelity"][label] = table.as_dict()
        lines += [f"## {label}", "", *fidelity_rows(table), ""]
        print("\n".join(lines[-(len(table.depths) + 5):]), flush=True)
    if args.pons_sims:
        roots = [args.root, "puct+rules"]
        blunders = pons_blunders(agent, game, roots, args.pons_sims, args.positions, args.seed,
                                 not args.keep_rewards)
        results["pons_search"] = {"sims": args.pons_sims, "sets": blunders}
        table = blunder_table("Pons positions", args.pons_sims, roots, blunders)
        lines += table + [""]
        print("\n".join(table), flush=True)
    if args.perfect_sims:
        roots = [args.root, "puct+rules"]
        blunders = perfect_blunders(agent, game, roots, args.perfect_sims, not args.keep_rewards)
        results["perfect_search"] = {"sims": args.perfect_sims, **blunders}
        table = blunder_table("Every tic-tac-toe position", args.perfect_sims, roots, {"all": blunders})
        lines += table + [""]
        print("\n".join(table), flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    lines.append(f"{results['seconds']:.0f} s; `python scripts/model_fidelity.py {' '.join(sys.argv[1:])}`")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
