"""`ponder bench tree`: simulations per second of the tree alone, with a fake network.

Each repeat runs one full batched search (reset_roots, S x (select, expand_and_backup),
output) over B trees and times only the tree calls: the fake network's own time is
excluded, so the figure is what the tree would cost next to an infinitely fast network.
Reports the median over repeats.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mcts.config import ROOT_METHODS

    parser.add_argument("--batch", type=int, default=64, help="B, trees searched together (default 64)")
    parser.add_argument("--sims", type=int, default=50, help="S, simulations per search (default 50)")
    parser.add_argument("--actions", type=int, default=7, help="A, actions per node (default 7)")
    parser.add_argument("--root", choices=ROOT_METHODS, default="puct", help="root selection (default puct)")
    parser.add_argument("--repeats", type=int, default=5, help="searches timed; the median is reported (default 5)")
    parser.add_argument("--impl", choices=("cython", "reference"), default="cython",
                        help="the compiled tree or the pure-Python reference (default cython)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake network and the noise")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def time_search(tree_class, batch: int, sims: int, actions: int, root: str, seed: int) -> float:
    """Seconds spent inside tree calls during one full search of `sims` simulations."""
    import numpy as np

    from mcts.config import SearchConfig
    from mcts.fake_network import FakeNetwork

    config = SearchConfig(num_simulations=sims, root=root)
    network = FakeNetwork(actions, seed)
    rng = np.random.default_rng(seed)
    legal = np.ones((batch, actions), dtype=bool)
    tree = tree_class(batch, actions, sims + 1)
    roots = network.initial(batch)
    node_states = np.zeros((batch, sims + 1), dtype=np.uint64)
    node_states[:, 0] = roots.state
    rows = np.arange(batch)
    clock = time.perf_counter
    start = clock()
    tree.reset_roots(config, roots.prior_logits, roots.value, legal, rng)
    spent = clock() - start
    for _ in range(sims):
        start = clock()
        parents, chosen = tree.select(config)
        spent += clock() - start
        answer = network.recurrent(node_states[rows, parents], chosen)
        start = clock()
        new_nodes = tree.expand_and_backup(config, answer.reward, answer.value, answer.prior_logits)
        spent += clock() - start
        node_states[rows, new_nodes] = answer.state
    start = clock()
    tree.output(config)
    return spent + clock() - start


def run(args: argparse.Namespace) -> int:
    from envs.errors import UsageError

    for name, low in (("batch", 1), ("sims", 1), ("actions", 1), ("repeats", 1)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name} must be >= {low}, got {getattr(args, name)}")
    if args.impl == "reference":
        from mcts.reference import ReferenceTree as tree_class
    else:
        try:
            from mcts._tree import BatchedTree as tree_class
        except ImportError:
            raise UsageError("the Cython tree is not built: run `python setup.py build_ext --inplace`") from None

    seconds = []
    for repeat in range(args.repeats):
        seconds.append(time_search(tree_class, args.batch, args.sims, args.actions, args.root, args.seed + repeat))
        print(f"repeat {repeat + 1}/{args.repeats}: {seconds[-1] * 1e3:.2f} ms", file=sys.stderr)
    median = statistics.median(seconds)
    simulations = args.batch * args.sims
    result = {
        "impl": args.impl, "root": args.root, "batch": args.batch, "sims": args.sims, "actions": args.actions,
        "repeats": args.repeats, "seconds_median": median,
        "sims_per_sec": simulations / median, "us_per_sim": median * 1e6 / simulations,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.impl} {args.root}: B={args.batch} S={args.sims} A={args.actions}: "
              f"{result['sims_per_sec']:,.0f} simulations/s, {result['us_per_sim']:.3f} us/simulation "
              f"(median of {args.repeats})")
    return 0
