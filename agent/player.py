"""`AgentPlayer`: an Agent behind envs' Player protocol, for `agent:PATH[:SIMS[:ROOT]]` players.

The arena and the ablation play many games in lock-step and call ``act_batch`` with every
position where this agent is to move, so one network call per simulation serves all of
them. Searches are deterministic (no root noise, no Gumbel noise, temperature 0): an
evaluation measures the agent, not its dice.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

from agent.roots import Root
from envs.errors import UsageError
from mcts import SearchConfig

AGENT_PREFIX = "agent:"
DEFAULT_SIMS = 50


# checkpoint extra naming the root an exported agent plays with by default (`default_root`)
PLAY_ROOT_EXTRA = "play_root"


def default_root(trained_model: str, play_root: str | None = None) -> str:
    """The root an agent plays with when none is named: the one its checkpoint names
    (``play_root``, `Agent.play_root`: written by `scripts/export_pretrained.py --play-root`),
    else pUCT, over the real rules if its self-play searched the rules (``trained_model``,
    `Agent.trained_model`), so that it plays as it was trained."""
    if play_root is not None:
        return play_root
    return "puct+rules" if trained_model == "rules" else "puct"


def agent_default_root(agent) -> str:
    """`default_root` of a loaded agent (test doubles may lack the attributes)."""
    return default_root(getattr(agent, "trained_model", "learned"), getattr(agent, "play_root", None))


class AgentSpec(NamedTuple):
    """A parsed ``agent:PATH[:SIMS[:ROOT]]``: checkpoint path, simulations (0 = policy only),
    root text (None: the agent's own, `default_root`)."""

    path: str
    sims: int
    root: str | None


def parse_agent_spec(spec: str) -> AgentSpec:
    """``agent:PATH[:SIMS[:ROOT]]`` -> `AgentSpec`; UsageError (one line) if garbled.

    SIMS defaults to 50; SIMS 0 means policy-only. ROOT is None when not given: the agent's
    `default_root`, known once it is loaded. The path is not checked here (loading the
    agent does that with its own one-line error).
    """
    if not isinstance(spec, str) or not spec.startswith(AGENT_PREFIX):
        raise UsageError(f"{spec!r} is not an agent player (expected agent:PATH[:SIMS[:ROOT]])")
    parts = spec[len(AGENT_PREFIX):].split(":")
    root, sims = None, DEFAULT_SIMS
    if len(parts) >= 3 and not parts[-1].isdigit():
        root = str(Root.parse(parts.pop(), spec))
        if not parts[-1].isdigit():
            raise UsageError(f"{spec!r}: SIMS must be a whole number, got {parts[-1]!r}")
    if len(parts) >= 2 and parts[-1].isdigit():
        sims = int(parts.pop())
    elif len(parts) >= 2 and _is_root(parts[-1]):
        raise UsageError(f"{spec!r}: write agent:PATH:SIMS:ROOT (SIMS before ROOT)")
    path = ":".join(parts)   # a path may itself hold colons
    if not path:
        raise UsageError(f"{spec!r}: missing the checkpoint PATH (agent:PATH[:SIMS[:ROOT]])")
    return AgentSpec(path, sims, root)


def _is_root(text: str) -> bool:
    try:
        Root.parse(text)
    except UsageError:
        return False
    return True


def check_searchable(agent, sims: int, root: str | Root) -> None:
    """UsageError (one line) when ``root`` would search through a learned model that the
    agent's run never trained (``Agent.learned_model_trained``); policy-only (0 sims) is fine."""
    root = Root.parse(root)
    if sims > 0 and root.model == "learned" and not getattr(agent, "learned_model_trained", True):
        source = getattr(agent, "checkpoint_path", None) or "this agent"
        raise UsageError(f"{source} was trained without an unroll (loss.unroll_steps=0), so its learned model "
                         f"is untrained: search it over the rules ({root.over_rules})")


def evaluation_search(sims: int, root: str | Root, discount: float = 1.0) -> SearchConfig | int:
    """The deterministic search of an evaluation player (0 stays policy-only), backing up
    with the discount the agent's values were trained with (tree reuse is the player's
    session, not the search's: `AgentPlayer`)."""
    if sims == 0:
        return 0
    root = Root.parse(root)
    return SearchConfig(num_simulations=sims, root=root.selection, gumbel_noise=False, dirichlet_fraction=0.0,
                        discount=discount, model=root.model, solver=root.solver)


class AgentPlayer:
    """The agent as a player: its searched move (temperature 0) in every position it is given.

    The one player over an `Agent`: the arena, the ablation, the periodic evaluation of a
    training run (``act_batch``), and ``ponder play`` and ``ponder engine`` (``search_batch``,
    the whole `ActResult` they show) all move through it. ``sims`` and ``root`` give the
    deterministic search of `evaluation_search`; a run's evaluation passes its own ``search``
    instead (noise off). ``reuse`` keeps one tree session across the positions it is handed
    (`agent.reuse`; default: as the root says, ``+reuse``); ``seed`` seeds what randomness a
    search still has (ties broken at random, none by default).
    """

    def __init__(self, agent, sims: int = DEFAULT_SIMS, root: str | None = None, name: str | None = None, *,
                 search: SearchConfig | None = None, reuse: bool | None = None, seed: int | None = None) -> None:
        import numpy as np

        if isinstance(sims, bool) or not isinstance(sims, int) or sims < 0:
            raise UsageError(f"agent simulations must be a whole number >= 0, got {sims!r}")
        self.agent = agent
        if search is not None:
            self.root = str(Root(search.root, search.model, search.solver))
            self.sims = search.num_simulations
            self.search: SearchConfig | int = dataclasses.replace(search, dirichlet_fraction=0.0, gumbel_noise=False)
            reuse = bool(reuse)
        else:
            parsed = Root.parse(root or agent_default_root(agent), "agent root")
            check_searchable(agent, sims, parsed)
            self.root = str(parsed)
            self.sims = sims
            self.search = evaluation_search(sims, parsed, agent.discount)
            reuse = parsed.reuse if reuse is None else reuse
        self.session = agent.new_session() if reuse else None
        self.rng = np.random.default_rng(seed) if seed is not None else None
        source = getattr(agent, "checkpoint_path", None) or "network"
        self.name = name or f"agent:{source}:{self.sims}:{self.root}"
        self._network_evals = 0
        self._seconds = 0.0
        self._moves = 0

    def set_sims(self, sims: int) -> None:
        """Search with ``sims`` simulations from now on (0: the policy alone)."""
        self.sims = sims
        self.search = evaluation_search(sims, self.root, self.agent.discount)

    def search_batch(self, states: Sequence):
        """One batched search over the (non-terminal) ``states``: the agent's `ActResult`."""
        result = self.agent.act(list(states), self.search if self.sims > 0 else 0, temperature=0.0,
                                rng=self.rng, session=self.session)
        self._network_evals += result.network_evals
        self._seconds += result.seconds
        self._moves += len(states)
        return result

    def act_batch(self, states: Sequence) -> list[int]:
        """One move per (non-terminal) state, from one batched search."""
        if not states:
            return []
        return [int(action) for action in self.search_batch(states).actions]

    def stats(self) -> dict:
        """Totals since creation: network evaluations, moves, and milliseconds spent acting."""
        return {"network_evals": self._network_evals, "moves": self._moves, "ms": self._seconds * 1000.0}
