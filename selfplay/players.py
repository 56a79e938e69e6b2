"""Any PLAYER string to a player: the baselines of `envs.players` plus `agent:PATH[:SIMS[:ROOT]]`.

``agent:...`` lives here, above `envs/`, because it needs the agent (torch); the agent's
network modules are imported only when such a player is asked for, so baseline-only
matches never import torch (`agent.player` itself imports no torch). ``checked_agent_spec``
checks the syntax and that the path exists (cheap, for validating arguments before starting
worker processes); ``make_player`` builds the player.
"""
from __future__ import annotations

import os

from envs.errors import UsageError
from envs.game import Game
from envs.players import Player, parse_player

from agent.player import AGENT_PREFIX, AgentSpec, parse_agent_spec


def is_agent_spec(spec: str) -> bool:
    """True if the PLAYER string names a trained agent."""
    return isinstance(spec, str) and spec.strip().startswith(AGENT_PREFIX)


def checked_agent_spec(spec: str) -> AgentSpec:
    """`agent.player.parse_agent_spec`, and the path must exist.

    Checking the path here, before worker processes start, turns a typo into one line
    instead of an error in every worker.
    """
    parsed = parse_agent_spec(spec.strip())
    if not os.path.exists(parsed.path):
        raise UsageError(f"player {spec!r}: no checkpoint file or run folder at {parsed.path!r}")
    return parsed


def validate_player_spec(spec: str, game: Game) -> None:
    """Raise UsageError if ``spec`` cannot name a player of ``game`` (without loading a network)."""
    if is_agent_spec(spec):
        checked_agent_spec(spec)
    else:
        parse_player(spec, game, seed=0)


def make_player(spec: str, game: Game, seed: int | None = None, device: str = "cpu") -> Player:
    """The player named by any PLAYER string; UsageError for unknown or garbled strings."""
    if not is_agent_spec(spec):
        return parse_player(spec, game, seed)
    parsed = checked_agent_spec(spec)
    from agent.agent import Agent
    from agent.player import AgentPlayer

    agent = Agent.load(parsed.path, device=device)
    agent_game = getattr(agent, "game", None)
    if agent_game is not None and getattr(agent_game, "name", game.name) != game.name:
        raise UsageError(f"player {spec!r}: the checkpoint is for {agent_game.name}, not {game.name}")
    return AgentPlayer(agent, parsed.sims, parsed.root)
