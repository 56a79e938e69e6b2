"""The Agent: a MuZero network searched by the batched tree of `mcts/`, one code path for everyone.

Self-play, arena players, the ablation, `ponder play` and `ponder engine` all call
`Agent.act(states, search)`. For B positions it runs h and f once on the stacked root
planes, then hands the roots to the search driver (`agent.search`), which steps through the
learned dynamics g (MuZero) or, with ``SearchConfig.model == "rules"``, the real game, to
measure what the learned model costs. Simulations 0 means policy-only: the argmax of the
network prior over the legal moves, no tree at all.

Tree reuse between moves is optional, through a `SearchSession` (`agent.reuse`) that keeps
the trees and what their nodes stand for (hidden states, or real positions over the rules):
when a new position extends a previous root by the moves played since, its tree advances
into that subtree; otherwise that game starts from a fresh root.

Torch thread counts are the entry points' business (docs/architecture.md, Conventions), never set here.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from agent.checkpoint import CheckpointError, check_finite_outputs, load_checkpoint
from agent.networks import MuZeroNetwork
from agent.reuse import SearchSession
from agent.search import as_numpy, run_search
from mcts import BatchedTree, SearchConfig
from mcts.inputs import masked_softmax
from mcts.config import MODELS

TreeFactory = Callable[[int, int, int], Any]   # (batch_size, num_actions, capacity) -> tree


@dataclass(frozen=True)
class ActResult:
    """What `Agent.act` decided for B positions and why.

    - ``actions`` int64 ``[B]``: the move to play in each position.
    - ``visit_counts`` int32 ``[B, A]``: root visits (all 0 for policy-only).
    - ``policy`` float32 ``[B, A]``: the training target (visit distribution for pUCT,
      improved policy for Gumbel, the prior for policy-only); 0 on illegal moves.
    - ``q_values`` float32 ``[B, A]``: root Q from the view of the player to move; nan unvisited.
    - ``root_value`` float32 ``[B]``: searched value of each position (the network value
      for policy-only), view of the player to move.
    - ``prior`` float32 ``[B, A]``: the network's prior, softmax over legal moves (no noise).
    - ``network_evals`` int: positions evaluated by the network (B for h, then B per
      simulation over the learned model; over the rules, none below a finished game).
    - ``seconds`` float: wall time of the call.
    - ``proven`` int8 ``[B, A]`` or None: each move's proven result for the player to move
      (1 win, 0 draw, -1 loss, 2 unproven; `SearchConfig.solver`); None for policy-only.
    """

    actions: np.ndarray
    visit_counts: np.ndarray
    policy: np.ndarray
    q_values: np.ndarray
    root_value: np.ndarray
    prior: np.ndarray
    network_evals: int
    seconds: float
    proven: np.ndarray | None = None


class Agent:
    """A network for one game plus the batched search that plays with it."""

    def __init__(self, network: MuZeroNetwork, game, device: str | torch.device = "cpu",
                 tree_factory: TreeFactory | None = None, inference: str = "auto") -> None:
        """``inference`` picks the search's copy of the network (`agent.inference`): ``auto``
        (default: bf16 on a CPU with native bf16, else fp32), ``bf16``, ``fp32`` (BatchNorm
        folded, same numbers as eager up to rounding) or ``eager`` (the module itself). It is
        set on ``network`` (`MuZeroNetwork.set_inference`); training is unaffected and the
        copy is rebuilt whenever the weights change (load_state_dict, optimizer steps)."""
        self.game = game
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        set_inference = getattr(self.network, "set_inference", None)   # test doubles have none
        self.inference = set_inference(inference) if set_inference is not None else "eager"
        self.num_actions = int(game.num_actions)
        if self.network.spec.num_actions != self.num_actions:
            raise ValueError(f"network has {self.network.spec.num_actions} actions, the game {self.num_actions}")
        self.tree_factory: TreeFactory = tree_factory or BatchedTree
        # the discount its values were trained with: a search given a simulation count backs
        # up with it, so values and backups agree (1.0 unless a checkpoint says otherwise)
        self.discount: float = 1.0
        self.checkpoint_step: int | None = None
        self.checkpoint_path: str | None = None
        # what its self-play searches stepped through ("learned" or "rules"): an agent trained
        # over the rules plays over them unless told otherwise (`agent.player.default_root`)
        self.trained_model: str = "learned"
        # False for a run without an unroll (`trains_learned_model`): only the rules can be searched
        self.learned_model_trained: bool = True
        # the root an exported agent plays with by default (`agent.player.default_root`), if it names one
        self.play_root: str | None = None
        # the weight its end head's loss gave game-ending actions, undone when the heads are read
        self.end_positive_weight: float = 1.0

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu", game=None, inference: str = "auto") -> "Agent":
        """An agent from a checkpoint file or run folder; CheckpointError (one line) if unusable.

        ``game`` (a `Game`) makes a checkpoint of another game an error; by default the
        checkpoint's own game and options are used.
        """
        from envs import get_game
        from envs.errors import UsageError

        checkpoint = load_checkpoint(path, expect_game=game)
        if game is None:
            try:
                game = get_game(checkpoint.game, **checkpoint.game_options)
            except (UsageError, TypeError, ValueError) as error:
                raise CheckpointError(f"{checkpoint.path}: its game {checkpoint.game!r} is unavailable "
                                      f"({' '.join(str(error).split())})") from None
            if tuple(game.observation_shape) != checkpoint.observation_shape or game.num_actions != checkpoint.num_actions:
                raise CheckpointError(f"{checkpoint.path}: shapes do not match the game {game.name}")
        try:
            device = torch.device(device)
        except RuntimeError as error:
            raise CheckpointError(f"bad device {device!r}: {error}") from None
        agent = cls(checkpoint.build_network(), game, device=device, inference=inference)
        agent.checkpoint_step = checkpoint.step
        agent.checkpoint_path = str(checkpoint.path)
        agent.discount = training_discount(checkpoint.config)
        agent.trained_model = training_search_model(checkpoint.config)
        agent.learned_model_trained = trains_learned_model(checkpoint.config, checkpoint.extra)
        agent.play_root = checkpoint_play_root(checkpoint.extra)
        agent.end_positive_weight = training_end_positive_weight(checkpoint.config, checkpoint.extra)
        return agent

    def new_session(self, capacity_factor: int = 2) -> SearchSession:
        """Persistent trees for tree reuse between moves (pUCT), for any games in any order."""
        return SearchSession(capacity_factor)

    # ------------------------------------------------------------------- acting
    def search_config(self, search: SearchConfig | int) -> SearchConfig | None:
        """A SearchConfig, or None for policy-only (an int 0); an int S > 0 is pUCT with S sims
        and the agent's training discount."""
        if isinstance(search, SearchConfig):
            return search
        if isinstance(search, bool) or not isinstance(search, (int, np.integer)) or search < 0:
            raise ValueError(f"search must be a SearchConfig or a number of simulations >= 0, got {search!r}")
        return None if search == 0 else SearchConfig(num_simulations=int(search), discount=self.discount)

    def act(self, states: Sequence, search: SearchConfig | int, *, temperature: float = 0.0,
            rng: np.random.Generator | None = None, session: SearchSession | None = None) -> ActResult:
        """Choose a move in each of B non-terminal positions with one batched search.

        ``search`` is a SearchConfig or a simulation count (0: policy-only). ``temperature``
        0 plays the search's choice (most visits / Gumbel winner / prior argmax), > 0
        samples visit counts (or the prior) sharpened by 1/temperature. ``rng`` supplies
        root noise and sampling; a fresh unseeded one is used if needed and not given.
        """
        started = time.perf_counter()
        config = self.search_config(search)
        states = list(states)
        if not states:
            raise ValueError("act needs at least one position")
        for index, state in enumerate(states):
            if state.is_terminal():
                raise ValueError(f"position {index} is terminal: there is no move to choose")
        needs_rng = temperature > 0 or (config is not None and (
            config.dirichlet_fraction > 0 or (config.root == "gumbel" and config.gumbel_noise)))
        if rng is None and needs_rng:
            rng = np.random.default_rng()

        planes = np.stack([state.planes() for state in states]).astype(np.float32, copy=False)
        legal = np.stack([state.legal_mask() for state in states]).astype(bool, copy=False)
        with torch.inference_mode():
            hidden, logits, value = self.network.initial(torch.from_numpy(planes).to(self.device))
            prior_logits = np.ascontiguousarray(as_numpy(logits.float()))
            root_value = np.ascontiguousarray(as_numpy(value.float()))
            check_finite_outputs(prior_logits, root_value)
            prior = masked_softmax(prior_logits, legal)
            if config is None:
                return self._policy_only(prior, legal, root_value, temperature, rng, started)
            output, evaluated = run_search(self, config, states, hidden, prior_logits, root_value, legal,
                                           temperature, rng, session)
        batch = len(states)
        return ActResult(
            actions=np.asarray(output.action, dtype=np.int64),
            visit_counts=np.asarray(output.visit_counts, dtype=np.int32),
            policy=np.asarray(output.policy, dtype=np.float32),
            q_values=np.asarray(output.q_values, dtype=np.float32),
            root_value=np.asarray(output.root_value, dtype=np.float32),
            prior=prior,
            network_evals=batch + evaluated,
            seconds=time.perf_counter() - started,
            proven=np.asarray(output.proven, dtype=np.int8))

    def _policy_only(self, prior, legal, root_value, temperature, rng, started) -> ActResult:
        batch = prior.shape[0]
        if temperature > 0:
            sharpened = np.where(legal, prior.astype(np.float64) ** (1.0 / temperature), 0.0)
            actions = np.array([rng.choice(self.num_actions, p=row / row.sum()) for row in sharpened])
        else:
            actions = np.where(legal, prior, -1.0).argmax(axis=1)
        return ActResult(
            actions=actions.astype(np.int64),
            visit_counts=np.zeros((batch, self.num_actions), dtype=np.int32),
            policy=prior.copy(),
            q_values=np.full((batch, self.num_actions), np.nan, dtype=np.float32),
            root_value=root_value.astype(np.float32),
            prior=prior,
            network_evals=batch,
            seconds=time.perf_counter() - started)


def _section(run_config: dict, name: str) -> dict:
    """One section of a checkpoint's run config, {} when absent or malformed."""
    section = run_config.get(name) if isinstance(run_config, dict) else None
    return section if isinstance(section, dict) else {}


def _number_in(value, low: float, high: float, default: float) -> float:
    """``value`` as a float when it is a number in [low, high], else ``default`` (a checkpoint
    is data, not trusted code: a malformed value falls back rather than failing the load)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        return default
    return float(value)


def training_discount(run_config: dict) -> float:
    """``search.discount`` of a checkpoint's run config; 1.0 when absent or out of [0, 1].

    A checkpoint is data, not trusted code: a malformed value falls back to the default
    rather than failing the load.
    """
    return _number_in(_section(run_config, "search").get("discount"), 0.0, 1.0, 1.0)


def trains_learned_model(run_config: dict, extra: dict | None = None) -> bool:
    """Whether the checkpoint's learned model was trained: its run unrolled it (``loss.unroll_steps``
    > 0), or the model was fitted afterwards (``extra["model_fit_steps"]`` > 0, `selfplay.model_fit`).
    A run with K = 0 (AlphaZero's loss over the rules) and no fit leaves g and the reward head as
    initialised, so a search through them means nothing. True when absent or malformed (older
    checkpoints all unrolled)."""
    if model_fitted(extra):
        return True
    steps = _section(run_config, "loss").get("unroll_steps")
    return not (isinstance(steps, int) and not isinstance(steps, bool) and steps == 0)


def model_fitted(extra: dict | None) -> bool:
    """Whether the checkpoint's model was fitted after training (`selfplay.model_fit`)."""
    steps = extra.get("model_fit_steps") if isinstance(extra, dict) else None
    return isinstance(steps, int) and not isinstance(steps, bool) and steps > 0


def training_end_positive_weight(run_config: dict, extra: dict | None = None) -> float:
    """The end-head weight the action heads were trained with: ``model_fit.end_positive_weight``
    of a fitted checkpoint, else ``loss.end_positive_weight``; 1.0 when absent or malformed."""
    section = "model_fit" if model_fitted(extra) else "loss"
    weight = _number_in(_section(run_config, section).get("end_positive_weight"), 0.0, 1e6, 1.0)
    return weight if weight > 0 else 1.0


def checkpoint_play_root(extra: dict) -> str | None:
    """The root a checkpoint says it plays with by default (``extra["play_root"]``), or None
    when it names none or a malformed one (a checkpoint is data: no failing load for it)."""
    from agent.player import PLAY_ROOT_EXTRA
    from agent.roots import Root
    from envs.errors import UsageError

    value = extra.get(PLAY_ROOT_EXTRA) if isinstance(extra, dict) else None
    try:
        return str(Root.parse(value))
    except UsageError:
        return None


def training_search_model(run_config: dict) -> str:
    """``search.model`` of a checkpoint's run config ("learned" or "rules"); "learned" when
    absent or malformed (checkpoints from before the rules search have none)."""
    value = _section(run_config, "search").get("model")
    return value if isinstance(value, str) and value in MODELS else "learned"
