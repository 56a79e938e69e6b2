"""`ponder experiments [--json]`: the recipes `ponder train --experiment NAME` reproduces.

One line per recipe (`selfplay.experiments`): its name, what it inherits from, its training
budget and what it is for; ``--json`` adds the resolved config and the benchmark.
"""
from __future__ import annotations

import argparse
import dataclasses
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from selfplay.config import to_dict
    from selfplay.experiments import experiment_names, load_experiment

    experiments = [load_experiment(name) for name in experiment_names()]
    if args.json:
        print(json.dumps({"experiments": [
            {"name": e.name, "description": e.description, "inherits": e.inherits, "config": to_dict(e.config),
             "benchmark": None if e.benchmark is None else dataclasses.asdict(e.benchmark)}
            for e in experiments]}))
        return 0
    print(f"{'experiment':22s} {'inherits':20s} {'budget':>8s}  description")
    for e in experiments:
        trainer = e.config.trainer
        budget = (f"{trainer.max_minutes:g} min" if trainer.max_minutes else
                  f"{trainer.max_steps} steps" if trainer.max_steps else "-")
        print(f"{e.name:22s} {e.inherits or '-':20s} {budget:>8s}  {e.description}")
    print("\nponder train --experiment NAME --out DIR   # reproduce one (flags and --set apply on top)")
    return 0
