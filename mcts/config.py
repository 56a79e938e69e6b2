"""The boundary types of the tree search: what a search is asked to do, and what it returns.

Both tree implementations (the Cython `mcts.BatchedTree` and the plain-Python
`mcts.reference.ReferenceTree`) take a `SearchConfig` and return a `SearchOutput`, so a
caller can swap one for the other and tests can compare them field by field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROOT_METHODS = ("puct", "gumbel")
MODELS = ("learned", "rules")
# proven results (`SearchConfig.solver`), from the view of the player who moved into a node
WIN, DRAW, LOSS, UNPROVEN = 1, 0, -1, 2


@dataclass(frozen=True)
class SearchConfig:
    """How one search runs. Frozen so that it can be shared between games and processes.

    Attributes:
      num_simulations: S, the number of `select`/`expand_and_backup` rounds per search (>= 1).
      root: "puct" (MuZero pUCT with optional Dirichlet noise at the root) or "gumbel"
        (Gumbel MuZero: Gumbel-top-k and Sequential Halving at the root, deterministic
        selection towards the improved policy inside the tree).
      pb_c_init: c1 of MuZero's pUCT formula.
      pb_c_base: c2 of MuZero's pUCT formula.
      discount: gamma applied to the child's value when backing up.
      two_player: values flip sign between plies (Q = r - discount * V(child)); False for
        one-player games (Q = r + discount * V(child)).
      value_bounds: (low, high) seeding each tree's min-max statistics so that Q
        normalisation is meaningful from the first simulation; None starts them empty.
      dirichlet_alpha: concentration of the root noise (pUCT only).
      dirichlet_fraction: weight of the noise in the root prior; 0 disables it.
      gumbel_max_actions: m, the most root actions Sequential Halving considers.
      gumbel_c_visit, gumbel_c_scale: sigma(q) = (c_visit + max_b N(b)) * c_scale * q.
      gumbel_noise: False draws no Gumbel noise (deterministic search, for evaluation).
      tree_legal_masks: apply the legal masks passed to `expand_and_backup` inside the
        tree (only meaningful when the caller knows the true game state at interior nodes).
      model: what the simulations step through. "learned" (MuZero): the dynamics network g
        from hidden states. "rules": the game's own rules, with f(h(s)) of each real position
        and exact rewards at the end (AlphaZero); the trees are the same, the caller
        (`agent.search.RulesModel`) tracks the real positions. The trees ignore this field.
      solver: prove wins, losses and draws from the game ends the caller reports
        (``terminal`` of `expand_and_backup`, which only a search over the rules knows) and
        back the proofs up the tree (MCTS-Solver, Winands et al. 2008): selection always
        takes a proven win and never a proven loss while another move is not lost, and the
        move played follows the same rule. Two-player games only; off, the trees ignore
        ``terminal`` and search exactly as before.
      learned_ends: in a search over the learned model of a network with action heads
        (`agent.networks.ActionHeads`), use them inside the tree (`agent.model_ends`, `agent.search.LearnedModel`): below
        the root an action whose predicted probability of being legal is below
        ``legal_threshold`` gets no prior, and a transition whose predicted probability of
        ending the game exceeds ``end_threshold`` gets the predicted result as its reward and
        is not expanded further (an absorbing leaf, as a game end over the rules). False, or
        a network without the heads, searches as MuZero does. The trees ignore these fields.
      legal_threshold, end_threshold: in (0, 1).
      end_rewards_only: with ``learned_ends``, a transition the model reads as not ending the
        game gets reward 0 instead of g's reward head: in every board game the reward comes
        at the end only (the replay stores none elsewhere), so once the heads or the end
        detector decide where the game ends, the reward head can only add noise (measured on
        Connect Four: 0.5 for ordinary moves, which made a move that hands over a win in one
        the search's choice; docs/notebook.md). False keeps g's reward there.
    """

    num_simulations: int = 50
    root: str = "puct"
    pb_c_init: float = 1.25
    pb_c_base: float = 19652.0
    discount: float = 1.0
    two_player: bool = True
    value_bounds: tuple[float, float] | None = (-1.0, 1.0)
    dirichlet_alpha: float = 0.3
    dirichlet_fraction: float = 0.0
    gumbel_max_actions: int = 16
    gumbel_c_visit: float = 50.0
    gumbel_c_scale: float = 1.0
    gumbel_noise: bool = True
    tree_legal_masks: bool = False
    model: str = "learned"
    solver: bool = False
    learned_ends: bool = True
    legal_threshold: float = 0.5
    end_threshold: float = 0.5
    end_rewards_only: bool = True

    def __post_init__(self) -> None:
        # Reject nonsense at construction, so a bad config never reaches compiled code.
        if isinstance(self.num_simulations, bool) or not isinstance(self.num_simulations, (int, np.integer)):
            raise ValueError(f"num_simulations must be an int, got {self.num_simulations!r}")
        if self.num_simulations < 1:
            raise ValueError(f"num_simulations must be >= 1, got {self.num_simulations}")
        if self.root not in ROOT_METHODS:
            raise ValueError(f"root must be one of {ROOT_METHODS}, got {self.root!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if not isinstance(self.solver, (bool, np.bool_)):
            raise ValueError(f"solver must be true or false, got {self.solver!r}")
        for name in ("learned_ends", "end_rewards_only"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("legal_threshold", "end_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
        if self.solver and not self.two_player:
            raise ValueError("solver proves two-player results; it needs two_player=True")
        for name in ("pb_c_init", "pb_c_base", "discount", "dirichlet_alpha", "dirichlet_fraction",
                     "gumbel_c_visit", "gumbel_c_scale"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.pb_c_base <= 0:
            raise ValueError(f"pb_c_base must be > 0, got {self.pb_c_base}")
        if self.dirichlet_alpha <= 0:
            raise ValueError(f"dirichlet_alpha must be > 0, got {self.dirichlet_alpha}")
        if not 0.0 <= self.dirichlet_fraction <= 1.0:
            raise ValueError(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if not 0.0 <= self.discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {self.discount}")
        if isinstance(self.gumbel_max_actions, bool) or not isinstance(self.gumbel_max_actions, (int, np.integer)) \
                or self.gumbel_max_actions < 1:
            raise ValueError(f"gumbel_max_actions must be an int >= 1, got {self.gumbel_max_actions!r}")
        if self.value_bounds is not None:
            if len(self.value_bounds) != 2:
                raise ValueError(f"value_bounds must be (low, high) or None, got {self.value_bounds!r}")
            low, high = (float(v) for v in self.value_bounds)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"value_bounds must be finite with low < high, got {self.value_bounds!r}")


@dataclass(frozen=True)
class SearchOutput:
    """What a batch of searches found, one row per tree.

    Attributes:
      visit_counts: int32 [B, A], visits of each root action (0 for illegal actions).
      q_values: float32 [B, A], Q of each root action from the root player's view
        (r - discount * V(child) in a two-player game); nan where unvisited.
      root_value: float32 [B], the mean backed-up value of the root, root player's view.
      policy: float32 [B, A], the training target: the visit distribution for pUCT, the
        improved policy softmax(logits + sigma(completed Q)) for Gumbel; 0 on illegal actions.
      action: int32 [B], the action to play (see `output` of the trees for the rule).
      proven: int8 [B, A], the proven result of each root action from the root player's
        view (WIN 1, DRAW 0, LOSS -1) or UNPROVEN (2): unexpanded, illegal, not yet
        proven, or a search without `SearchConfig.solver`.
    """

    visit_counts: np.ndarray
    q_values: np.ndarray
    root_value: np.ndarray
    policy: np.ndarray
    action: np.ndarray
    proven: np.ndarray
