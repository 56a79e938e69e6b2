"""`ponder bench inference`: network evaluations per second, initial (h+f) and recurrent (g+f).

Measures the two calls the search makes, on batches of B random positions, under
``torch.inference_mode`` in eval mode, as the agent runs them. Each repeat times enough
calls to last about ``--seconds``; the reported rate is the median over ``--repeats``.
Without ``--checkpoint`` the game's preset network is used with random weights (speed
does not depend on the weights).

``--inference eager,fp32,bf16`` times several search copies of the network (`agent.inference`)
with their repeats interleaved, so that machine noise hits them alike; the top-level figures
are the first mode's. ``--agreement N`` compares each mode's decisions with eager fp32 on N
random positions: prior-argmax and searched-move agreement and value errors.
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
    parser.add_argument("--inference", default="auto", metavar="MODES",
                        help="comma-separated search inference modes to time: auto, eager, fp32, bf16 "
                             "(default auto, the Agent's default)")
    parser.add_argument("--agreement", type=int, default=0, metavar="N",
                        help="compare each mode's decisions with eager on N random positions (default 0: skip)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="network.KEY=VALUE",
                        help="override the preset network's size, e.g. network.dynamics_blocks=3")
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


def measure(network, batch: int, repeats: int, seconds: float, device, modes: tuple[str, ...] = ("eager",)) -> dict:
    """Median initial and recurrent evaluations per second (and every repeat's rate) of each
    inference mode, repeats interleaved; the top-level keys are the first mode's."""
    import torch

    generator = torch.Generator().manual_seed(0)
    spec = network.spec
    planes = (torch.rand(batch, *spec.observation_shape, generator=generator) < 0.3).float().to(device)
    actions = torch.randint(0, spec.num_actions, (batch,), generator=generator).to(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    network = network.to(device).eval()
    previous = network.inference
    rates = {mode: ([], []) for mode in modes}
    try:
        with torch.inference_mode():
            for _ in range(repeats):
                for mode in modes:
                    network.set_inference(mode)
                    hidden, _, _ = network.initial(planes)
                    rates[mode][0].append(_rate(lambda: network.initial(planes), batch, seconds, synchronize))
                    rates[mode][1].append(_rate(lambda: network.recurrent(hidden, actions), batch, seconds,
                                                synchronize))
    finally:
        network.set_inference(previous)
    per_mode = {mode: {"initial_per_second": statistics.median(initial),
                       "recurrent_per_second": statistics.median(recurrent),
                       "initial_repeats": initial, "recurrent_repeats": recurrent}
                for mode, (initial, recurrent) in rates.items()}
    return {**per_mode[modes[0]], "modes": per_mode}


def agreement(network, game, count: int, sims: int, modes: tuple[str, ...], device, seed: int = 0) -> dict:
    """How far each inference mode's decisions are from eager fp32 on ``count`` random positions.

    Per mode: share of positions where the prior's argmax (policy-only move) and the move of
    a deterministic ``sims``-simulation pUCT search equal eager's, mean/max absolute error of
    the network's root value, mean absolute error of the searched root value, and the mean
    total-variation distance between the searched policies.
    """
    import copy

    import numpy as np

    from agent.agent import Agent

    positions = random_openings(game, count, max_plies=24, seed=seed)

    def decide(mode: str):
        agent = Agent(copy.deepcopy(network), game, device=device, inference=mode)
        prior = agent.act(positions, 0)
        searched = agent.act(positions, sims) if sims else prior
        return prior, searched

    base_prior, base_search = decide("eager")
    result = {"positions": count, "sims": sims}
    for mode in modes:
        prior, searched = decide(mode)
        rows = np.arange(count)
        gaps = (base_search.visit_counts[rows, base_search.actions] - base_search.visit_counts[rows, searched.actions])
        result[mode] = {
            "prior_argmax_agreement": float(np.mean(prior.actions == base_prior.actions)),
            "search_move_agreement": float(np.mean(searched.actions == base_search.actions)),
            "value_abs_error_mean": float(np.mean(np.abs(prior.root_value - base_prior.root_value))),
            "value_abs_error_max": float(np.max(np.abs(prior.root_value - base_prior.root_value))),
            "searched_value_abs_error_mean": float(np.mean(np.abs(searched.root_value - base_search.root_value))),
            "searched_policy_tv_mean": float(np.mean(0.5 * np.abs(searched.policy - base_search.policy).sum(axis=1))),
            # of the moves that differ: how many eager visits the mode's move was short of eager's
            "search_disagreement_visit_gaps": sorted(int(gap) for gap in gaps[searched.actions != base_search.actions]),
        }
    return result


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


def measure_act(network, game, batch: int, sims: int, repeats: int, device, inference: str = "auto") -> dict:
    """Median seconds of one `Agent.act` over B positions at ``sims`` pUCT simulations, and the
    median share of that time spent outside the network's ``initial``/``recurrent`` calls."""
    from agent.agent import Agent

    agent = Agent(network, game, device=device, inference=inference)
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


def _network_config(game_name: str, overrides: list[str]):
    """The game's preset NetworkConfig with ``network.KEY=VALUE`` overrides; UsageError if bad."""

    from agent.config import NetworkConfig
    from envs.errors import UsageError

    values = NetworkConfig.for_game(game_name).to_dict()
    for assignment in overrides:
        key, sep, value = assignment.partition("=")
        name = key.strip().removeprefix("network.")
        if not sep or not key.strip().startswith("network.") or name not in values:
            raise UsageError(f"--set takes network.KEY=VALUE with a NetworkConfig field, got {assignment!r}")
        try:
            values[name] = type(values[name])(value.strip())
        except ValueError:
            raise UsageError(f"--set {assignment!r}: not a valid {type(values[name]).__name__}") from None
    try:
        return NetworkConfig.from_dict(values)
    except ValueError as error:
        raise UsageError(f"--set: {error}") from None


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
    from agent.inference import INFERENCE_MODES

    modes = tuple(mode.strip() for mode in getattr(args, "inference", "auto").split(",") if mode.strip())
    bad = [mode for mode in modes if mode not in INFERENCE_MODES]
    if not modes or bad:
        raise UsageError(f"--inference takes modes from {', '.join(INFERENCE_MODES)}, got {getattr(args, 'inference')!r}")
    count = getattr(args, "agreement", 0)
    if count < 0:
        raise UsageError(f"--agreement must be >= 0, got {count}")
    overrides = list(getattr(args, "overrides", []))
    if overrides and args.checkpoint:
        raise UsageError("--set applies to the preset network, not to a --checkpoint")
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
        from agent.networks import MuZeroNetwork, build_network

        torch.manual_seed(0)
        if overrides:
            network = MuZeroNetwork(game, _network_config(game.name, overrides))
            source = "random weights, preset network with " + " ".join(overrides)
        else:
            network = build_network(game)
            source = "random weights, preset network"
    network = network.to(device).eval()
    modes = tuple(dict.fromkeys(network.set_inference(mode) for mode in modes))   # auto -> concrete
    result = {
        "game": game.name, "batch": args.batch, "threads": args.threads, "device": str(device),
        "repeats": args.repeats, "network": source, "inference": modes[0],
        "parameters": sum(p.numel() for p in network.parameters()),
        **measure(network, args.batch, args.repeats, args.seconds, device, modes),
    }
    if args.act_sims:
        network.set_inference(modes[0])
        result.update(measure_act(network, game, args.batch, args.act_sims, args.repeats, device, modes[0]))
    if count:
        result["agreement"] = agreement(network, game, count, args.act_sims or 50, modes, device)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{game.name}  B={args.batch}  threads={args.threads}  {source} ({result['parameters']:,} parameters)")
        for mode, rates in result["modes"].items():
            print(f"  {mode:5s} initial   (h+f): {rates['initial_per_second']:12,.0f} evaluations/s  "
                  f"(median of {args.repeats})")
            print(f"  {mode:5s} recurrent (g+f): {rates['recurrent_per_second']:12,.0f} evaluations/s  "
                  f"(median of {args.repeats})")
        if args.act_sims:
            print(f"  Agent.act at {args.act_sims} sims: {result['act_positions_per_second']:,.1f} positions/s, "
                  f"{100 * result['act_outside_network_share']:.1f}% of the time outside the network "
                  f"({modes[0]} inference)")
        if count:
            table = result["agreement"]
            for mode in modes:
                row = table[mode]
                print(f"  {mode:5s} vs eager on {count} positions: prior argmax {row['prior_argmax_agreement']:.1%}, "
                      f"{table['sims']}-sim search move {row['search_move_agreement']:.1%} agree; value error "
                      f"mean {row['value_abs_error_mean']:.4f} max {row['value_abs_error_max']:.4f}; searched value "
                      f"error {row['searched_value_abs_error_mean']:.4f}; policy TV {row['searched_policy_tv_mean']:.4f}; "
                      f"eager visit gaps of the differing moves {row['search_disagreement_visit_gaps']}")
    sys.stdout.flush()
    return 0
