"""How further training moves a fitted board model's g: the path fit, or g alone, per learning rate.

`ponder fit-model` with ``model_fit.board_pretrain_minutes`` > 0 trains g alone on single
transitions, then runs the path fit, which trains g again (on paths unrolled on its own
soft predictions) beside the heads, with a fresh optimizer. This script takes a fitted
checkpoint and its run's replay, runs ``--steps`` path-fit steps from that checkpoint for each
``--learning-rate`` (the recipe's other fit settings, one thread), and prints every
``--every`` steps the path fit's board loss and the share of held-out next boards g predicts
exactly (the same 2,048 transitions and seed as the pretraining's verdict,
`selfplay.board_pretrain`). It is how the fit was found to undo g on Othello (docs/notebook.md,
"The fit keeps the more exact g"). ``--phase alone`` trains g alone on single transitions
instead (`pretrain_board_dynamics`, a fresh cosine from each rate): whether more of that phase
would make a g exact.

    python scripts/path_fit_drift.py FITTED RUN --learning-rate 2e-3 --learning-rate 1e-4
    python scripts/path_fit_drift.py FITTED RUN --phase alone --steps 10000 --every 2000 --learning-rate 5e-4
    python scripts/path_fit_drift.py FITTED RUN --phase alone --fresh --steps 20000 --every 5000 --pool 4
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a fitted board-model checkpoint")
    parser.add_argument("run", type=Path, help="the run folder whose replay it was fitted on")
    parser.add_argument("--learning-rate", type=float, action="append", dest="rates",
                        help="the path fit's learning rate (repeat for several; default the checkpoint's)")
    parser.add_argument("--phase", choices=("path", "alone"), default="path",
                        help="path: the path fit (g and the heads on unrolled paths); alone: g on single transitions")
    parser.add_argument("--pool", type=int, default=None,
                        help="--phase alone: model_fit.board_pretrain_pool (train on the batch g gets most wrong "
                             "of POOL x batch drawn; default the checkpoint's)")
    parser.add_argument("--fresh", action="store_true",
                        help="start g afresh (its layers redrawn after torch.manual_seed of the fit's seed; "
                             "not the fit's own draw, which draws h, f and the heads first) instead of from the "
                             "checkpoint's")
    parser.add_argument("--out", type=Path, help="write the checkpoint as the last learning rate left it (with --phase alone "
                                                 "only g changed: the fit's heads never read g)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=20)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from agent.checkpoint import CheckpointError, load_checkpoint
    from envs import get_game
    from envs.errors import UsageError
    from selfplay.board_pretrain import HELD_OUT, exact_share, pretrain_board_dynamics, transitions
    from selfplay.config import ModelFitConfig
    from selfplay.model_fit import PathSampler, fit_network, load_replay_games

    try:
        if args.steps < 1 or args.every < 1 or (args.pool is not None and args.pool < 1) \
                or any(rate <= 0 for rate in args.rates or ()):
            raise UsageError("--steps, --every and --pool must be >= 1, --learning-rate > 0")
        checkpoint = load_checkpoint(args.checkpoint)
        section = checkpoint.config.get("model_fit")
        if checkpoint.network_config.get("dynamics") != "board" or not isinstance(section, dict):
            raise UsageError(f"{args.checkpoint}: not a fitted board model (ponder fit-model with dynamics = board)")
        config = dataclasses.replace(ModelFitConfig(**section), threads=1)
        if args.pool is not None:
            config = dataclasses.replace(config, board_pretrain_pool=args.pool)
        game = get_game(checkpoint.game, **checkpoint.game_options)
        start = checkpoint.build_network().eval()
        games = load_replay_games(args.run)
    except (UsageError, CheckpointError, TypeError, ValueError) as error:
        print(f"path_fit_drift: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    sampler = PathSampler(game, games, np.random.default_rng(config.seed))
    held_out = transitions(sampler, HELD_OUT, config.follow, np.random.default_rng([config.seed, 2]))
    print(f"{args.checkpoint}: g exact on {exact_share(start, *held_out):.2%} of {HELD_OUT:,} held-out next boards "
          f"({len(sampler):,} positions)")
    for rate in args.rates or [config.learning_rate]:
        network = copy.deepcopy(start)
        if args.fresh:
            torch.manual_seed(config.seed)
            for module in network.board_dynamics.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        marks = []

        def mark(progress, network=network, marks=marks) -> None:
            if progress.note:       # the pretraining's closing verdict: its last mark is already there
                return
            exact = exact_share(network, *held_out)   # g has no batch norm: its mode does not matter
            marks.append(f"{progress.steps}: board {progress.parts['board']:.3f}, exact {exact:.2%}")

        began = time.perf_counter()
        settings = dataclasses.replace(config, learning_rate=rate)
        if args.phase == "path":
            fit_network(network, sampler, settings, report=mark, report_every=args.every, steps=args.steps)
        else:
            pretrain_board_dynamics(network, sampler, settings, report=mark, report_every=args.every, steps=args.steps)
        pool = f", pool {config.board_pretrain_pool}" if args.phase == "alone" else ""
        print(f"{args.phase}, learning rate {rate:g}{pool} ({time.perf_counter() - began:.0f} s): " + "; ".join(marks),
              flush=True)
    if args.out is not None:
        from agent.checkpoint import make_payload, save_checkpoint

        extra = {**checkpoint.extra, "board_model_from": f"scripts/path_fit_drift.py --phase {args.phase}"}
        save_checkpoint(args.out, make_payload(network.eval(), game, config=checkpoint.config, step=checkpoint.step,
                                               extra=extra))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
