"""Where the Ray backend's bottleneck moves as actors are added: measure here, then model.

Three subcommands, each printing measured numbers (or numbers derived from them):

- ``calibrate``: times the parts on this machine with the game's preset: one actor's
  seconds per self-play position, the learner's seconds per step, the replay's seconds
  to add a position and to build a batch, the weights' size and, with Ray, one object-store
  round trip of the weights and one empty remote call. Writes them as JSON.
- ``measure``: real `ponder train --backend ray` runs (through `run_ray_training`) with
  1, 2, ... actors for a fixed time; prints positions/s and learner steps/s of each.
- ``model``: from a calibration, the throughput at 1 .. N actors and which resource binds:
  actors (N / t_position), the learner (B / (spp * t_step)), the replay host (one process
  adds every position and builds every batch), the driver (one scheduling round trip per
  self-play call and per learner chunk) or the weight broadcast (one copy of the weights
  per node per sync). ``--learner-speedup`` and ``--nodes`` explore a GPU learner and a
  multi-node cluster (not measured here).

    python -m scripts.scaling_model calibrate --game tictactoe --out calib.json
    python -m scripts.scaling_model measure --game tictactoe --actors 1 2 --minutes 1.5
    python -m scripts.scaling_model model --calibration calib.json --actors 1 2 4 8 16 64 256
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Calibration:
    """Measured costs (seconds unless named otherwise) of one configuration on one machine."""

    machine: str
    game: str
    games_per_actor: int
    simulations: int
    batch_size: int
    samples_per_position: float
    weight_sync_steps: int
    moves_per_call: int
    seconds_per_position: float       # one actor, one thread
    seconds_per_step: float           # the learner, on the device it ran on
    learner_device: str
    replay_add_seconds_per_position: float
    replay_batch_seconds: float
    weight_bytes: int
    weight_roundtrip_seconds: float   # ray.put + ray.get of the weights (nan without Ray)
    remote_call_seconds: float        # an empty actor method round trip (nan without Ray)


@dataclass(frozen=True)
class Bound:
    """Positions per second that one resource allows at a given actor count."""

    resource: str
    positions_per_second: float


def bounds(calibration: Calibration, actors: int, nodes: int = 1, learner_speedup: float = 1.0,
           bandwidth_bytes_per_second: float = 1.0e9) -> list[Bound]:
    """The throughput limit of each resource with ``actors`` actors on ``nodes`` nodes.

    Positions per learner step are ``B / spp`` (the ratio the trainer holds). Per position:
    the replay host adds it and builds ``spp / B`` batches; the driver makes
    ``1 / (games_per_actor * moves_per_call)`` self-play calls and ``spp / (B * chunk)``
    learner calls; the broadcast ships the weights to every node once per ``sync`` steps.
    """
    c = calibration
    per_step_positions = c.batch_size / c.samples_per_position
    step = c.seconds_per_step / learner_speedup
    # The learner prefetches the next batch while it trains, so the slower of the two binds.
    learner = per_step_positions / max(step, c.replay_batch_seconds)
    replay_cost = c.replay_add_seconds_per_position + c.replay_batch_seconds / per_step_positions
    call = c.remote_call_seconds if c.remote_call_seconds == c.remote_call_seconds else 1e-3
    driver_cost = call * (1.0 / (c.games_per_actor * c.moves_per_call)
                          + 1.0 / (per_step_positions * min(c.weight_sync_steps, 10)))
    broadcast_per_sync = nodes * c.weight_bytes / bandwidth_bytes_per_second
    broadcast = per_step_positions * c.weight_sync_steps / max(broadcast_per_sync, 1e-12)
    return [Bound("actors", actors / c.seconds_per_position), Bound("learner", learner),
            Bound("replay", 1.0 / replay_cost), Bound("driver", 1.0 / driver_cost),
            Bound("weight broadcast", broadcast)]


def predict(calibration: Calibration, actors: int, **kwargs) -> tuple[float, str]:
    """Positions per second and the binding resource (the smallest bound)."""
    limits = bounds(calibration, actors, **kwargs)
    binding = min(limits, key=lambda bound: bound.positions_per_second)
    return binding.positions_per_second, binding.resource


# ----------------------------------------------------------------------------- calibrate

def _machine() -> str:
    import os

    from selfplay.machine import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores"


def calibrate(game_name: str, moves: int, steps: int, use_ray: bool, device: str, overrides: list[str]) -> Calibration:
    import numpy as np
    import torch

    from agent.agent import Agent
    from agent.networks import MuZeroNetwork
    from envs.registry import get_game
    from selfplay import config as run_config
    from selfplay.actor import Actor
    from selfplay.learner import Learner, resolve_device
    from selfplay.ray_backend import RayOptions
    from selfplay.replay import Replay

    torch.set_num_threads(1)
    config = run_config.apply_overrides(run_config.preset(game_name), overrides)
    game = get_game(config.game.name, **config.game.options)
    rng = np.random.default_rng(0)
    network = MuZeroNetwork(game, config.network).eval()
    actor = Actor(game, Agent(network, game, device="cpu"), config.search, config.actor, rng)
    games = []
    actor.play_move()                                  # warm-up
    started = time.perf_counter()
    for _ in range(moves):
        games.extend(actor.play_move())
    seconds_per_position = (time.perf_counter() - started) / (moves * config.actor.games_per_actor)
    while sum(g.length for g in games) < config.learner.batch_size:
        games.extend(actor.play_move())

    replay = Replay.from_config(config)
    started = time.perf_counter()
    for game_history in games:
        replay.add_game(game_history)
    add = (time.perf_counter() - started) / max(1, sum(g.length for g in games))
    replay.sample(config.learner.batch_size, rng)
    started = time.perf_counter()
    for _ in range(steps):
        replay.sample(config.learner.batch_size, rng)
    batch_seconds = (time.perf_counter() - started) / steps

    learner_device = resolve_device(device)
    learner = Learner(MuZeroNetwork(game, config.network), config, learner_device)
    batch = replay.sample(config.learner.batch_size, rng)
    learner.train_step(batch)
    if learner_device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        learner.train_step(batch)
    if learner_device.type == "cuda":
        torch.cuda.synchronize()
    step_seconds = (time.perf_counter() - started) / steps
    weights = learner.weights()
    weight_bytes = int(sum(array.nbytes for array in weights.values()))

    roundtrip = call = float("nan")
    if use_ray:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            @ray.remote(num_cpus=0)
            class Echo:
                def ping(self) -> int:
                    return 0

                def size(self, weights: dict) -> int:
                    return len(weights)

            echo = Echo.remote()
            ray.get(echo.ping.remote())
            started = time.perf_counter()
            for _ in range(200):
                ray.get(echo.ping.remote())
            call = (time.perf_counter() - started) / 200
            started = time.perf_counter()
            for _ in range(20):
                ray.get(echo.size.remote(ray.put(weights)))
            roundtrip = (time.perf_counter() - started) / 20
            ray.kill(echo)
        finally:
            if started_here:
                ray.shutdown()
    return Calibration(
        machine=_machine(), game=game_name, games_per_actor=config.actor.games_per_actor,
        simulations=config.search.num_simulations, batch_size=config.learner.batch_size,
        samples_per_position=config.trainer.samples_per_position, weight_sync_steps=config.trainer.weight_sync_steps,
        moves_per_call=RayOptions().moves_per_call, seconds_per_position=seconds_per_position,
        seconds_per_step=step_seconds, learner_device=str(learner_device),
        replay_add_seconds_per_position=add, replay_batch_seconds=batch_seconds, weight_bytes=weight_bytes,
        weight_roundtrip_seconds=roundtrip, remote_call_seconds=call)


# ----------------------------------------------------------------------------- measure

def measure(game_name: str, actor_counts: list[int], minutes: float, overrides: list[str]) -> list[dict]:
    """Real Ray training runs of ``minutes`` each; positions/s and steps/s of each actor count."""
    from selfplay import config as run_config
    from selfplay.ray_backend import run_ray_training

    rows = []
    for actors in actor_counts:
        config = run_config.apply_overrides(run_config.preset(game_name), [
            f"actor.num_actors={actors}", "trainer.max_steps=0", f"trainer.max_minutes={minutes}",
            "trainer.eval_games=0", "learner.device=cpu", *overrides])
        with tempfile.TemporaryDirectory() as folder:
            summary = run_ray_training(config, Path(folder) / "run", resume=False, show_progress=False)
        rows.append({"actors": actors, "seconds": round(summary.seconds, 1), "positions": summary.positions,
                     "positions_per_second": round(summary.positions / summary.seconds, 1),
                     "learner_steps": summary.steps_this_session,
                     "steps_per_second": round(summary.steps_this_session / summary.seconds, 2),
                     "games": summary.games})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


# ----------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.scaling_model", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cal = commands.add_parser("calibrate", help="time actor, learner, replay and Ray transfers here")
    cal.add_argument("--game", default="tictactoe")
    cal.add_argument("--moves", type=int, default=20)
    cal.add_argument("--steps", type=int, default=20)
    cal.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    cal.add_argument("--no-ray", action="store_true", help="skip the Ray transfer timings")
    cal.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    cal.add_argument("--out", type=Path)
    mea = commands.add_parser("measure", help="real Ray training runs with 1, 2, ... actors")
    mea.add_argument("--game", default="tictactoe")
    mea.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    mea.add_argument("--minutes", type=float, default=1.5)
    mea.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    mod = commands.add_parser("model", help="throughput and the binding resource at 1..N actors")
    mod.add_argument("--calibration", type=Path, required=True)
    mod.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 1024])
    mod.add_argument("--actors-per-node", type=int, default=16)
    mod.add_argument("--learner-speedup", type=float, default=1.0,
                     help="learner step time divided by this (e.g. a GPU; not measured here)")
    mod.add_argument("--bandwidth-gbit", type=float, default=10.0, help="network bandwidth between nodes")
    args = parser.parse_args(argv)

    if args.command == "calibrate":
        calibration = calibrate(args.game, args.moves, args.steps, not args.no_ray, args.device, args.assignments)
        text = json.dumps(asdict(calibration), indent=2)
        if args.out:
            args.out.write_text(text + "\n")
        print(text)
        return 0
    if args.command == "measure":
        print(json.dumps({"machine": _machine(), "game": args.game, "minutes": args.minutes,
                          "overrides": args.assignments, "runs": measure(args.game, args.actors, args.minutes,
                                                                         args.assignments)}))
        return 0
    try:
        calibration = Calibration(**json.loads(args.calibration.read_text()))
    except (OSError, ValueError, TypeError) as error:
        print(f"--calibration {args.calibration}: not a calibration file ({error})", file=sys.stderr)
        return 2
    bandwidth = args.bandwidth_gbit * 1e9 / 8
    print(f"model from {args.calibration} ({calibration.machine}; learner {calibration.learner_device}"
          f" x{args.learner_speedup:g}; {args.actors_per_node} actors per node; {args.bandwidth_gbit:g} Gbit/s)")
    print(f"{'actors':>7} {'nodes':>5} {'positions/s':>12} {'steps/s':>8}  bound by   "
          f"(actors / learner / replay / driver / broadcast, positions/s)")
    for actors in args.actors:
        nodes = max(1, -(-actors // args.actors_per_node))
        limits = bounds(calibration, actors, nodes=nodes, learner_speedup=args.learner_speedup,
                        bandwidth_bytes_per_second=bandwidth)
        binding = min(limits, key=lambda bound: bound.positions_per_second)
        steps = binding.positions_per_second * calibration.samples_per_position / calibration.batch_size
        detail = " / ".join(f"{bound.positions_per_second:.3g}" for bound in limits)
        print(f"{actors:>7} {nodes:>5} {binding.positions_per_second:>12.0f} {steps:>8.1f}  "
              f"{binding.resource:<10} ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
