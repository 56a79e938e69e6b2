"""The game registry: names -> PettingZoo env factories and `Game` adapters.

Built-in games: `tictactoe`, `connect_four`, `gomoku`, `othello` (native states and our own
AEC env) and `go` (PettingZoo classic `go_v5`, 9x9, through the generic adapter).
``register(name, factory)`` adds any two-player zero-sum AEC env whose observations are
dicts with ``observation`` and ``action_mask``; a ``module:factory`` name is imported and
registered on first use, so ``--game mypkg.games:make_env`` works from the command line.
Options ride on the name as ``NAME:KEY=VALUE[,KEY=VALUE...]`` (``--game gomoku:board_size=9``):
the part after the colon holds an ``=``, which a ``module:factory`` path never does.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Callable

from envs.errors import UsageError
from envs.game import Game

# name -> "module:class" of a native Game (constructed with the options as keywords)
_NATIVE_GAMES: dict[str, str] = {
    "tictactoe": "envs.tictactoe:TicTacToe",
    "connect_four": "envs.connect_four:ConnectFour",
    "gomoku": "envs.gomoku:Gomoku",
    "othello": "envs.othello:Othello",
}
# name -> env factory (or a "module:function" string imported on first use)
_ENV_FACTORIES: dict[str, Callable | str] = {
    "go": "envs.go:go_env",
}


def _import_attribute(path: str):
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(f"cannot import {module_name!r} for game {path!r}: {error}") from None
    if not attribute or not hasattr(module, attribute):
        raise UsageError(f"module {module_name!r} has no {attribute!r} (expected module:factory)")
    return getattr(module, attribute)


def register(name: str, factory: Callable) -> None:
    """Register a PettingZoo AEC env factory under ``name`` (``factory(**options)``)."""
    if not callable(factory):
        raise TypeError(f"factory for {name!r} is not callable")
    if name in _NATIVE_GAMES:
        raise ValueError(f"{name!r} is a built-in game and cannot be replaced")
    _ENV_FACTORIES[name] = factory


def game_names() -> list[str]:
    """Every registered game name, built-ins first."""
    return [*_NATIVE_GAMES, *_ENV_FACTORIES]


def _resolve(name: str):
    if not isinstance(name, str) or not name:
        raise UsageError("a game name is required")
    if name in _NATIVE_GAMES or name in _ENV_FACTORIES:
        return name
    if ":" in name:
        register(name, _import_attribute(name))
        return name
    raise UsageError(f"unknown game {name!r} (choose from {', '.join(game_names())}, or module:factory)")


def _check_options(target: Callable, name: str, options: dict) -> None:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    parameters = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    known = {p.name for p in parameters}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"game {name!r} has no option {unknown[0]!r} (options: {', '.join(sorted(known - {'self', 'render_mode'})) or 'none'})")


def make(name: str, **options):
    """A fresh PettingZoo AEC env of the game (``render_mode`` may be among the options)."""
    render_mode = options.pop("render_mode", None)
    return get_game(name, **options).make_env(render_mode=render_mode)


def env_factory(name: str) -> Callable:
    """The raw env factory of a registered (non-native) game."""
    factory = _ENV_FACTORIES[_resolve(name)]
    if isinstance(factory, str):
        factory = _import_attribute(factory)
        _ENV_FACTORIES[name] = factory
    return factory


def _option_value(text: str):
    """An option value as typed: int, float, true/false, else the string itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text.strip()


def split_game_spec(spec: str) -> tuple[str, dict]:
    """``"gomoku:board_size=9,win_length=5"`` -> ``("gomoku", {"board_size": 9, "win_length": 5})``.

    A spec without ``=`` after its colon (a ``module:factory`` path) or without a colon is
    returned whole with no options. UsageError for a garbled option list.
    """
    if not isinstance(spec, str):
        raise UsageError("a game name is required")
    name, colon, rest = spec.partition(":")
    if not colon or "=" not in rest:
        return spec, {}
    options = {}
    for item in rest.split(","):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise UsageError(f"bad game option {item!r} in {spec!r} (expected NAME:KEY=VALUE[,KEY=VALUE])")
        options[key.strip()] = _option_value(value)
    return name, options


def get_game(name: str, **options):
    """The `Game` adapter of a registered game; UsageError if the name or an option is unknown.

    ``name`` may carry options (``"gomoku:board_size=9"``); keyword options win over them.
    """
    name, spec_options = split_game_spec(name)
    options = {**spec_options, **options}
    name = _resolve(name)
    if name in _NATIVE_GAMES:
        game_class = _import_attribute(_NATIVE_GAMES[name])
        _check_options(game_class.__init__, name, options)
        try:
            return game_class(**options)
        except (TypeError, ValueError) as error:
            raise UsageError(f"bad options for {name}: {error}") from None
    from envs.generic import GenericGame

    factory = env_factory(name)
    _check_options(factory, name, options)
    return GenericGame(name, factory, options)


def rebuild_game(name: str, options: dict) -> Game:
    """The game of that name and options (what an unpickled `Game` becomes)."""
    return get_game(name, **options)


def _pickle_by_name(game: Game):
    return (rebuild_game, (game.name, dict(game.options)))


# Games pickle as (name, options), so passing one to another process costs nothing, and the
# other process rebuilds it here, where names resolve. Set by the registry rather than in
# envs.game, so that the base class does not import the registry that imports its subclasses.
Game.__reduce__ = _pickle_by_name
