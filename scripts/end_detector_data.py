"""What an end detector needs to learn a game's ends: data volume and threat-avoiding games.

Trains a fresh detector (`agent.networks.BoardEnds`) alone on positions the rules generate
(`selfplay.end_detector`) for each setting of ``--examples`` and ``--avoiding`` (the share of
threat-avoiding games), and measures precision and recall of the wins it reads where a search
asks: every legal reply two plies into Pons' Connect Four positions (``--positions`` per set),
on the real planes and, with ``--checkpoint`` (a fitted board model), on the planes its g
predicts. Prints a markdown table; ``--json`` writes the rows.

    python scripts/end_detector_data.py --examples 300000,1500000 --avoiding 0,0.5 --steps 8000
                                        [--checkpoint FITTED.pt] [--positions 150] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def pons_replies(positions: int, seed: int):
    """(root planes, first move, reply, planes after both, `END_*` class of the reply) of every
    legal reply two plies into ``positions`` positions of each Pons set."""
    from envs import get_game
    from selfplay.accuracy import load_pons_sets, sample_rows

    game = get_game("connect_four")
    roots, firsts, replies, after, classes = [], [], [], [], []
    for pons_set in load_pons_sets():
        for row in sample_rows(pons_set, positions, seed):
            state = game.state_from_actions(pons_set.moves[row])
            for first in state.legal_actions():
                child = state.play(first)
                if child.is_terminal():
                    continue
                codes = child.action_ends()
                for reply in child.legal_actions():
                    grandchild = child.play(reply)
                    roots.append(state.planes())
                    firsts.append(first)
                    replies.append(reply)
                    after.append(grandchild.planes())
                    classes.append(int(codes[reply]))
    return (np.stack(roots), np.array(firsts), np.array(replies), np.stack(after).astype(np.float32),
            np.array(classes))


def win_precision_recall(detector, planes: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """Of the wins the detector reads at the search's threshold (`read_position_ends`)."""
    import torch

    from agent.model_ends import read_position_ends
    from envs.game import END_WIN

    with torch.no_grad():
        logits = torch.cat([detector(torch.from_numpy(planes[i:i + 8192])) for i in range(0, len(planes), 8192)])
    reading = read_position_ends(logits, 0.5)
    read_win = reading.ended & (reading.reward > 0.5)
    real_win = classes == END_WIN
    found = int((read_win & real_win).sum())
    return found / max(int(read_win.sum()), 1), found / max(int(real_win.sum()), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default="300000,1500000", help="comma-separated pool sizes")
    parser.add_argument("--avoiding", default="0,0.5", help="comma-separated shares of threat-avoiding games")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--checkpoint", help="a fitted board model: also read the planes its g predicts")
    parser.add_argument("--positions", type=int, default=150, help="Pons positions per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        sizes = [int(value) for value in args.examples.split(",")]
        shares = [float(value) for value in args.avoiding.split(",")]
    except ValueError:
        print("end_detector_data: --examples and --avoiding take comma-separated numbers", file=sys.stderr)
        return 2
    import torch

    from agent.config import NetworkConfig
    from agent.networks import GameSpec, MuZeroNetwork
    from envs import get_game
    from selfplay.end_detector import DETECTOR_LEARNING_RATE, fit_end_detector

    torch.set_num_threads(1)
    game = get_game("connect_four")
    roots, firsts, replies, real, classes = pons_replies(args.positions, args.seed)
    predicted = None
    if args.checkpoint:
        from agent.checkpoint import CheckpointError, load_checkpoint

        try:
            fitted = load_checkpoint(args.checkpoint, expect_game=game).build_network().eval()
        except CheckpointError as error:
            print(f"end_detector_data: {error}", file=sys.stderr)
            return 2
        if not fitted.board_model:
            print(f"end_detector_data: {args.checkpoint} has no board model", file=sys.stderr)
            return 2
        with torch.no_grad():
            first = torch.sigmoid(fitted.board_logits(torch.from_numpy(roots), torch.from_numpy(firsts)).float())
            predicted = torch.sigmoid(fitted.board_logits(first, torch.from_numpy(replies)).float()).numpy()
    print(f"{len(classes)} replies two plies into {args.positions} Pons positions per set, "
          f"{int((classes == 1).sum())} wins", file=sys.stderr)
    rows = []
    for size in sizes:
        for share in shares:
            network = MuZeroNetwork(GameSpec(game.observation_shape, game.num_actions),
                                    NetworkConfig(channels=8, action_heads=True, dynamics="board", board_ends=True))
            started = time.monotonic()
            progress = fit_end_detector(network, game, steps=args.steps, examples=size, avoiding=share,
                                        learning_rate=DETECTOR_LEARNING_RATE, symmetries="mirror", seed=args.seed)
            row = {"examples": progress.examples, "avoiding": share, "steps": progress.steps,
                   "minutes": round((time.monotonic() - started) / 60, 1)}
            row["real"] = win_precision_recall(network.board_ends.eval(), real, classes)
            if predicted is not None:
                row["predicted"] = win_precision_recall(network.board_ends, predicted, classes)
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    print("| examples | threat-avoiding games | steps | minutes | wins P / R, real planes |"
          + (" wins P / R, g's planes |" if predicted is not None else ""))
    print("|---|---|---|---|---|" + ("---|" if predicted is not None else ""))
    for row in rows:
        line = (f"| {row['examples']:,} | {row['avoiding']:.0%} | {row['steps']:,} | {row['minutes']} | "
                f"{row['real'][0]:.2%} / {row['real'][1]:.2%} |")
        if predicted is not None:
            line += f" {row['predicted'][0]:.2%} / {row['predicted'][1]:.2%} |"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
