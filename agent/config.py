"""Typed configs of the agent: network sizes (`NetworkConfig`) and the training loss (`LossConfig`).

Both are frozen dataclasses so that a config can be hashed, written into a checkpoint
(`to_dict`) and read back (`from_dict`) without surprises. Presets live here as classmethods
so that every command builds the same network for a game: `NetworkConfig.for_game(name)`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ACTION_ENCODINGS = ("auto", "board", "column", "embedding")
DYNAMICS = ("latent", "board")
ACTION_HEAD_OUTPUTS = ("mlp", "cells")


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes and options of the MuZero network (h, g, f).

    The hidden state is ``[channels, H, W]`` on the game's board, min-max scaled to [0, 1]
    per sample. Values and rewards are tanh scalars in [-1, 1] when their support is 0
    (board games); a support ``S > 0`` makes the head a categorical distribution over the
    integers ``-S..S`` of the h(x)-transformed scalar (games with large rewards).

    ``action_encoding`` says how g sees the action: ``board`` a one-hot plane on the board
    (A == H*W, plus a pass plane when A == H*W + 1), ``column`` the action's whole column
    set to 1 (A == W, Connect Four), ``embedding`` a learned vector of
    ``action_embedding_planes`` planes broadcast over the board (any A), and ``auto`` picks
    the first of those that fits the game.
    """

    channels: int = 32
    representation_blocks: int = 3
    dynamics_blocks: int = 2
    prediction_blocks: int = 1
    policy_head_channels: int = 4
    value_head_channels: int = 2
    head_hidden: int = 64
    value_support: int = 0
    reward_support: int = 0
    action_encoding: str = "auto"
    action_embedding_planes: int = 4
    projection_dim: int = 0  # > 0 adds EfficientZero-style projection/predictor heads
    # Heads on every hidden state (root or unrolled) that predict, per action, whether it is
    # legal and how it ends the game (`agent.networks.ActionHeads`), trained densely from the
    # rules so that a search over the learned model knows legal moves and game ends.
    action_heads: bool = False
    action_head_channels: int = 16
    # convolutions (3x3, action_head_channels wide) before the heads' MLP: one sees a cell's
    # neighbours; three see the lines of four through it (a win in one is such a line)
    action_head_layers: int = 1
    # what the convolutions feed (`ActionHeads`): "mlp", a small MLP to every action's answer
    # (any action set), or "cells", each placement's answer read at its own cell (games whose
    # actions are cells, and a pass)
    action_head_output: str = "mlp"
    # What g steps. "latent": MuZero's g, hidden state to hidden state. "board": the hidden
    # state also carries the observation planes, g predicts the next ones (a small convolution
    # stack, `board_dynamics_width` wide and `board_dynamics_layers` deep) and h encodes them:
    # a learned model grounded in observations (agent.networks, docs/notebook.md).
    dynamics: str = "latent"
    board_dynamics_width: int = 32
    board_dynamics_layers: int = 3
    # The board model's end detector (`agent.networks.BoardEnds`): from a position's planes,
    # whether the game has ended there and how, so that the learned tree stops where g's
    # predicted board has ended. Its convolution spans ``board_ends_kernel`` cells (a line of
    # four in Connect Four), ``board_ends_width`` channels.
    board_ends: bool = False
    board_ends_kernel: int = 4
    board_ends_width: int = 64

    def __post_init__(self) -> None:
        for name in ("channels", "head_hidden", "policy_head_channels", "value_head_channels",
                     "action_embedding_planes", "action_head_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"network {name} must be >= 1, got {getattr(self, name)}")
        for name in ("representation_blocks", "dynamics_blocks", "prediction_blocks",
                     "value_support", "reward_support", "projection_dim"):
            if getattr(self, name) < 0:
                raise ValueError(f"network {name} must be >= 0, got {getattr(self, name)}")
        if not isinstance(self.action_heads, bool):
            raise ValueError(f"network action_heads must be true or false, got {self.action_heads!r}")
        if self.dynamics not in DYNAMICS:
            raise ValueError(f"network dynamics must be one of {', '.join(DYNAMICS)}, got {self.dynamics!r}")
        if self.action_head_layers < 1:
            raise ValueError(f"network action_head_layers must be >= 1, got {self.action_head_layers}")
        if self.action_head_output not in ACTION_HEAD_OUTPUTS:
            raise ValueError(f"network action_head_output must be one of {', '.join(ACTION_HEAD_OUTPUTS)}, "
                             f"got {self.action_head_output!r}")
        if self.board_dynamics_width < 1 or self.board_dynamics_layers < 1:
            raise ValueError("network board_dynamics_width and board_dynamics_layers must be >= 1")
        if not isinstance(self.board_ends, bool):
            raise ValueError(f"network board_ends must be true or false, got {self.board_ends!r}")
        if self.board_ends and self.dynamics != "board":
            raise ValueError("network board_ends reads the board model's planes: it needs dynamics = board")
        if self.board_ends_kernel < 2 or self.board_ends_width < 1:
            raise ValueError("network board_ends_kernel must be >= 2 and board_ends_width >= 1")
        if self.action_encoding not in ACTION_ENCODINGS:
            raise ValueError(f"network action_encoding must be one of {', '.join(ACTION_ENCODINGS)}, "
                             f"got {self.action_encoding!r}")

    @classmethod
    def tiny(cls) -> "NetworkConfig":
        """Tic-tac-toe: fast on one CPU thread, still enough capacity to play it perfectly."""
        return cls(channels=32, representation_blocks=2, dynamics_blocks=1, prediction_blocks=0,
                   head_hidden=32)

    @classmethod
    def connect_four(cls) -> "NetworkConfig":
        """Connect Four: 64 channels; 4 residual blocks in h, 1 in g, 1 in f.

        At equal training wall-clock on 2 CPU cores it played level with the earlier 6-2-1
        tower (docs/notebook.md) while taking half the time per learner step and two thirds
        per search evaluation, so the same 2 hours buy twice the steps and faster play.
        """
        return cls(channels=64, representation_blocks=4, dynamics_blocks=1, prediction_blocks=1,
                   head_hidden=64)

    @classmethod
    def default(cls) -> "NetworkConfig":
        """Any other game: a small network to start from."""
        return cls()

    @classmethod
    def for_game(cls, game_name: str) -> "NetworkConfig":
        """The preset of a game by its registry name (the default for unknown games)."""
        presets = {"tictactoe": cls.tiny, "connect_four": cls.connect_four}
        return presets.get(game_name, cls.default)()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (ints and strings only) for checkpoints and TOML."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "NetworkConfig":
        """Inverse of `to_dict`; ValueError on unknown keys or bad values."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown network config keys: {', '.join(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class LossConfig:
    """Weights and switches of the K-step unrolled MuZero loss (`agent.losses`).

    Weight decay (L2) is not part of the loss: give it to the optimizer
    (``torch.optim.SGD(..., weight_decay=1e-4)`` or AdamW), which applies it to every
    parameter without a second pass over them.
    """

    unroll_steps: int = 5                 # K
    policy_weight: float = 1.0
    value_weight: float = 1.0
    reward_weight: float = 1.0
    hidden_gradient_scale: float = 0.5    # gradient scale into the hidden state per dynamics step
    consistency: bool = False             # EfficientZero self-supervised consistency loss
    consistency_weight: float = 2.0
    # share of the batch that is unrolled through g (the first rows); h and f train on all
    # rows. Below 1 the model costs less per step (docs/training.md).
    unroll_fraction: float = 1.0
    legal_weight: float = 1.0             # action heads (network.action_heads): legality
    end_weight: float = 1.0               # action heads: how each legal action ends the game
    # weight of an action that ends the game (a win, draw or loss) against one that does not,
    # in the end head's loss: in self-play a move that ends the game is about one legal action
    # in 200, so unweighted the head learns "goes on" and misses wins (docs/notebook.md)
    end_positive_weight: float = 1.0
    # the first branch_steps unroll steps also step aside once: g with the recorded other move
    # of that position, the action heads trained on the rules' labels of where it leads
    # (positions a search expands and self-play never reaches); 0 turns it off
    branch_steps: int = 0
    # the action heads learn from h's hidden state with the gradient stopped there, so that
    # they do not shape h (a run over the rules whose model is fitted afterwards, `c4-s`)
    action_heads_detached: bool = False

    def __post_init__(self) -> None:
        if self.unroll_steps < 0:
            raise ValueError(f"unroll_steps must be >= 0, got {self.unroll_steps}")
        if not 0.0 < self.unroll_fraction <= 1.0:
            raise ValueError(f"unroll_fraction must be in (0, 1], got {self.unroll_fraction}")
        if self.legal_weight < 0 or self.end_weight < 0:
            raise ValueError("legal_weight and end_weight must be >= 0")
        if isinstance(self.branch_steps, bool) or self.branch_steps < 0:
            raise ValueError(f"branch_steps must be an int >= 0, got {self.branch_steps!r}")
        if not self.end_positive_weight > 0:
            raise ValueError(f"end_positive_weight must be > 0, got {self.end_positive_weight}")
        if not 0.0 <= self.hidden_gradient_scale <= 1.0:
            raise ValueError(f"hidden_gradient_scale must be in [0, 1], got {self.hidden_gradient_scale}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "LossConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown loss config keys: {', '.join(unknown)}")
        return cls(**values)
