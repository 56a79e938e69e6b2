"""Games: PettingZoo AEC envs, the registry, the game adapter, baseline players, the Gymnasium bridge.

The entry points other packages use (see docs/architecture.md):
``make(name, **options)`` -> PettingZoo AEC env, ``register(name, factory)``,
``game_names()``, ``get_game(name, **options)`` -> `Game` (the adapter, `envs/game.py`),
and ``envs.players.parse_player(spec, game, seed)`` for the baseline players.
"""
from envs.errors import UsageError
from envs.game import Game, State
from envs.registry import game_names, get_game, make, register

__all__ = ["Game", "State", "UsageError", "game_names", "get_game", "make", "register"]
