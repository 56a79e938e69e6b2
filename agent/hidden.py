"""What the hidden state holds, defined once for the trainable network (`agent.networks`) and
its inference copy (`agent.inference`), so that the two cannot drift apart:

- its scale: every hidden state of h and g is min-max scaled to [0, 1] per sample (MuZero's
  appendix G: g then sees inputs on the same scale at every unroll step);
- the board model's planes, which it carries after h's channels (`board_planes`).
"""
from __future__ import annotations

import torch

HIDDEN_SCALE_EPSILON = 1e-5


def scale_hidden(hidden: torch.Tensor) -> torch.Tensor:
    """Min-max scale each sample of ``hidden [N, ...]`` to [0, 1] (MuZero appendix G)."""
    flat = hidden.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    high = flat.max(dim=1, keepdim=True).values
    return ((flat - low) / (high - low + HIDDEN_SCALE_EPSILON)).view_as(hidden)


def board_planes(logits: torch.Tensor, snap: bool) -> torch.Tensor:
    """The board model's next planes from g's logits: each cell's probability, or with ``snap``
    the most likely board (1 where the logit is positive, else 0)."""
    return (logits > 0).to(logits.dtype) if snap else torch.sigmoid(logits)
