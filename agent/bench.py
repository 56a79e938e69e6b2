"""`ponder bench inference`: network evaluations per second, initial (h+f) and recurrent (g+f).

Measures the two calls the search makes, on batches of B random positions, under
``torch.inference_mode`` in eval mode, as the agent runs them. Each repeat times enough
calls to last about ``--seconds``; the reported rate is the median over ``--repeats``.
Without ``--checkpoint`` the game's preset network is used with random weights (speed
does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--game", required=True, help="game name (see `ponder games`)")
    parser.add_argument("--batch", type=int, default=64, metavar="B", help="positions per network call (default 64)")
    parser.add_argument("--checkpoint", metavar="PATH", help="checkpoint file or run folder (default: random weights)")
    parser.add_argument("--repeats", type=int, default=5, metavar="N", help="timed repeats; the median is reported")
    parser.add_argument("--seconds", type=float, default=0.5, help="target duration of one repeat (default 0.5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as an actor uses)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--act-sims", type=int, default=0, metavar="S",
                        help="also time Agent.act on B random openings at S pUCT simulations and the "
                             "share of its time spent outside the network (default 0: skip)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _rate(call, batch: int, seconds: float, synchronize) -> float:
    """Evaluations per second of ``call`` over about ``seconds``."""
    call()
    synchronize()
    calls, started = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        synchronize()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls * batch / elapsed


def measure(network, batch: int, repeats: int, seconds: float, device) -> dict:
    """Median initial and recurrent evaluations per second (and every repeat's rate)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    spec = network.spec
    planes = (torch.rand(batch, *spec.observation_shape, generator=generator) < 0.3).float().to(device)
    actions = torch.randint(0, spec.num_actions, (batch,), generator=generator).to(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    network = network.to(device).eval()
    initial_rates, recurrent_rates = [], []
    with torch.inference_mode():
        hidden, _, _ = network.initial(planes)
        for _ in range(repeats):
            initial_rates.append(_rate(lambda: network.initial(planes), batch, seconds, synchronize))
            recurrent_rates.append(_rate(lambda: network.recurrent(hidden, actions), batch, seconds, synchronize))
    return {
        "initial_per_second": statistics.median(initial_rates),
        "recurrent_per_second": statistics.median(recurrent_rates),
        "initial_repeats": initial_rates,
        "recurrent_repeats": recurrent_rates,
    }


def random_openings(game, count: int, max_plies: int, seed: int = 0) -> list:
    """``count`` non-terminal positions after 0..max_plies random moves (seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    positions = []
    while len(positions) < count:
        state = game.initial_state()
        for _ in range(int(rng.integers(0, max_plies + 1))):
            following = state.play(int(rng.choice(state.legal_actions())))
            if following.is_terminal():
                break
            state = following
        positions.append(state)
    return positions


def measure_act(network, game, batch: int, sims: int, repeats: int, device) -> dict:
    """Median seconds of one `Agent.act` over B positions at ``sims`` pUCT simulations, and the
    median share of that time spent outside the network's ``initial``/``recurrent`` calls."""
    from agent.agent import Agent

    agent = Agent(network, game, device=device)
    positions = random_openings(game, batch, max_plies=8)
    inside = [0.0]

    def timed(call):
        def wrapper(*inputs):
            started = time.perf_counter()
            output = call(*inputs)
            inside[0] += time.perf_counter() - started
            return output
        return wrapper

    network.initial, network.recurrent = timed(network.initial), timed(network.recurrent)
    try:
        agent.act(positions, sims)   # warm-up
        totals, outside = [], []
        for _ in range(repeats):
            inside[0] = 0.0
            started = time.perf_counter()
            agent.act(positions, sims)
            total = time.perf_counter() - started
            totals.append(total)
            outside.append(1.0 - inside[0] / total)
    finally:
        del network.initial, network.recurrent   # back to the class methods
    seconds = statistics.median(totals)
    return {"act_sims": sims, "act_seconds": seconds, "act_positions_per_second": batch / seconds,
            "act_outside_network_share": statistics.median(outside)}


def run(args: argparse.Namespace) -> int:
    from envs.errors import UsageError

    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.act_sims < 0:
        raise UsageError(f"--act-sims must be >= 0, got {args.act_sims}")
    if not args.seconds > 0:
        raise UsageError(f"--seconds must be > 0, got {args.seconds}")
    import torch

    from envs import get_game

    torch.set_num_threads(args.threads)
    game = get_game(args.game)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device {args.device!r} is not a torch device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if args.checkpoint:
        from agent.agent import Agent

        network = Agent.load(args.checkpoint, device="cpu", game=game).network
        source = str(args.checkpoint)
    else:
        from agent.networks import build_network

        torch.manual_seed(0)
        network = build_network(game)
        source = "random weights, preset network"
    result = {
        "game": game.name, "batch": args.batch, "threads": args.threads, "device": str(device),
        "repeats": args.repeats, "network": source,
        "parameters": sum(p.numel() for p in network.parameters()),
        **measure(network, args.batch, args.repeats, args.seconds, device),
    }
    if args.act_sims:
        result.update(measure_act(network, game, args.batch, args.act_sims, args.repeats, device))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{game.name}  B={args.batch}  threads={args.threads}  {source} ({result['parameters']:,} parameters)")
        print(f"  initial   (h+f): {result['initial_per_second']:12,.0f} evaluations/s  (median of {args.repeats})")
        print(f"  recurrent (g+f): {result['recurrent_per_second']:12,.0f} evaluations/s  (median of {args.repeats})")
        if args.act_sims:
            print(f"  Agent.act at {args.act_sims} sims: {result['act_positions_per_second']:,.1f} positions/s, "
                  f"{100 * result['act_outside_network_share']:.1f}% of the time outside the network")
    sys.stdout.flush()
    return 0
