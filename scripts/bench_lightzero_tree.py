"""Side-by-side: ponder's compiled tree vs LightZero 0.2.0's compiled MuZero tree, tree time only.

LightZero is never a dependency of ponder. Install it in a scratch virtual environment
outside the repo (its full dependency set does not resolve beside torch 2.13):

    python -m venv /tmp/lz-venv
    /tmp/lz-venv/bin/pip install 'numpy<2'
    /tmp/lz-venv/bin/pip install --no-deps lightzero==0.2.0

Then, from the repo root: `.venv/bin/python scripts/bench_lightzero_tree.py [--lz-python PATH]`.
This script re-runs itself under that interpreter (`--worker`) and loads LightZero's
compiled `mz_tree` extension straight from its file (importing `lzero.mcts` would pull in
DI-engine). Both trees are driven by the same fake network (mcts/fake_network.py, loaded
by path) and only the tree calls are timed; LightZero's inputs are converted to Python
lists outside the timed region, which favours it. If the scratch environment is absent,
the script says so and exits 0.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = ((64, 50, 7), (256, 100, 9))


def _load_by_path(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lightzero_search_seconds(mz_tree, fake, batch: int, sims: int, actions: int, seed: int) -> float:
    """Seconds inside LightZero's tree calls for one batched search (board-game mode, no noise)."""
    network = fake.FakeNetwork(actions, seed)
    roots_eval = network.initial(batch)
    node_states = [roots_eval.state]            # node_states[search depth index][batch index]
    legal_actions = [list(range(actions)) for _ in range(batch)]
    root_logits = roots_eval.prior_logits.tolist()
    to_play = [1] * batch
    clock = time.perf_counter
    start = clock()
    roots = mz_tree.Roots(batch, legal_actions)
    roots.prepare_no_noise([0.0] * batch, root_logits, to_play)
    stats = mz_tree.MinMaxStatsList(batch)
    stats.set_delta(0.01)
    spent = clock() - start
    for simulation in range(sims):
        start = clock()
        results = mz_tree.ResultsWrapper(num=batch)
        path_index, batch_index, last_actions, virtual_to_play = mz_tree.batch_traverse(
            roots, 19652.0, 1.25, 1.0, stats, results, list(to_play))
        spent += clock() - start
        import numpy as np
        parent_states = np.array([node_states[i][j] for i, j in zip(path_index, batch_index)], dtype=np.uint64)
        answer = network.recurrent(parent_states, np.asarray(last_actions))
        node_states.append(answer.state)
        rewards, values, logits = answer.reward.tolist(), answer.value.tolist(), answer.prior_logits.tolist()
        start = clock()
        mz_tree.batch_backpropagate(simulation + 1, 1.0, rewards, values, logits, stats, results, virtual_to_play)
        spent += clock() - start
    start = clock()
    roots.get_distributions()
    roots.get_values()
    return spent + clock() - start


def worker(args: argparse.Namespace) -> int:
    """Runs under the LightZero interpreter: prints {size: [seconds, ...]} as JSON."""
    found = glob.glob(os.path.join(os.path.dirname(os.__file__), "..", "**", "lzero", "mcts", "ctree",
                                   "ctree_muzero", "mz_tree*.so"), recursive=True)
    found += glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages", "lzero", "mcts", "ctree",
                                    "ctree_muzero", "mz_tree*.so"))
    if not found:
        print(json.dumps({"error": "lzero's compiled mz_tree not found in this interpreter"}))
        return 1
    mz_tree = _load_by_path("mz_tree", found[0])
    fake = _load_by_path("ponder_fake_network", os.path.join(REPO, "mcts", "fake_network.py"))
    timings = {}
    for batch, sims, actions in SIZES:
        timings[f"{batch},{sims},{actions}"] = [
            lightzero_search_seconds(mz_tree, fake, batch, sims, actions, seed) for seed in range(args.repeats)]
    print(json.dumps({"timings": timings, "module": found[0]}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lz-python", default="/tmp/lz-venv/bin/python",
                        help="python of the scratch venv holding lightzero==0.2.0 (default /tmp/lz-venv/bin/python)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if not os.path.exists(args.lz_python):
        print(f"skipped: no LightZero scratch environment at {args.lz_python} "
              "(see this script's docstring to create one)", file=sys.stderr)
        return 0
    probe = subprocess.run([args.lz_python, "-c", "import importlib.util as u; "
                            "print(u.find_spec('lzero') is not None)"], capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        print(f"skipped: {args.lz_python} has no lightzero installed", file=sys.stderr)
        return 0

    sys.path.insert(0, REPO)
    from mcts._tree import BatchedTree
    from mcts.bench import time_search
    from mcts.reference import ReferenceTree

    lightzero = subprocess.run([args.lz_python, os.path.abspath(__file__), "--worker", "--repeats", str(args.repeats)],
                               capture_output=True, text=True, cwd=REPO)
    try:
        lz_result = json.loads(lightzero.stdout.strip().splitlines()[-1])
        lz_timings = lz_result["timings"]
    except (ValueError, IndexError, KeyError):
        print(f"LightZero worker failed:\n{lightzero.stdout}\n{lightzero.stderr}", file=sys.stderr)
        return 1

    rows = []
    for batch, sims, actions in SIZES:
        simulations = batch * sims
        ours = statistics.median(time_search(BatchedTree, batch, sims, actions, "puct", seed)
                                 for seed in range(args.repeats))
        ours_gumbel = statistics.median(time_search(BatchedTree, batch, sims, actions, "gumbel", seed)
                                        for seed in range(args.repeats))
        reference = statistics.median(time_search(ReferenceTree, batch, sims, actions, "puct", seed)
                                      for seed in range(min(3, args.repeats)))
        lz = statistics.median(lz_timings[f"{batch},{sims},{actions}"])
        rows.append({
            "batch": batch, "sims": sims, "actions": actions,
            "ponder_puct_sims_per_sec": simulations / ours,
            "ponder_gumbel_sims_per_sec": simulations / ours_gumbel,
            "lightzero_muzero_sims_per_sec": simulations / lz,
            "reference_puct_sims_per_sec": simulations / reference,
            "speedup_vs_lightzero": lz / ours,
            "speedup_vs_reference": reference / ours,
        })
    if args.json:
        print(json.dumps({"rows": rows, "repeats": args.repeats}))
    else:
        print("| B | S | A | ponder pUCT | ponder Gumbel | LightZero 0.2.0 MuZero | reference | vs LightZero | vs reference |")
        print("|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['batch']} | {row['sims']} | {row['actions']} | {row['ponder_puct_sims_per_sec']:,.0f} | "
                  f"{row['ponder_gumbel_sims_per_sec']:,.0f} | {row['lightzero_muzero_sims_per_sec']:,.0f} | "
                  f"{row['reference_puct_sims_per_sec']:,.0f} | {row['speedup_vs_lightzero']:.1f}x | "
                  f"{row['speedup_vs_reference']:.0f}x |")
        print(f"(simulations per second, tree time only, median of {args.repeats} searches)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
