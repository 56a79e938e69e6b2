"""Experiments as files: one TOML recipe per experiment, inheriting from a per-game base.

A recipe lives in ``selfplay/recipes/<game>/<name>.toml`` and is named ``<game>/<name>``.
Besides the sections of a run config (``[network]``, ``[loss]``, ``[search]``, ...: the same
keys as ``ponder train --config`` and ``--set``), it has

- ``[experiment]``: ``description``, and ``inherits`` (another recipe of the same game,
  ``base`` when absent; ``base.toml`` itself starts from the shared defaults and the game's
  network preset, `agent.config.NetworkConfig.for_game`);
- ``[benchmark]`` (optional): how its agent is measured: ``opponents``, ``sims``, ``games``,
  ``roots`` and ``pons`` (the Connect Four solver sets), which `ponder experiments` shows
  and `scripts/evaluate_connect_four.sh` runs.

Every game of `ponder games` has a ``base.toml``: it *is* the game's preset
(`selfplay.config.preset`). A recipe's training budget and seed are its ``[trainer]``
``max_minutes`` and ``seed``; ``ponder train --experiment connect_four/c4-o --out DIR``
trains exactly it (flags and ``--set`` still apply on top) and ``ponder experiments`` lists
the recipes.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import tomllib
from dataclasses import dataclass
from typing import Any

from envs.errors import UsageError

BASE = "base"
RECIPE_TABLES = ("experiment", "benchmark")


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


def _recipes():
    return importlib.resources.files("selfplay").joinpath("recipes")


def experiment_names() -> list[str]:
    """Every recipe as ``<game>/<name>``, bases first, in name order."""
    names = []
    for game in sorted(_recipes().iterdir(), key=lambda entry: entry.name):
        if not game.is_dir() or game.name.startswith(("_", ".")):
            continue
        stems = sorted(entry.name[:-5] for entry in game.iterdir() if entry.name.endswith(".toml"))
        names += [f"{game.name}/{stem}" for stem in sorted(stems, key=lambda stem: (stem != BASE, stem))]
    return names


def has_recipe(name: str) -> bool:
    game, _, stem = name.partition("/")
    return bool(game and stem) and _recipes().joinpath(game, f"{stem}.toml").is_file()


def _read(name: str) -> dict:
    game, _, stem = name.partition("/")
    if not game or not stem or "/" in stem or not has_recipe(name):
        known = ", ".join(experiment_names())
        raise UsageError(f"unknown experiment {name!r} (known: {known})")
    text = _recipes().joinpath(game, f"{stem}.toml").read_text()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"experiment {name}: not valid TOML: {error}") from None


def _benchmark(name: str, table: Any) -> Benchmark:
    if not isinstance(table, dict):
        raise UsageError(f"experiment {name}: [benchmark] must be a table")
    known = {field.name for field in dataclasses.fields(Benchmark)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(f"experiment {name}: unknown benchmark key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in table.items()}
    return Benchmark(**values)


def load_experiment(name: str, _seen: tuple[str, ...] = ()) -> Experiment:
    """The resolved recipe ``<game>/<name>``; UsageError (one line) if unknown or malformed."""
    from agent.config import NetworkConfig
    from selfplay.config import GameConfig, RunConfig, from_dict

    if name in _seen:
        raise UsageError(f"experiment {name}: inheritance loops through {' -> '.join(_seen + (name,))}")
    data = _read(name)
    game, _, stem = name.partition("/")
    meta = data.get("experiment", {})
    if not isinstance(meta, dict):
        raise UsageError(f"experiment {name}: [experiment] must be a table")
    unknown = sorted(set(meta) - {"description", "inherits"})
    if unknown:
        raise UsageError(f"experiment {name}: unknown [experiment] key {unknown[0]!r} (known: description, inherits)")
    parent = meta.get("inherits", None if stem == BASE else BASE)
    if parent is None:
        base = RunConfig(game=GameConfig(name=game), network=NetworkConfig.for_game(game))
    else:
        base = load_experiment(f"{game}/{parent}", _seen + (name,)).config
    sections = {key: value for key, value in data.items() if key not in RECIPE_TABLES}
    config = from_dict(sections, base, source=f"experiment {name}")
    if config.game.name != game:
        raise UsageError(f"experiment {name}: its [game] is {config.game.name!r}, not {game!r}")
    benchmark = _benchmark(name, data["benchmark"]) if "benchmark" in data else None
    return Experiment(name=name, description=str(meta.get("description", "")), config=config,
                      benchmark=benchmark, inherits=None if parent is None else f"{game}/{parent}")
