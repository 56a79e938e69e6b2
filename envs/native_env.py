"""A PettingZoo AEC env driven by a native `State`: tictactoe, connect_four, gomoku, othello.

It follows PettingZoo classic's board-game conventions exactly (the differential test holds
tictactoe and connect_four to `tictactoe_v3` / `connect_four_v3`): observation
``{"observation": int8 [H, W, C] (plane 0 = the observing agent's stones),
"action_mask": int8 [A]}`` with an all-zero mask for the agent not to move; reward 0
until the end, then +1 / -1 to the winner / loser (0 each for a draw); every agent
terminates together; an illegal move ends the game with -1 for the mover (PettingZoo's
own ``TerminateIllegalWrapper``). ``render_mode="ansi"`` returns the board with coordinates.
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv
from pettingzoo.utils import wrappers


class NativeBoardEnv(AECEnv):
    """AEC env over a native game; ``self.state`` is the current immutable `State`."""

    metadata = {"render_modes": ["ansi"], "name": "ponder_board", "is_parallelizable": False, "render_fps": 1}

    def __init__(self, game, render_mode: str | None = None):
        super().__init__()
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode {render_mode!r} is not supported (None or 'ansi')")
        self.game = game
        self.metadata = dict(self.metadata, name=game.name)
        self.render_mode = render_mode
        self.possible_agents = list(game.agent_names)
        self.agents = self.possible_agents[:]
        channels, height, width = game.observation_shape
        self.observation_spaces = {
            agent: spaces.Dict({
                "observation": spaces.Box(low=0, high=1, shape=(height, width, channels), dtype=np.int8),
                "action_mask": spaces.Box(low=0, high=1, shape=(game.num_actions,), dtype=np.int8),
            })
            for agent in self.possible_agents
        }
        self.action_spaces = {agent: spaces.Discrete(game.num_actions) for agent in self.possible_agents}
        self.reset()

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def observe(self, agent):
        player = self.possible_agents.index(agent)
        observation = self.state.planes_for(player).transpose(1, 2, 0).astype(np.int8)
        if agent == self.agent_selection:
            # PettingZoo classic keeps showing the open cells after the game ends; so do we.
            open_mask = getattr(self.state, "open_mask", self.state.legal_mask)
            action_mask = open_mask().astype(np.int8)
        else:
            action_mask = np.zeros(self.game.num_actions, dtype=np.int8)
        return {"observation": observation, "action_mask": action_mask}

    def reset(self, seed=None, options=None):
        self.state = self.game.initial_state()
        self.agents = self.possible_agents[:]
        self.rewards = dict.fromkeys(self.agents, 0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {agent: {} for agent in self.agents}
        self.agent_selection = self.agents[0]

    def step(self, action):
        if self.terminations[self.agent_selection] or self.truncations[self.agent_selection]:
            return self._was_dead_step(action)
        self.state = self.state.play(int(action))
        if self.state.is_terminal():
            winner = self.state.winner()
            if winner is not None:
                self.rewards[self.possible_agents[winner]] += 1
                self.rewards[self.possible_agents[1 - winner]] -= 1
            self.terminations = dict.fromkeys(self.agents, True)
            self._accumulate_rewards()
        self.agent_selection = self.possible_agents[self.state.to_play]

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("You are calling render method without specifying any render mode.")
            return None
        return self.state.render()

    def close(self):
        pass


def make_native_env(game, render_mode: str | None = None) -> AECEnv:
    """The wrapped env (illegal move ends the game with -1, as in PettingZoo classic)."""
    env = NativeBoardEnv(game, render_mode=render_mode)
    env = wrappers.TerminateIllegalWrapper(env, illegal_reward=-1)
    env = wrappers.AssertOutOfBoundsWrapper(env)
    env = wrappers.OrderEnforcingWrapper(env)
    return env
