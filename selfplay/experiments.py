"""Experiments as files: one TOML recipe per experiment, inheriting from a per-game base.

A recipe lives in ``selfplay/recipes/<game>/<name>.toml`` and is named ``<game>/<name>``.
Besides the sections of a run config (``[network]``, ``[loss]``, ``[search]``, ...: the same
keys as ``ponder train --config`` and ``--set``), it has

- ``[experiment]``: ``description``, and ``inherits`` (another recipe of the same game,
  ``base`` when absent; ``base.toml`` itself starts from the shared defaults and the game's
  network preset, `agent.config.NetworkConfig.for_game`);
- ``[benchmark]`` (optional; inherited from the nearest ancestor that has one): how its
  agent is measured: ``opponents``, ``sims``, ``games``,
  ``roots`` and ``pons`` (the Connect Four solver sets), type-checked like the config.
  `ponder experiments --json` shows it and `ponder ablate --experiment <game>/<name>` runs
  it (`selfplay.ablation_cli.apply_benchmark`); the head-to-head against a reference agent and
  the second seed are `scripts/evaluate_connect_four.sh`'s.

Every game of `ponder games` has a ``base.toml``: it *is* the game's preset
(`selfplay.config.preset`). A recipe's training budget and seed are its ``[trainer]``
``max_minutes`` and ``seed``; ``ponder train --experiment connect_four/c4-o --out DIR``
trains exactly it (flags and ``--set`` still apply on top) and ``ponder experiments`` lists
the recipes.

Reading a recipe and resolving its inheritance into a run config is `selfplay.config`'s job
(`recipe_config`: the presets need it, and config sits below this module); this module
adds what an experiment is besides its config: its description, parent and benchmark.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from envs.errors import UsageError



@dataclass(frozen=True)
class Benchmark:
    """How an experiment's agent is measured (the ``[benchmark]`` table)."""

    opponents: tuple[str, ...] = ()
    sims: int = 200
    games: int = 140
    roots: tuple[str, ...] = ("puct",)
    pons: bool = False


@dataclass(frozen=True)
class Experiment:
    """A resolved recipe: its name, what it is for, the full run config, its benchmark."""

    name: str
    description: str
    config: Any                      # selfplay.config.RunConfig
    benchmark: Benchmark | None
    inherits: str | None


def experiment_names() -> list[str]:
    """Every recipe as ``<game>/<name>``, bases first, in name order."""
    from selfplay.config import recipe_names

    return recipe_names()


def _benchmark(name: str, table: Any) -> Benchmark:
    if not isinstance(table, dict):
        raise UsageError(f"experiment {name}: [benchmark] must be a table")
    known = {field.name for field in dataclasses.fields(Benchmark)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(f"experiment {name}: unknown benchmark key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    import typing

    from selfplay.config import _coerce

    hints = typing.get_type_hints(Benchmark)
    return Benchmark(**{key: _coerce(value, hints[key], f"benchmark.{key}", f"experiment {name}")
                        for key, value in table.items()})


def inherited_benchmark(name: str, data: dict) -> Benchmark | None:
    """The recipe's [benchmark], or its nearest ancestor's: a recipe that changes how an
    agent trains is measured as the one it inherits from, unless it says otherwise."""
    from selfplay.config import read_recipe, recipe_parent

    seen = {name}
    while "benchmark" not in data:
        parent = recipe_parent(name, data)
        if parent is None or parent in seen:
            return None
        name, data = parent, read_recipe(parent)
        seen.add(name)
    return _benchmark(name, data["benchmark"])


def load_experiment(name: str) -> Experiment:
    """The resolved recipe ``<game>/<name>``; UsageError (one line) if unknown or malformed."""
    from selfplay.config import read_recipe, recipe_config, recipe_parent

    data = read_recipe(name)
    meta = data.get("experiment", {})
    parent = recipe_parent(name, data)
    unknown = sorted(set(meta) - {"description", "inherits"})
    if unknown:
        raise UsageError(f"experiment {name}: unknown [experiment] key {unknown[0]!r} (known: description, inherits)")
    benchmark = inherited_benchmark(name, data)
    return Experiment(name=name, description=str(meta.get("description", "")), config=recipe_config(name),
                      benchmark=benchmark, inherits=parent)
