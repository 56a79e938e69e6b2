"""The MuZero network: representation h, dynamics g and prediction f, as one torch module.

- h: observation planes ``[N, C, H, W]`` -> hidden state ``[N, channels, H, W]`` (a residual
  convolution tower), min-max scaled to [0, 1] per sample so that g sees inputs on the same
  scale at every unroll step.
- g: hidden state + the action encoded as planes on the board -> next hidden state (scaled
  the same way) and the reward of the transition, from the view of the player who acted.
- f: hidden state -> policy logits ``[N, A]`` and value, from the view of the player to move.

With ``config.dynamics = "board"`` the hidden state is ``[channels + C, H, W]``: h's hidden
state and the observation planes it encodes; g predicts the next planes from the planes and
the action (`BoardDynamics`) and h encodes them, f reads the first ``channels``. The model
is then grounded in observations: what g learns is how a move changes the board.

Values and rewards are tanh scalars by default; with a categorical support (see
`agent.support`) the raw head outputs are logits and `*_to_scalar` converts them.
`initial` and `recurrent` are the two calls the search makes; the loss uses the raw heads.
With `set_inference` (the `Agent` calls it) those two calls run, in eval mode with
gradients off, through an inference-only copy (BatchNorm folded, optionally bfloat16: see
`agent.inference`) that is rebuilt whenever the weights change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from agent.config import NetworkConfig
from agent.hidden import board_planes, scale_hidden
from agent.inference import InferenceCache, resolve_mode
from agent.support import logits_to_scalar
from envs.game import END_CLASSES

@dataclass(frozen=True)
class GameSpec:
    """What the network needs to know about a game: observation ``(C, H, W)`` and ``A``."""

    observation_shape: tuple[int, int, int]
    num_actions: int

    @classmethod
    def of(cls, game: Any) -> "GameSpec":
        """From a `Game` (or anything with ``observation_shape`` and ``num_actions``)."""
        if isinstance(game, GameSpec):
            return game
        shape = tuple(int(size) for size in game.observation_shape)
        if len(shape) != 3:
            raise ValueError(f"observation_shape must be (C, H, W), got {shape}")
        return cls(observation_shape=shape, num_actions=int(game.num_actions))


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the input, then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + x)


class ScalarHead(nn.Module):
    """conv1x1 -> flatten -> MLP -> one raw output (pre-tanh) or 2S+1 support logits."""

    def __init__(self, channels: int, head_channels: int, board_cells: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, head_channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(head_channels)
        self.fc1 = nn.Linear(head_channels * board_cells, hidden)
        self.fc2 = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm(self.conv(x))).flatten(1)
        return self.fc2(F.relu(self.fc1(out)))


class PolicyHead(nn.Module):
    """conv1x1 -> flatten -> linear to ``A`` logits."""

    def __init__(self, channels: int, head_channels: int, board_cells: int, num_actions: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, head_channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(head_channels)
        self.fc = nn.Linear(head_channels * board_cells, num_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.norm(self.conv(x))).flatten(1))


class ActionHeads(nn.Module):
    """Per-action legality and game end from a hidden state.

    Returns (legal logits ``[N, A]``, end logits ``[N, A, E]``) with E = `END_CLASSES`
    (goes on, mover wins, draw, mover loses). They read the hidden state itself, as f does,
    so the same heads serve the root (h) and every unrolled state (g). A stack of conv3x3
    (``layers`` of them) feeds one of two outputs (``output``):

    - ``mlp``: flatten -> MLP (``hidden`` units) -> ``A * (1 + E)``. Any action set (Connect
      Four's columns), but every move's answer passes through ``hidden`` units: with 81 moves
      (Gomoku 9x9) they read legal moves at 96.5% after the fit (docs/notebook.md).
    - ``cells``: where each action places on one cell (``board`` action encoding), a conv1x1
      gives that cell's ``1 + E`` logits, plus a term of the whole board (the mean and maximum
      of each channel over the board -> linear): a placement's legality is a pattern around
      its cell, while an end may hang on a count over the board (Othello's discs). An action
      past the cells (a pass) reads the board term alone.
    """

    def __init__(self, channels: int, head_channels: int, board_cells: int, hidden: int, num_actions: int,
                 layers: int = 1, output: str = "mlp") -> None:
        super().__init__()
        self.num_actions = num_actions
        self.output = output
        self.conv = nn.Conv2d(channels, head_channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(head_channels)
        # further convolutions (with bias, no BatchNorm: the inference copy folds only conv/norm)
        self.convs = nn.ModuleList(nn.Conv2d(head_channels, head_channels, 3, padding=1) for _ in range(layers - 1))
        outputs = 1 + END_CLASSES
        if output == "cells":
            if num_actions not in (board_cells, board_cells + 1):
                raise ValueError(f"action heads output 'cells' needs one action per cell (and at most a pass), "
                                 f"got {num_actions} actions on {board_cells} cells")
            self.cell_out = nn.Conv2d(head_channels, outputs, 1)
            self.board_out = nn.Linear(2 * head_channels, (1 + num_actions - board_cells) * outputs)
        else:   # "mlp" (NetworkConfig checks the name)
            self.fc1 = nn.Linear(head_channels * board_cells, hidden)
            self.fc2 = nn.Linear(hidden, num_actions * outputs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.relu(self.norm(self.conv(x)))
        for conv in self.convs:
            out = F.relu(conv(out))
        outputs = 1 + END_CLASSES
        if self.output == "cells":
            flat = out.flatten(2)                                              # [N, C, cells]
            board = self.board_out(torch.cat([flat.mean(-1), flat.amax(-1)], dim=1)).view(len(x), -1, outputs)
            cells = self.cell_out(out).flatten(2).transpose(1, 2) + board[:, :1]  # [N, cells, 1 + E]
            out = torch.cat([cells, board[:, 1:]], dim=1)
        else:
            out = self.fc2(F.relu(self.fc1(out.flatten(1)))).view(-1, self.num_actions, outputs)
        return out[:, :, 0], out[:, :, 1:]


class BoardEnds(nn.Module):
    """The board model's game-end detector: a position's planes -> end logits ``[N, E]`` (E =
    `END_CLASSES`: goes on, won, drawn, lost for the player who moved into the position).

    One convolution whose kernel covers a line of ``kernel`` cells over every window of the
    board (no padding), ReLU, each channel's maximum (a line anywhere) and mean (how full the
    board is) over the board, and an MLP. A line of four is a pattern one convolution sees
    whole, so this learns exactly what the rules compute; the learned tree reads it on g's
    predicted planes and stops where the predicted board has ended (`agent.search`).
    """

    def __init__(self, planes: int, board_shape: tuple[int, int], width: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(planes, width, min(kernel, *board_shape))
        self.fc1 = nn.Linear(2 * width, width)
        self.fc2 = nn.Linear(width, END_CLASSES)

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv(planes)).flatten(2)
        return self.fc2(F.relu(self.fc1(torch.cat([out.amax(-1), out.mean(-1)], dim=1))))


class BoardDynamics(nn.Module):
    """g of the board model: (planes, action planes, a plane of ones) -> logits of the next
    planes, a stack of conv3x3-ReLU layers and a conv1x1. The ones plane shows the convolutions
    where the board ends (zero padding alone cannot tell an edge from an empty cell)."""

    def __init__(self, planes: int, action_planes: int, width: int, layers: int) -> None:
        super().__init__()
        stack: list[nn.Module] = []
        channels = planes + action_planes + 1
        for _ in range(layers):
            stack += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
        stack.append(nn.Conv2d(channels, planes, 1))
        self.stack = nn.Sequential(*stack)

    def forward(self, planes: torch.Tensor, action_planes: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(planes[:, :1])
        return self.stack(torch.cat([planes, action_planes.to(planes.dtype), ones], dim=1))


def resolve_action_encoding(config: NetworkConfig, spec: GameSpec) -> str:
    """The concrete encoding for ``auto``; ValueError when a fixed one does not fit the game."""
    _, height, width = spec.observation_shape
    cells, actions = height * width, spec.num_actions
    fits = {"board": actions in (cells, cells + 1), "column": actions == width, "embedding": True}
    if config.action_encoding == "auto":
        return next(name for name in ("board", "column", "embedding") if fits[name])
    if not fits[config.action_encoding]:
        raise ValueError(f"action_encoding {config.action_encoding!r} does not fit {actions} actions "
                         f"on a {height}x{width} board")
    return config.action_encoding


def fixed_action_planes(encoding: str, spec: GameSpec) -> torch.Tensor:
    """``[A, P, H, W]`` float table of the action planes for the ``board``/``column`` encodings."""
    _, height, width = spec.observation_shape
    actions = spec.num_actions
    if encoding == "board":
        has_pass = actions == height * width + 1
        table = torch.zeros(actions, 2 if has_pass else 1, height, width)
        for action in range(height * width):
            table[action, 0, action // width, action % width] = 1.0
        if has_pass:
            table[height * width, 1] = 1.0
        return table
    table = torch.zeros(actions, 1, height, width)
    for column in range(width):
        table[column, 0, :, column] = 1.0
    return table


class MuZeroNetwork(nn.Module):
    """h, g and f of one game; see the module docstring for shapes and scaling."""

    def __init__(self, game_spec: Any, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.spec = GameSpec.of(game_spec)
        self.config = config or NetworkConfig()
        cfg, spec = self.config, self.spec
        in_planes, height, width = spec.observation_shape
        cells, channels = height * width, cfg.channels
        self.board_model = cfg.dynamics == "board"
        # The board model's g gives each cell's probability of being set (trained with binary
        # cross-entropy: the planes are Bernoulli). The search steps through the most likely
        # board, every cell rounded to 0 or 1, so that h and the end detector read boards like
        # the ones they were trained on and small errors do not pile up along a path
        # (docs/notebook.md, "the learned search made equal to the rules search"). Only in eval mode without
        # gradients: training needs the probabilities.
        self.snap_planes = self.board_model
        # the board model's hidden state also carries the observation planes (after h's channels)
        self.hidden_shape = (channels + (in_planes if self.board_model else 0), height, width)

        self.action_encoding = resolve_action_encoding(cfg, spec)
        if self.action_encoding == "embedding":
            self.action_embedding = nn.Embedding(spec.num_actions, cfg.action_embedding_planes)
            action_planes = cfg.action_embedding_planes
            self.register_buffer("action_table", torch.zeros(0), persistent=False)
        else:
            self.action_embedding = None
            table = fixed_action_planes(self.action_encoding, spec)
            action_planes = table.shape[1]
            self.register_buffer("action_table", table, persistent=False)

        # h
        self.represent_conv = nn.Conv2d(in_planes, channels, 3, padding=1, bias=False)
        self.represent_norm = nn.BatchNorm2d(channels)
        self.represent_blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(cfg.representation_blocks)])
        # g: hidden to hidden (MuZero's), or planes to planes (the board model)
        if self.board_model:
            self.dynamics_conv = self.dynamics_norm = None
            self.dynamics_blocks = nn.Sequential()
            self.board_dynamics = BoardDynamics(in_planes, action_planes, cfg.board_dynamics_width,
                                                cfg.board_dynamics_layers)
        else:
            self.dynamics_conv = nn.Conv2d(channels + action_planes, channels, 3, padding=1, bias=False)
            self.dynamics_norm = nn.BatchNorm2d(channels)
            self.dynamics_blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(cfg.dynamics_blocks)])
            self.board_dynamics = None
        reward_outputs = 2 * cfg.reward_support + 1 if cfg.reward_support else 1
        self.reward_head = ScalarHead(channels, cfg.value_head_channels, cells, cfg.head_hidden, reward_outputs)
        # f
        self.prediction_blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(cfg.prediction_blocks)])
        self.policy_head = PolicyHead(channels, cfg.policy_head_channels, cells, spec.num_actions)
        value_outputs = 2 * cfg.value_support + 1 if cfg.value_support else 1
        self.value_head = ScalarHead(channels, cfg.value_head_channels, cells, cfg.head_hidden, value_outputs)
        # the action heads read the whole hidden state (the board model's planes too)
        self.action_heads = (ActionHeads(self.hidden_shape[0], cfg.action_head_channels, cells, cfg.head_hidden,
                                         spec.num_actions, cfg.action_head_layers, cfg.action_head_output)
                             if cfg.action_heads else None)
        self.board_ends = (BoardEnds(in_planes, (height, width), cfg.board_ends_width, cfg.board_ends_kernel)
                           if cfg.board_ends else None)
        # EfficientZero consistency: projection of a hidden state and a predictor on top of it
        if cfg.projection_dim:
            self.projection = nn.Sequential(
                nn.Linear(channels * cells, cfg.projection_dim), nn.BatchNorm1d(cfg.projection_dim), nn.ReLU(),
                nn.Linear(cfg.projection_dim, cfg.projection_dim))
            self.projection_predictor = nn.Sequential(
                nn.Linear(cfg.projection_dim, cfg.projection_dim), nn.BatchNorm1d(cfg.projection_dim), nn.ReLU(),
                nn.Linear(cfg.projection_dim, cfg.projection_dim))
        else:
            self.projection = None
            self.projection_predictor = None
        self.inference = "eager"
        self._inference_cache = None

    def set_inference(self, mode: str) -> str:
        """Route ``initial``/``recurrent`` (eval mode, no grad) through an inference copy.

        ``mode``: ``eager`` (this module), ``fp32`` (BatchNorm folded), ``bf16`` (folded,
        bfloat16 weights and hidden states) or ``auto`` (bf16 on a CPU with native bf16,
        fp32 elsewhere). Returns the concrete mode. Training is unaffected.
        """
        device = next(self.parameters()).device
        mode = resolve_mode(mode, device)
        if mode != self.inference:
            self.inference = mode
            self._inference_cache = None if mode == "eager" else InferenceCache(mode)
        return mode

    def _search_copy(self):
        """The inference cache when the search calls should use it, else None."""
        cache = self._inference_cache
        if cache is None or self.training or torch.is_grad_enabled():
            return None
        return cache

    # --- the three functions, raw outputs -------------------------------------------------
    def represent(self, planes: torch.Tensor) -> torch.Tensor:
        """h: ``planes [N, C, H, W]`` -> scaled hidden ``[N, channels, H, W]`` (the board model
        appends the planes themselves: ``[N, channels + C, H, W]``)."""
        out = F.relu(self.represent_norm(self.represent_conv(planes)))
        hidden = scale_hidden(self.represent_blocks(out))
        return torch.cat([hidden, planes.to(hidden.dtype)], dim=1) if self.board_model else hidden

    def latent(self, hidden: torch.Tensor) -> torch.Tensor:
        """The part of a hidden state that f reads: h's channels (the board model drops its planes)."""
        return hidden[:, :self.config.channels] if self.board_model else hidden

    def board_logits(self, planes: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The board model's g: logits ``[N, C, H, W]`` of the planes after ``actions [N]``."""
        return self.board_dynamics(planes, self.encode_actions(actions))

    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """``actions [N]`` int -> action planes ``[N, P, H, W]``."""
        if self.action_embedding is None:
            return self.action_table.index_select(0, actions.long())
        _, height, width = self.hidden_shape
        vectors = self.action_embedding(actions.long())
        return vectors[:, :, None, None].expand(-1, -1, height, width)

    def dynamics(self, hidden: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """g: ``hidden [N, ch, H, W]``, ``actions [N]`` -> (next hidden, raw reward ``[N, 1|2S+1]``).

        The board model predicts the next planes (probabilities), encodes them with h and reads
        the reward from that hidden state."""
        if self.board_model:
            planes = board_planes(self.board_logits(hidden[:, self.config.channels:], actions),
                                  self.snap_planes and not self.training and not torch.is_grad_enabled())
            next_hidden = self.represent(planes)
            return next_hidden, self.reward_head(self.latent(next_hidden))
        stacked = torch.cat([hidden, self.encode_actions(actions).to(hidden.dtype)], dim=1)
        out = F.relu(self.dynamics_norm(self.dynamics_conv(stacked)) + hidden)
        out = self.dynamics_blocks(out)
        return scale_hidden(out), self.reward_head(out)

    def predict(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f: ``hidden`` -> (policy logits ``[N, A]``, raw value ``[N, 1|2S+1]``)."""
        out = self.prediction_blocks(self.latent(hidden))
        return self.policy_head(out), self.value_head(out)

    def predict_actions(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The action heads of ``hidden``: (legal logits ``[N, A]``, end logits ``[N, A, E]``);
        through the inference copy in eval mode without gradients. ValueError without heads."""
        if self.action_heads is None:
            raise ValueError("this network has no action heads (network.action_heads = false)")
        cache = self._search_copy()
        if cache is not None:
            return cache.predict_actions(self, hidden)
        return self.action_heads(hidden)

    def position_ends(self, hidden: torch.Tensor) -> torch.Tensor:
        """The board model's end detector on the planes of ``hidden``: end logits ``[N, E]`` of
        each position for the player who moved into it (through the inference copy in eval mode
        without gradients). ValueError without one (network.board_ends = false)."""
        if self.board_ends is None:
            raise ValueError("this network has no end detector (network.board_ends = false)")
        cache = self._search_copy()
        if cache is not None:
            return cache.position_ends(self, hidden)
        return self.board_ends(hidden[:, self.config.channels:])

    def value_to_scalar(self, raw_value: torch.Tensor) -> torch.Tensor:
        """Raw value head output -> value ``[N]`` (tanh, or the support's expectation)."""
        if self.config.value_support:
            return logits_to_scalar(raw_value, self.config.value_support)
        return torch.tanh(raw_value.squeeze(-1))

    def reward_to_scalar(self, raw_reward: torch.Tensor) -> torch.Tensor:
        """Raw reward head output -> reward ``[N]``."""
        if self.config.reward_support:
            return logits_to_scalar(raw_reward, self.config.reward_support)
        return torch.tanh(raw_reward.squeeze(-1))

    def project(self, hidden: torch.Tensor, with_predictor: bool) -> torch.Tensor:
        """Consistency-loss embedding of ``hidden`` ``[N, D]`` (flattened hidden when no projection)."""
        flat = hidden.flatten(1)
        if self.projection is None:
            return flat
        out = self.projection(flat)
        return self.projection_predictor(out) if with_predictor else out

    # --- the two calls the search makes -----------------------------------------------------
    def initial(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``planes [N, C, H, W]`` -> (hidden ``[N, ch, H, W]``, policy logits ``[N, A]``, value ``[N]``).

        Through the inference copy when one is set (eval mode, no grad): then hidden has the
        copy's dtype (bfloat16 in bf16 mode) and the rest is float32."""
        cache = self._search_copy()
        if cache is not None:
            return cache.initial(self, planes)
        hidden = self.represent(planes)
        logits, raw_value = self.predict(hidden)
        return hidden, logits, self.value_to_scalar(raw_value)

    def recurrent(self, hidden: torch.Tensor, actions: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``hidden``, ``actions [N]`` -> (next hidden, reward ``[N]``, policy logits ``[N, A]``, value ``[N]``)."""
        cache = self._search_copy()
        if cache is not None:
            return cache.recurrent(self, hidden, actions)
        next_hidden, raw_reward = self.dynamics(hidden, actions)
        logits, raw_value = self.predict(next_hidden)
        return next_hidden, self.reward_to_scalar(raw_reward), logits, self.value_to_scalar(raw_value)


def build_network(game: Any, config: NetworkConfig | None = None) -> MuZeroNetwork:
    """The network of a game with the game's preset config unless one is given."""
    if config is None:
        config = NetworkConfig.for_game(getattr(game, "name", ""))
    return MuZeroNetwork(game, config)
