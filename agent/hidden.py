"""The hidden state's scale: every hidden state of h and g is min-max scaled to [0, 1] per sample.

MuZero's appendix G: g then sees inputs on the same scale at every unroll step. One
definition shared by the trainable network (`agent.networks`) and its inference copy
(`agent.inference`), so the two cannot drift apart.
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
