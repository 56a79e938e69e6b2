"""`AgentPlayer`: an Agent behind envs' Player protocol, for `agent:PATH[:SIMS[:ROOT]]` players.

The arena and the ablation play many games in lock-step and call ``act_batch`` with every
position where this agent is to move, so one network call per simulation serves all of
them. Searches are deterministic (no root noise, no Gumbel noise, temperature 0): an
evaluation measures the agent, not its dice.
"""
from __future__ import annotations

from typing import Sequence

from envs.errors import UsageError
from mcts import SearchConfig

AGENT_PREFIX = "agent:"
# "+rules": search the real game; "+solver": also prove wins and losses from its ends (MCTS-Solver)
ROOTS = ("puct", "gumbel", "puct+rules", "gumbel+rules", "puct+rules+solver", "gumbel+rules+solver")
DEFAULT_SIMS = 50
# appended to a pUCT root (`puct+rules+reuse`): keep the search tree between the agent's
# moves (`agent.reuse`); each move still runs SIMS new simulations on top of the kept subtree
REUSE = "+reuse"


def split_reuse(root: str) -> tuple[str, bool]:
    """``puct+rules+reuse`` -> (``puct+rules``, True); a root without the suffix -> (root, False)."""
    return (root[:-len(REUSE)], True) if root.endswith(REUSE) else (root, False)


def check_root(root: str, spec: str) -> None:
    """UsageError (one line) unless ``root`` is one of ROOTS, optionally a pUCT one with +reuse."""
    base, reuse = split_reuse(root)
    if base not in ROOTS:
        raise UsageError(f"{spec!r}: ROOT must be one of {', '.join(ROOTS)} (a puct one may end in {REUSE}), "
                         f"got {root!r}")
    if reuse and not base.startswith("puct"):
        raise UsageError(f"{spec!r}: {REUSE} keeps pUCT trees only (Gumbel starts each move from a fresh root)")


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


def parse_agent_spec(spec: str) -> tuple[str, int, str | None]:
    """``agent:PATH[:SIMS[:ROOT]]`` -> (path, sims, root); UsageError (one line) if garbled.

    SIMS defaults to 50; SIMS 0 means policy-only. ROOT is None when not given: the agent's
    `default_root`, known once it is loaded. The path is not checked here (loading the
    agent does that with its own one-line error).
    """
    if not isinstance(spec, str) or not spec.startswith(AGENT_PREFIX):
        raise UsageError(f"{spec!r} is not an agent player (expected agent:PATH[:SIMS[:ROOT]])")
    parts = spec[len(AGENT_PREFIX):].split(":")
    root, sims = None, DEFAULT_SIMS
    if len(parts) >= 3 and not parts[-1].isdigit():
        root = parts.pop()
        check_root(root, spec)
        if not parts[-1].isdigit():
            raise UsageError(f"{spec!r}: SIMS must be a whole number, got {parts[-1]!r}")
    if len(parts) >= 2 and parts[-1].isdigit():
        sims = int(parts.pop())
    elif len(parts) >= 2 and split_reuse(parts[-1])[0] in ROOTS:
        raise UsageError(f"{spec!r}: write agent:PATH:SIMS:ROOT (SIMS before ROOT)")
    path = ":".join(parts)   # a path may itself hold colons
    if not path:
        raise UsageError(f"{spec!r}: missing the checkpoint PATH (agent:PATH[:SIMS[:ROOT]])")
    return path, sims, root


def split_root(root: str) -> tuple[str, str]:
    """``puct`` -> (puct, learned); ``gumbel+rules(+solver)`` -> (gumbel, rules): the root
    selection and what the simulations step through (`SearchConfig.model`)."""
    method, _, rest = root.partition("+")
    return method, rest.partition("+")[0] or "learned"


def uses_solver(root: str) -> bool:
    """Whether ``root`` (one of ROOTS) proves results from the game's ends (`SearchConfig.solver`)."""
    return root.endswith("+solver")


def check_searchable(agent, sims: int, root: str) -> None:
    """UsageError (one line) when ``root`` would search through a learned model that the
    agent's run never trained (``Agent.learned_model_trained``); policy-only (0 sims) is fine."""
    if sims > 0 and split_root(root)[1] == "learned" and not getattr(agent, "learned_model_trained", True):
        source = getattr(agent, "checkpoint_path", None) or "this agent"
        raise UsageError(f"{source} was trained without an unroll (loss.unroll_steps=0), so its learned model "
                         f"is untrained: search it over the rules ({root.partition('+')[0]}+rules)")


def evaluation_search(sims: int, root: str, discount: float = 1.0) -> SearchConfig | int:
    """The deterministic search of an evaluation player (0 stays policy-only), backing up
    with the discount the agent's values were trained with. ``root`` is one of ROOTS."""
    if sims == 0:
        return 0
    method, model = split_root(root)
    return SearchConfig(num_simulations=sims, root=method, gumbel_noise=False, dirichlet_fraction=0.0,
                        discount=discount, model=model, solver=uses_solver(root))


class AgentPlayer:
    """Plays the agent's searched move (temperature 0) in every position it is given."""

    def __init__(self, agent, sims: int = DEFAULT_SIMS, root: str | None = None, name: str | None = None) -> None:
        if isinstance(sims, bool) or not isinstance(sims, int) or sims < 0:
            raise UsageError(f"agent simulations must be a whole number >= 0, got {sims!r}")
        root = root or agent_default_root(agent)
        check_root(root, "agent root")
        base_root, reuse = split_reuse(root)
        check_searchable(agent, sims, base_root)
        self.agent = agent
        self.sims = sims
        self.root = root
        self.search = evaluation_search(sims, base_root, agent.discount)
        # with +reuse, one session follows every game this player is handed (`agent.reuse`)
        self.session = agent.new_session() if reuse and sims > 0 else None
        source = getattr(agent, "checkpoint_path", None) or "network"
        self.name = name or f"agent:{source}:{sims}:{root}"
        self._network_evals = 0
        self._seconds = 0.0
        self._moves = 0

    def act_batch(self, states: Sequence) -> list[int]:
        """One move per (non-terminal) state, from one batched search."""
        if not states:
            return []
        result = self.agent.act(list(states), self.search, temperature=0.0, session=self.session)
        self._network_evals += result.network_evals
        self._seconds += result.seconds
        self._moves += len(states)
        return [int(action) for action in result.actions]

    def stats(self) -> dict:
        """Totals since creation: network evaluations, moves, and milliseconds spent acting."""
        return {"network_evals": self._network_evals, "moves": self._moves, "ms": self._seconds * 1000.0}
