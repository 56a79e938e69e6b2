"""The whole configuration of a training run: typed frozen dataclasses, presets, TOML, overrides.

A run is described by one `RunConfig` made of sections (game, network, search, actor,
replay, learner, trainer). Each game's preset is its base recipe, a TOML file of data
(`preset(game)`, `selfplay.experiments`); a TOML file
(`--config`) and `--set section.key=value` pairs override it, in that order, and every
value is type-checked against the field's annotation so that a typo is one clear
`UsageError` instead of a silently ignored knob. The resolved config is written into the
run folder (`config.toml`) and into every checkpoint, so a run can always be reproduced
and resumed with exactly the settings it started with.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import ACTION_HEAD_OUTPUTS, LossConfig, NetworkConfig
from envs.errors import UsageError
from mcts.config import SearchConfig


@dataclass(frozen=True)
class GameConfig:
    """Which game to train: a registry name (or "module:factory") and its options."""

    name: str = "tictactoe"
    options: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ActorConfig:
    """Self-play actors: how many processes, how many games each plays at once, exploration.

    Each actor process plays ``games_per_actor`` games in lock-step so that one network call
    per simulation serves all of them. Moves are sampled from the search policy at
    ``temperature`` for the first ``temperature_moves`` plies of a game and at
    ``final_temperature`` afterwards (0 = the most visited move). With probability
    ``random_opening_fraction`` a game starts with ``random_opening_moves`` uniformly random
    plies (not stored as training positions) so that positions off the main line are seen.
    ``reuse_trees`` keeps each game's search tree between its moves (`agent.reuse`; pUCT
    only): every move still runs the search's simulations, and the subtree of the move
    played comes on top, so the visit counts stored as policy targets rest on more search at
    the same cost. The trees are dropped when new weights arrive.
    ``fast_fraction`` > 0 is KataGo's playout-cap randomisation: that share of moves (drawn
    per game and move) is searched with ``fast_simulations`` only, without root noise, and
    stored without a policy target (an all-zero policy, which the loss's cross-entropy
    ignores); the game's outcome still makes every position a value target. More games
    for the same compute, policy targets only from full searches.
    """

    num_actors: int = 1
    games_per_actor: int = 64
    temperature: float = 1.0
    temperature_moves: int = 30
    final_temperature: float = 0.0
    max_moves: int = 512
    random_opening_fraction: float = 0.0
    random_opening_moves: int = 0
    torch_threads: int = 1
    reuse_trees: bool = False
    fast_fraction: float = 0.0
    fast_simulations: int = 0


@dataclass(frozen=True)
class ReplayConfig:
    """Replay memory and the targets sampled from it (K, the unroll length, is ``loss.unroll_steps``).

    ``capacity_positions`` bounds memory: the oldest games are dropped beyond it.
    ``td_steps`` < 0 makes the value target the final outcome (board games); otherwise it is
    the n-step return bootstrapped from the stored search value ``td_steps`` plies later.
    ``priority_alpha`` 0 is uniform sampling; > 0 samples positions in proportion to
    ``priority ** alpha`` with importance weights ``(N * P) ** -beta``.
    ``reanalyse_fraction`` of each batch gets fresh policy targets from a search with the
    latest network. ``symmetries`` augments each sampled row with a random board symmetry
    ("dihedral": the 8 of a square board with one action per cell; "mirror": left-right,
    for column actions; "none"): a per-game fact, so only presets turn it on.
    ``absorbing_targets`` trains the unroll steps past a game's end as MuZero's absorbing
    states (value 0, reward 0, no policy target) instead of leaving them untrained: a
    search that steps past a terminal node in its tree then backs up zeros, not noise.
    ``root_value_weight`` w mixes the stored search value into the value target,
    (1 - w) * outcome + w * search value (0: the outcome alone).
    """

    capacity_positions: int = 100_000
    td_steps: int = -1
    discount: float = 1.0
    priority_alpha: float = 0.0
    priority_beta: float = 1.0
    reanalyse_fraction: float = 0.0
    min_positions: int = 1_000
    symmetries: str = "none"
    absorbing_targets: bool = True
    root_value_weight: float = 0.0


PRECISIONS = ("fp32", "bf16", "auto")


@dataclass(frozen=True)
class LearnerConfig:
    """Optimisation: batch size, Adam with weight decay, warm-up then cosine decay."""

    batch_size: int = 256
    learning_rate: float = 3e-3
    final_learning_rate: float = 3e-4
    warmup_steps: int = 100
    decay_steps: int = 20_000
    weight_decay: float = 1e-4
    max_grad_norm: float = 5.0
    device: str = "auto"
    # bf16: the loss's forward pass under bfloat16 autocast (parameters, gradients and Adam
    # state stay float32); auto: bf16 where it is native (a CPU with AVX512-BF16/AMX, or a
    # GPU with bf16), else fp32. On this project's 2-core CPU: 1.6x the Connect Four learner
    # steps per second (`ponder bench learner`, docs/benchmarks.md).
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass(frozen=True)
class TrainerConfig:
    """The loop around actors and learner: budget, throttling, sync, checkpoints, evaluation.

    ``samples_per_position`` is the target ratio of training samples (batch rows) per
    self-play position generated; the faster side waits for the slower one, within
    ``ratio_slack_positions`` positions (at least one batch's worth: `selfplay.throttle`).
    ``max_steps`` 0 / ``max_minutes`` 0 mean unlimited (the other one bounds the run).
    """

    seed: int = 0
    max_steps: int = 0
    max_minutes: float = 0.0
    backend: str = "local"
    samples_per_position: float = 4.0
    ratio_slack_positions: int = 2_000
    weight_sync_steps: int = 25
    checkpoint_minutes: float = 2.0
    keep_checkpoints: int = 3
    eval_minutes: float = 1.0
    eval_games: int = 20
    eval_sims: int = 0
    eval_opponents: tuple[str, ...] = ("random", "heuristic")
    log_every_steps: int = 10


@dataclass(frozen=True)
class ModelFitConfig:
    """Fitting the learned model to the trained network after self-play (`selfplay.model_fit`).

    ``minutes`` of wall clock (0: no fit); paths of ``unroll_steps`` moves, ``batch`` of them
    per step; at each move a path still on its game follows the move played with probability
    ``follow``, and a path off it draws from the network's prior with probability ``prior``,
    else uniformly among the legal moves. ``dynamics_blocks`` sizes the g that is fitted
    (the fit starts g afresh, so it may differ from the training run's); the learning rate
    follows a cosine from ``learning_rate`` to 5% of it over the budget.
    """

    minutes: float = 0.0
    unroll_steps: int = 5
    batch: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    follow: float = 0.5
    prior: float = 0.0             # > 0 costs a network call per step of every path (10x the sampling)
    dynamics: str = "board"        # what g steps: "board" (planes, h encodes them) or "latent" (MuZero's)
    dynamics_blocks: int = 2       # the latent g's residual blocks
    action_head_layers: int = 1    # the action heads' convolutions (network.action_head_layers)
    action_head_channels: int = 16
    action_head_output: str = "mlp"    # network.action_head_output: "cells" reads a placement at its cell
    keep_heads: bool = False       # start from the checkpoint's action heads when it has them, same shape
    board_ends: bool = False       # fit the board model's end detector too (network.board_ends)
    board_ends_learning_rate: float = 1e-2   # the detector's own when it trains with g (a line detector
                                             # learns slowly at g's rate); alone it starts at 3e-3
    # > 0: the detector trains alone for these minutes after g's fit, on positions the rules
    # generate (selfplay.end_detector), at most board_ends_examples of them; 0: with g, on the
    # run's paths (c4-t, which read false ends)
    board_ends_minutes: float = 0.0
    board_ends_examples: int = 1_500_000
    # > 0: the board model's g first trains alone for these minutes on single transitions of
    # the replay (selfplay.board_pretrain), before the fit's paths
    board_pretrain_minutes: float = 0.0
    # > 1: each of those batches is the board_pretrain_pool x batch drawn transitions' `batch`
    # that g gets most wrong (the rare ones, Othello's long flips, come up that much more often)
    board_pretrain_pool: int = 1
    hidden_weight: float = 10.0    # weight of g's own term: the hidden states' or the planes' error
    end_positive_weight: float = 10.0
    precision: str = "bf16"        # autocast of the fit's forward passes: bf16 or fp32
    threads: int = 0               # torch threads (0: all cores)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.minutes >= 0 or not self.board_ends_minutes >= 0 or not self.board_pretrain_minutes >= 0:
            raise ValueError(f"model_fit minutes, board_ends_minutes and board_pretrain_minutes must be >= 0, got "
                             f"{self.minutes}, {self.board_ends_minutes}, {self.board_pretrain_minutes}")
        if self.board_pretrain_minutes > 0 and self.dynamics != "board":
            raise ValueError("model_fit board_pretrain_minutes trains the board model's g: it needs dynamics = board")
        if self.board_ends_minutes > 0 and not self.board_ends:
            raise ValueError("model_fit board_ends_minutes trains the end detector: it needs board_ends = true")
        for name in ("unroll_steps", "batch", "dynamics_blocks", "action_head_layers", "action_head_channels",
                     "board_ends_examples", "board_pretrain_pool"):
            if isinstance(getattr(self, name), bool) or getattr(self, name) < 1:
                raise ValueError(f"model_fit {name} must be an int >= 1, got {getattr(self, name)!r}")
        for name in ("follow", "prior"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"model_fit {name} must be in [0, 1], got {getattr(self, name)}")
        if not self.learning_rate > 0 or not self.board_ends_learning_rate > 0 or self.weight_decay < 0:
            raise ValueError("model_fit learning_rate and board_ends_learning_rate must be > 0, weight_decay >= 0")
        if self.dynamics not in ("board", "latent"):
            raise ValueError(f"model_fit dynamics must be board or latent, got {self.dynamics!r}")
        if self.precision not in ("bf16", "fp32"):
            raise ValueError(f"model_fit precision must be bf16 or fp32, got {self.precision!r}")
        if self.board_ends and self.dynamics != "board":
            raise ValueError("model_fit board_ends reads the board model's planes: it needs dynamics = board")
        if self.threads < 0:
            raise ValueError(f"model_fit threads must be >= 0, got {self.threads}")
        if self.action_head_output not in ACTION_HEAD_OUTPUTS:
            raise ValueError(f"model_fit action_head_output must be one of {', '.join(ACTION_HEAD_OUTPUTS)}, "
                             f"got {self.action_head_output!r}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; written to ``config.toml`` and into each checkpoint."""

    game: GameConfig = field(default_factory=GameConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    model_fit: ModelFitConfig = field(default_factory=ModelFitConfig)


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))


def check_trainable(config: RunConfig) -> None:
    """UsageError (one line) for values that each section accepts on its own but a run cannot
    train with: bounds the dataclasses do not state, and the checks across sections (the
    search over what the loss trains, the discount both use, the evaluation's opponents)."""
    if config.actor.num_actors < 1:
        raise UsageError("actor.num_actors (--actors) must be >= 1")
    if config.actor.games_per_actor < 1:
        raise UsageError("actor.games_per_actor must be >= 1")
    if not 0.0 <= config.actor.fast_fraction < 1.0:
        raise UsageError("actor.fast_fraction must be in [0, 1)")
    if config.actor.fast_fraction > 0 and not 1 <= config.actor.fast_simulations < config.search.num_simulations:
        raise UsageError(f"actor.fast_simulations must be from 1 to below search.num_simulations "
                         f"({config.search.num_simulations}) when actor.fast_fraction > 0")
    if config.actor.fast_fraction > 0 and config.actor.reuse_trees:
        raise UsageError("actor.fast_fraction and actor.reuse_trees do not combine (a kept tree would be "
                         "searched with either budget)")
    if config.actor.reuse_trees and config.search.root != "puct":
        raise UsageError("actor.reuse_trees keeps pUCT trees only (search.root = gumbel starts each move afresh)")
    if config.learner.batch_size < 1:
        raise UsageError("learner.batch_size must be >= 1")
    if config.replay.capacity_positions < config.learner.batch_size:
        raise UsageError("replay.capacity_positions must be at least learner.batch_size")
    if config.trainer.samples_per_position <= 0:
        raise UsageError("trainer.samples_per_position must be > 0")
    if config.trainer.weight_sync_steps < 1 or config.trainer.log_every_steps < 1:
        raise UsageError("trainer.weight_sync_steps and trainer.log_every_steps must be >= 1")
    from selfplay.replay import SYMMETRIES

    if config.replay.symmetries not in SYMMETRIES:
        raise UsageError(f"replay.symmetries must be one of {', '.join(SYMMETRIES)}")
    if not 0.0 <= config.replay.reanalyse_fraction <= 1.0:
        raise UsageError("replay.reanalyse_fraction must be in [0, 1]")
    if not 0.0 <= config.replay.root_value_weight <= 1.0:
        raise UsageError("replay.root_value_weight must be in [0, 1]")
    if config.replay.discount != config.search.discount:
        # the search backs up with the discount its value targets were computed with
        raise UsageError(f"replay.discount ({config.replay.discount:g}) and search.discount "
                         f"({config.search.discount:g}) must be equal: set both")
    if config.search.solver and config.search.model != "rules":
        # only a search over the rules sees where games end; over g the flag would do nothing
        raise UsageError("search.solver proves results from the game's ends, which only a search over "
                         "the rules sees: set search.model=rules too")
    if config.loss.unroll_steps == 0 and config.search.model != "rules":
        # K = 0 trains h and f on real positions only: g is never trained, and a search over
        # the learned model steps through g at every simulation
        raise UsageError("loss.unroll_steps=0 trains no dynamics network, which a search over the learned "
                         "model steps through: set search.model=rules too, or unroll_steps >= 1")
    if config.network.dynamics == "board" and (config.loss.unroll_steps or config.search.model != "rules"):
        # the board model learns from the planes themselves, which the unrolled loss does not
        # target: self-play over the rules trains h, f (and the heads) and leaves g to the fit
        raise UsageError("network.dynamics=board is not trained by self-play: train over the rules without an "
                         "unroll (search.model=rules, loss.unroll_steps=0) and fit it after (model_fit.minutes, "
                         "or `ponder fit-model`)")
    if config.loss.unroll_steps == 0 and config.loss.consistency:
        raise UsageError("loss.consistency compares unrolled hidden states, and loss.unroll_steps=0 unrolls "
                         "none: set loss.consistency=false too")
    from envs.registry import get_game
    from selfplay.evaluation import check_opponents
    from selfplay.replay import symmetry_actions, symmetry_permutations

    game = get_game(config.game.name, **config.game.options)
    try:
        check_opponents(game, config.trainer.eval_opponents)
    except UsageError as error:
        raise UsageError(f"trainer.eval_opponents: {error}") from None
    if config.replay.symmetries != "none":
        height, width = game.observation_shape[-2:]
        try:
            for cells in symmetry_permutations(config.replay.symmetries, height, width):
                symmetry_actions(config.replay.symmetries, cells, height, width, game.num_actions)
        except ValueError as error:
            raise UsageError(f"replay.symmetries={config.replay.symmetries} does not fit {game.name}: {error}") from None


# ----------------------------------------------------------------------------- presets

RECIPE_TABLES = ("experiment", "benchmark")   # a recipe's tables that are not run-config sections
BASE_RECIPE = "base"


def recipes_folder():
    """``selfplay/recipes``: one folder per game, one TOML recipe per experiment (`selfplay.experiments`)."""
    import importlib.resources

    return importlib.resources.files("selfplay").joinpath("recipes")


def recipe_names() -> list[str]:
    """Every recipe as ``<game>/<name>``, bases first, in name order."""
    names = []
    for game in sorted(recipes_folder().iterdir(), key=lambda entry: entry.name):
        if not game.is_dir() or game.name.startswith(("_", ".")):
            continue
        stems = [entry.name[:-5] for entry in game.iterdir() if entry.name.endswith(".toml")]
        names += [f"{game.name}/{stem}" for stem in sorted(stems, key=lambda stem: (stem != BASE_RECIPE, stem))]
    return names


def has_recipe(name: str) -> bool:
    """Whether ``<game>/<name>`` names a recipe file."""
    game, _, stem = name.partition("/")
    return bool(game and stem) and "/" not in stem and recipes_folder().joinpath(game, f"{stem}.toml").is_file()


def read_recipe(name: str) -> dict:
    """The parsed TOML of recipe ``<game>/<name>``; UsageError if unknown or not TOML."""
    if not has_recipe(name):
        raise UsageError(f"unknown experiment {name!r} (known: {', '.join(recipe_names())})")
    game, _, stem = name.partition("/")
    try:
        return tomllib.loads(recipes_folder().joinpath(game, f"{stem}.toml").read_text())
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"experiment {name}: not valid TOML: {error}") from None


def recipe_parent(name: str, data: dict) -> str | None:
    """The recipe that ``name`` inherits from: ``[experiment] inherits`` (``base`` when absent),
    None for a base, which starts from the shared defaults and the game's network preset."""
    meta = data.get("experiment", {})
    if not isinstance(meta, dict):
        raise UsageError(f"experiment {name}: [experiment] must be a table")
    game, _, stem = name.partition("/")
    parent = meta.get("inherits", None if stem == BASE_RECIPE else BASE_RECIPE)
    return None if parent is None else f"{game}/{parent}"


def recipe_config(name: str, _seen: tuple[str, ...] = ()) -> RunConfig:
    """The run config of recipe ``<game>/<name>``: its parent's, with its own sections on top."""
    if name in _seen:
        raise UsageError(f"experiment {name}: inheritance loops through {' -> '.join(_seen + (name,))}")
    data = read_recipe(name)
    game = name.partition("/")[0]
    parent = recipe_parent(name, data)
    if parent is None:
        base = RunConfig(game=GameConfig(name=game), network=NetworkConfig.for_game(game))
    else:
        base = recipe_config(parent, _seen + (name,))
    sections = {key: value for key, value in data.items() if key not in RECIPE_TABLES}
    config = from_dict(sections, base, source=f"experiment {name}")
    if config.game.name != game:
        raise UsageError(f"experiment {name}: its [game] is {config.game.name!r}, not {game!r}")
    return config


def preset(game_name: str) -> RunConfig:
    """The starting config of a game: its base recipe (``selfplay/recipes/<game>/base.toml``),
    or the shared defaults for a game without one (a PettingZoo env plugged in as
    ``module:factory``)."""
    if has_recipe(f"{game_name}/{BASE_RECIPE}"):
        return recipe_config(f"{game_name}/{BASE_RECIPE}")
    return RunConfig(game=GameConfig(name=game_name), network=NetworkConfig.for_game(game_name))


# ----------------------------------------------------------------------------- conversion

def to_dict(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Plain nested dict (tuples as lists): what goes into TOML and checkpoints."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return {name: {f.name: plain(getattr(getattr(config, name), f.name))
                   for f in dataclasses.fields(getattr(config, name))}
            for name in SECTIONS}


def from_dict(data: dict[str, Any], base: RunConfig | None = None, source: str = "config") -> RunConfig:
    """Apply a nested dict over ``base`` (default: the preset of its game), type-checked."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a table of sections")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise UsageError(f"{source}: unknown section {unknown[0]!r} (sections: {', '.join(SECTIONS)})")
    if base is None:
        game = data.get("game", {}).get("name", GameConfig().name) if isinstance(data.get("game"), dict) else GameConfig().name
        base = preset(str(game))
    for section, values in data.items():
        if not isinstance(values, dict):
            raise UsageError(f"{source}: [{section}] must be a table")
        base = _set_fields(base, section, values, source)
    return base


def _set_fields(config: RunConfig, section: str, values: dict[str, Any], source: str) -> RunConfig:
    """``config`` with the keys of ``values`` set in ``section``, checked together: a section's
    rules that tie two keys (board_ends_minutes needs board_ends) see the section as written,
    whatever order its keys come in."""
    section_value = getattr(config, section)
    hints = typing.get_type_hints(type(section_value))
    fields = {f.name for f in dataclasses.fields(section_value)}
    checked = {}
    for key, value in values.items():
        if key not in hints or key not in fields:
            known = ", ".join(f.name for f in dataclasses.fields(section_value))
            raise UsageError(f"{source}: unknown key {section}.{key} (known: {known})")
        checked[key] = _coerce(value, hints[key], f"{section}.{key}", source)
    try:
        new_section = dataclasses.replace(section_value, **checked)
    except (TypeError, ValueError) as error:
        where = f"{section}.{next(iter(checked))}" if len(checked) == 1 else f"[{section}]"
        raise UsageError(f"{source}: {where}: {error}") from None
    return dataclasses.replace(config, **{section: new_section})


def _coerce(value: Any, hint: Any, name: str, source: str) -> Any:
    """``value`` as the annotated type ``hint``, or UsageError naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name, source)
            except UsageError as error:
                errors.append(str(error))
        raise UsageError(errors[0] if errors else f"{source}: {name}: bad value {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise UsageError(f"{source}: {name} expects true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UsageError(f"{source}: {name} expects an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise UsageError(f"{source}: {name} expects a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise UsageError(f"{source}: {name} expects a string, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{source}: {name} expects a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0], name, source) for item in value)
        if len(value) != len(args):
            raise UsageError(f"{source}: {name} expects {len(args)} values, got {len(value)}")
        return tuple(_coerce(item, arg, name, source) for item, arg in zip(value, args))
    if hint is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
        raise UsageError(f"{source}: {name} expects a table, got {value!r}")
    if hint is list or origin is list:
        if isinstance(value, (list, tuple)):
            return list(value)
        raise UsageError(f"{source}: {name} expects a list, got {value!r}")
    return value  # an annotation we do not check (Any): keep the parsed TOML value


# ----------------------------------------------------------------------------- TOML

def _toml_string(text: str) -> str:
    """A TOML basic string that reads back as ``text``: backslash, quote and every control
    character escaped (TOML forbids them raw; a --set value may hold any of them)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    """A bare key where TOML allows one, else a quoted one."""
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ('inf' if value > 0 else '-inf') if not math.isnan(value) else 'nan'
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(str(key))} = {_toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: RunConfig) -> str:
    """The config as TOML text (None is written as "none", which reads back as None)."""
    lines = ["# ponder run config: every knob of this run (read back by --resume and --config)"]
    for section, values in to_dict(config).items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_toml(config: RunConfig, path: Path) -> None:
    """Write ``config`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(to_toml(config))
    temporary.replace(path)


def read_toml(path: Path, base: RunConfig | None = None) -> RunConfig:
    """Read a TOML config over ``base`` (default: the preset of the game it names)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path} is not valid TOML: {error}") from None
    return from_dict(data, base, source=str(path))


def apply_overrides(config: RunConfig, assignments: list[str] | tuple[str, ...]) -> RunConfig:
    """Apply ``section.key=value`` strings (values in TOML syntax; bare words are strings); a
    section's assignments are checked together, as a recipe's are (`_set_fields`)."""
    sections: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        if "=" not in assignment:
            raise UsageError(f"--set {assignment!r}: expected section.key=value")
        dotted, text = assignment.split("=", 1)
        parts = dotted.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise UsageError(f"--set {assignment!r}: expected section.key=value, e.g. learner.batch_size=128")
        section, key = parts
        if section not in SECTIONS:
            raise UsageError(f"--set {assignment!r}: unknown section {section!r} (sections: {', '.join(SECTIONS)})")
        text = text.strip()
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word such as gumbel or cpu
        sections.setdefault(section, {})[key] = value
    for section, values in sections.items():
        config = _set_fields(config, section, values, "--set")
    return config
