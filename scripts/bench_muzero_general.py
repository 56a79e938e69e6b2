"""Side by side: ponder's self-play positions per second against muzero-general's, on Connect Four.

muzero-general (github.com/werner-duvaud/muzero-general) is not a dependency and none of its
code is in this repository: point ``--mzg-dir`` at a checkout of it (made outside the repo).
Its `SelfPlay.play_game` plays one game at a time with one batch-1 network call per
simulation; it is timed with its own default Connect Four network (3 residual blocks x 64
channels in each of h, g and f, random weights) on one torch thread. ``ray``, which it only
uses to host `SelfPlay` as a remote actor, is replaced by a no-op decorator in this process.

ponder is timed with the same network shape (``--set network.*_blocks=3``, 64 channels)
through `ponder bench selfplay`'s `measure` (one actor, its games in lock-step). The two are
measured alternately, ``--rounds`` times, and the medians and their ratio are printed, so
that machine noise hits both alike. Skips with a message when the checkout is absent.

    python scripts/bench_muzero_general.py --mzg-dir /tmp/mzg --sims 50 --rounds 3 [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import types
from pathlib import Path

SAME_NETWORK = ("network.channels=64", "network.representation_blocks=3",
                "network.dynamics_blocks=3", "network.prediction_blocks=3")


def _load_muzero_general(checkout: Path):
    fake_ray = types.ModuleType("ray")
    fake_ray.remote = lambda *args, **kwargs: args[0] if (len(args) == 1 and callable(args[0])) else (lambda c: c)
    sys.modules.setdefault("ray", fake_ray)
    sys.path.insert(0, str(checkout))
    import models  # noqa: E402  (muzero-general's modules, from the checkout)
    import self_play
    from games.connect4 import Game, MuZeroConfig
    return models, self_play, Game, MuZeroConfig


def measure_muzero_general(checkout: Path, sims: int, games: int, seed: int = 0) -> dict:
    """Positions per second of muzero-general's self-play over ``games`` whole games."""
    models, self_play, Game, MuZeroConfig = _load_muzero_general(checkout)
    config = MuZeroConfig()
    config.num_simulations = sims
    config.selfplay_on_gpu = False
    network = models.MuZeroNetwork(config)
    player = self_play.SelfPlay({"weights": network.get_weights()}, Game, config, seed)
    network_seconds = [0.0]
    for name in ("initial_inference", "recurrent_inference"):
        original = getattr(player.model, name)

        def timed(*args, _original=original, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                network_seconds[0] += time.perf_counter() - started
        setattr(player.model, name, timed)
    positions, started = 0, time.perf_counter()
    for _ in range(games):
        history = player.play_game(1.0, 0, False, "self", 0)
        positions += len(history.action_history) - 1
    seconds = time.perf_counter() - started
    return {"positions_per_second": positions / seconds, "share_outside_network": 1 - network_seconds[0] / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mzg-dir", type=Path, required=True, help="a muzero-general checkout (outside this repo)")
    parser.add_argument("--sims", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements of each")
    parser.add_argument("--mzg-games", type=int, default=3, help="muzero-general games per round")
    parser.add_argument("--batch", type=int, default=None, help="ponder games at once (default: the preset's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.mzg_dir / "self_play.py").exists():
        print(f"skipped: no muzero-general checkout at {args.mzg_dir}", file=sys.stderr)
        return 0
    import torch

    from selfplay.bench import measure

    torch.set_num_threads(1)
    ours, theirs = [], []
    for round_index in range(args.rounds):
        result = measure("connect_four", args.sims, args.batch, repeats=1, moves=20, root="puct", threads=1,
                         seed=round_index, overrides=SAME_NETWORK)
        ours.append(result)
        theirs.append(measure_muzero_general(args.mzg_dir, args.sims, args.mzg_games, seed=round_index))
        print(f"round {round_index + 1}: ponder {ours[-1]['positions_per_second']:.1f} pos/s, "
              f"muzero-general {theirs[-1]['positions_per_second']:.1f} pos/s", file=sys.stderr)
    summary = {
        "sims": args.sims, "rounds": args.rounds, "ponder_batch": ours[0]["batch"],
        "ponder_positions_per_second": statistics.median(r["positions_per_second"] for r in ours),
        "ponder_share_outside_network": statistics.median(r["share_outside_network"] for r in ours),
        "muzero_general_positions_per_second": statistics.median(r["positions_per_second"] for r in theirs),
        "muzero_general_share_outside_network": statistics.median(r["share_outside_network"] for r in theirs),
    }
    summary["ratio"] = summary["ponder_positions_per_second"] / summary["muzero_general_positions_per_second"]
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"Connect Four, {args.sims} sims, one torch thread: ponder {summary['ponder_positions_per_second']:.1f} "
              f"pos/s ({summary['ponder_share_outside_network']:.1%} outside the network), muzero-general "
              f"{summary['muzero_general_positions_per_second']:.1f} pos/s: {summary['ratio']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
