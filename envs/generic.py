"""The generic game adapter: any two-player zero-sum PettingZoo AEC env with action masks.

Used for `go` and for games added with ``envs.register`` or ``--game module:factory``.
A state holds its own copy of the env; ``play`` deep-copies it and steps the copy, so
states stay immutable (slower than the native games, but correct for any env). Observations
``{"observation": [H, W, C] (or [H, W], or [N]), "action_mask": [A]}`` become planes
float32 [C, H, W]; the outcome comes from the rewards summed over the game.
"""
from __future__ import annotations

import copy
from typing import Callable, Hashable

import numpy as np

from envs.errors import UsageError
from envs.game import GRID_LETTERS, Game, State, grid_coordinate, parse_grid_coordinate, render_grid


def _to_planes(observation: np.ndarray) -> np.ndarray:
    observation = np.asarray(observation)
    if observation.ndim == 3:
        return observation.transpose(2, 0, 1).astype(np.float32)
    if observation.ndim == 2:
        return observation[None].astype(np.float32)
    return observation.reshape(1, 1, -1).astype(np.float32)


def clone_env(env, memo: dict | None = None):
    """A deep copy of a (wrapped) AEC env that keeps its current position.

    ``copy.deepcopy`` is not enough: PettingZoo envs are ``EzPickle``, whose pickling
    rebuilds a fresh env from the constructor arguments and loses the game in progress.
    So each layer (wrappers, then the raw env) is copied attribute by attribute.
    """
    memo = {} if memo is None else memo
    clone = object.__new__(type(env))
    for name, value in env.__dict__.items():
        if name == "env" and hasattr(value, "agent_selection"):
            clone.__dict__[name] = clone_env(value, memo)
        else:
            clone.__dict__[name] = copy.deepcopy(value, memo)
    return clone


class GenericState(State):
    """A position of a wrapped env: the env copy, the history and each player's summed reward."""

    __slots__ = ("env", "game", "to_play", "history", "totals")

    def __init__(self, game: "GenericGame", env, history: tuple[int, ...], totals: tuple[float, float]):
        self.game, self.env, self.history, self.totals = game, env, history, totals
        self.to_play = env.possible_agents.index(env.agent_selection) if env.agents else len(history) & 1

    def _observation(self) -> dict:
        return self.env.observe(self.env.agent_selection)

    def is_terminal(self) -> bool:
        env = self.env
        if not env.agents:
            return True
        agent = env.agent_selection
        return bool(env.terminations.get(agent, False) or env.truncations.get(agent, False))

    def legal_mask(self) -> np.ndarray:
        if self.is_terminal():
            return np.zeros(self.game.num_actions, dtype=bool)
        return np.asarray(self._observation()["action_mask"]).astype(bool)

    def planes(self) -> np.ndarray:
        return _to_planes(self._observation()["observation"])

    def winner(self) -> int | None:
        if not self.is_terminal():
            raise ValueError("winner() of a game that is not over")
        first, second = self.totals
        return None if first == second else (0 if first > second else 1)

    def play(self, action: int) -> "GenericState":
        action = int(action)
        if self.is_terminal() or not 0 <= action < self.game.num_actions or not self.legal_mask()[action]:
            raise ValueError(f"illegal move {action} in {self.game.name} after {len(self.history)} moves")
        env = clone_env(self.env)
        env.step(action)
        totals = tuple(self.totals[i] + float(env.rewards.get(agent, 0.0)) for i, agent in enumerate(env.possible_agents))
        return GenericState(self.game, env, self.history + (action,), totals)

    def key(self) -> Hashable:
        if self.is_terminal():
            return ("end", self.history)
        return (self.to_play, self.planes().tobytes(), self.legal_mask().tobytes())

    def render(self, color: bool = False) -> str:
        if getattr(self.env, "render_mode", None) == "ansi":
            return str(self.env.render())
        planes = _to_planes(self._observation()["observation"]) if self.env.agents else None
        if planes is None or planes.shape[0] < 2:
            return f"{self.game.name} after moves {list(self.history)}"
        own, other = planes[0], planes[1]
        marks = ("X", "O") if self.to_play == 0 else ("O", "X")
        cells = [["." if not (own[r, c] or other[r, c]) else (marks[0] if own[r, c] else marks[1])
                  for c in range(own.shape[1])] for r in range(own.shape[0])]
        return render_grid(cells, GRID_LETTERS, color, {"X": "31", "O": "34"})


class GenericGame(Game):
    """The adapter over a registered env factory with fixed options."""

    def __init__(self, name: str, factory: Callable, options: dict):
        self.name = name
        self.options = dict(options)
        self._factory = factory
        try:
            env = self._new_env(None)
        except (TypeError, ValueError) as error:
            raise UsageError(f"cannot make game {name!r} with {self.options or 'no options'}: {error}") from None
        if len(env.possible_agents) != 2:
            raise UsageError(f"game {name!r} has {len(env.possible_agents)} agents; ponder needs two")
        agent = env.possible_agents[0]
        space = env.observation_space(agent)
        if not hasattr(space, "spaces") or "action_mask" not in space.spaces or "observation" not in space.spaces:
            raise UsageError(f"game {name!r} observations need 'observation' and 'action_mask'")
        self.agent_names = tuple(env.possible_agents)
        self.num_actions = int(env.action_space(agent).n)
        channels_last = space.spaces["observation"].shape
        self.observation_shape = tuple(_to_planes(np.zeros(channels_last)).shape)
        self.board_shape = self.observation_shape[1:]
        self.coordinate_letters = getattr(env.unwrapped, "coordinate_letters", GRID_LETTERS)
        height, width = self.board_shape
        self._grid = height == width and self.num_actions in (height * width, height * width + 1) and height <= 25
        ansi = "ansi" in env.metadata.get("render_modes", [])
        self._initial = GenericState(self, self._new_env("ansi") if ansi else env, (), (0.0, 0.0))

    def _new_env(self, render_mode):
        options = dict(self.options)
        if render_mode is not None:
            options["render_mode"] = render_mode
        env = self._factory(**options)
        env.reset()
        return env

    def initial_state(self) -> GenericState:
        return self._initial

    def action_to_text(self, action: int) -> str:
        action = int(action)
        if not 0 <= action < self.num_actions:
            raise UsageError(f"{action} is not a {self.name} action (0-{self.num_actions - 1})")
        if not self._grid:
            return str(action)
        size = self.board_shape[0]
        if action == size * size:
            return "pass"
        return grid_coordinate(*divmod(action, size), size, self.coordinate_letters)

    def text_to_action(self, text: str) -> int:
        cleaned = text.strip().lower()
        if not self._grid:
            if not cleaned.isdigit() or not 0 <= int(cleaned) < self.num_actions:
                raise UsageError(f"{text!r} is not a {self.name} action id (0-{self.num_actions - 1})")
            return int(cleaned)
        size = self.board_shape[0]
        if cleaned == "pass" and self.num_actions == size * size + 1:
            return size * size
        row, column = parse_grid_coordinate(text, size, self.coordinate_letters)
        return row * size + column

    def make_env(self, render_mode: str | None = None):
        return self._new_env(render_mode)
