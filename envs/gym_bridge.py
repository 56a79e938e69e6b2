"""The Gymnasium bridge: a game plus a PLAYER as the opponent becomes a single-agent `gymnasium.Env`.

The learner plays one side (``learner_player`` 0 or 1, or ``None`` to alternate each
episode); the opponent (a baseline PLAYER string such as "heuristic") moves inside
``step`` and ``reset``. Observations are ``{"observation": float32 [C, H, W] planes from
the learner's view, "action_mask": int8 [A]}``; reward is 0 until the end, then +1 / 0 / -1
for the learner. An illegal action ends the episode with reward -1, as PettingZoo
classic does, so single-agent RL libraries that ignore masks still get a signal.
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from envs.players import parse_player
from envs.registry import get_game

ILLEGAL_MOVE_REWARD = -1.0


class GameVsPlayerEnv(gymnasium.Env):
    """Single-agent env: the learner against a fixed opponent on any registered game."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, game: str = "connect_four", opponent: str = "random", learner_player: int | None = 0,
                 render_mode: str | None = None, game_options: dict | None = None):
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode {render_mode!r} is not supported (None or 'ansi')")
        if learner_player not in (0, 1, None):
            raise ValueError("learner_player must be 0, 1 or None (alternate)")
        self.game = get_game(game, **(game_options or {}))
        self.opponent_spec = opponent
        parse_player(opponent, self.game, seed=0)  # fail early on a bad PLAYER string
        self.learner_player = learner_player
        self.render_mode = render_mode
        channels, height, width = self.game.observation_shape
        self.observation_space = spaces.Dict({
            "observation": spaces.Box(low=0.0, high=1.0, shape=(channels, height, width), dtype=np.float32),
            "action_mask": spaces.Box(low=0, high=1, shape=(self.game.num_actions,), dtype=np.int8),
        })
        self.action_space = spaces.Discrete(self.game.num_actions)
        self.state = self.game.initial_state()
        self._episode = 0
        self._side = 0 if learner_player is None else learner_player
        self.opponent = parse_player(opponent, self.game, seed=0)

    def _observe(self) -> dict:
        if self.state.is_terminal():
            mask = np.zeros(self.game.num_actions, dtype=np.int8)
            planes = self.state.planes_for(self._side) if hasattr(self.state, "planes_for") else self.state.planes()
        else:
            mask = self.state.legal_mask().astype(np.int8)
            planes = self.state.planes()
        return {"observation": np.clip(planes, 0.0, 1.0).astype(np.float32), "action_mask": mask}

    def _opponent_moves(self) -> None:
        while not self.state.is_terminal() and self.state.to_play != self._side:
            self.state = self.state.play(self.opponent.act_batch([self.state])[0])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._episode = 0  # a seeded reset replays the same sequence of sides
        opponent_seed = int(self.np_random.integers(2**31))
        self.opponent = parse_player(self.opponent_spec, self.game, seed=opponent_seed)
        self._side = (self._episode % 2) if self.learner_player is None else self.learner_player
        self._episode += 1
        self.state = self.game.initial_state()
        self._opponent_moves()
        return self._observe(), {"learner_player": self._side}

    def step(self, action):
        action = int(action)
        if self.state.is_terminal():
            raise RuntimeError("step() after the episode ended: call reset()")
        if not 0 <= action < self.game.num_actions or not self.state.legal_mask()[action]:
            return self._observe_illegal(), ILLEGAL_MOVE_REWARD, True, False, {"illegal_move": True}
        self.state = self.state.play(action)
        self._opponent_moves()
        if self.state.is_terminal():
            winner = self.state.winner()
            reward = 0.0 if winner is None else (1.0 if winner == self._side else -1.0)
            return self._observe(), reward, True, False, {"winner": winner}
        return self._observe(), 0.0, False, False, {}

    def _observe_illegal(self) -> dict:
        observation = self._observe()
        observation["action_mask"] = np.zeros(self.game.num_actions, dtype=np.int8)
        # The episode is over: further steps need a reset.
        self.state = _Finished(self.state)
        return observation

    def render(self):
        if self.render_mode == "ansi":
            return self.state.render()
        return None


class _Finished:
    """Marks an episode ended by an illegal move; only rendering still works."""

    def __init__(self, state):
        self._state = state

    def is_terminal(self) -> bool:
        return True

    def render(self, color: bool = False) -> str:
        return self._state.render(color)
