"""Scalar <-> categorical support conversions with the MuZero h(x) transform.

For games with large rewards the value and reward heads predict a distribution over the
integers ``-S..S`` of the transformed scalar ``h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x``,
which keeps the loss scale independent of the reward scale. Board games use tanh scalars
and never touch this module.
"""
from __future__ import annotations

import torch

EPSILON = 0.001


def h_transform(x: torch.Tensor) -> torch.Tensor:
    """The invertible squashing h(x) of MuZero (appendix F)."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1.0) - 1.0) + EPSILON * x


def h_inverse(y: torch.Tensor) -> torch.Tensor:
    """Exact inverse of `h_transform`."""
    root = (torch.sqrt(1.0 + 4.0 * EPSILON * (torch.abs(y) + 1.0 + EPSILON)) - 1.0) / (2.0 * EPSILON)
    return torch.sign(y) * (root * root - 1.0)


def logits_to_scalar(logits: torch.Tensor, support: int) -> torch.Tensor:
    """``logits [N, 2S+1]`` over ``-S..S`` -> the expected scalar ``[N]``, un-transformed."""
    atoms = torch.arange(-support, support + 1, dtype=logits.dtype, device=logits.device)
    expected = (torch.softmax(logits, dim=-1) * atoms).sum(dim=-1)
    return h_inverse(expected)


def scalar_to_probabilities(x: torch.Tensor, support: int) -> torch.Tensor:
    """Scalar targets ``[...]`` -> two-hot probabilities ``[..., 2S+1]`` of h(x) clipped to the support."""
    y = h_transform(x).clamp(-support, support)
    lower = torch.floor(y)
    upper_weight = y - lower
    probabilities = torch.zeros(*x.shape, 2 * support + 1, dtype=x.dtype, device=x.device)
    lower_index = (lower + support).long()
    probabilities.scatter_(-1, lower_index.unsqueeze(-1), (1.0 - upper_weight).unsqueeze(-1))
    upper_index = (lower_index + 1).clamp(max=2 * support)
    probabilities.scatter_add_(-1, upper_index.unsqueeze(-1), upper_weight.unsqueeze(-1))
    return probabilities
