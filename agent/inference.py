"""Inference-only copies of the network for the search: BatchNorm folded, optionally bfloat16.

The search calls ``initial`` and ``recurrent`` thousands of times per move with weights that
do not change, in eval mode, without gradients. `InferenceCache` keeps a copy of a
`MuZeroNetwork` built for exactly that:

- every BatchNorm of h, g and f is folded into the convolution before it (eval-mode
  running statistics), so a residual block is two convolutions and two ReLUs (in place);
- g's first convolution is split into a hidden-state convolution plus a per-action table
  (no concatenation with the action planes), and the weights are channels-last;
- in ``bf16`` mode the copy's weights, its hidden states and the search's hidden-state
  store are bfloat16 (oneDNN's native bf16 convolutions on CPUs with AVX512-BF16 or AMX);
  the policy logits, values and rewards handed to the tree are float32.

Modes (``INFERENCE_MODES``): ``eager`` the trainable module itself (no copy), ``fp32`` the
folded copy (equal to eager up to float rounding), ``bf16`` the folded copy in bfloat16,
``auto`` bf16 on a CPU with native bf16 instructions, fp32 elsewhere.

The copy follows the trainable network: before each call the cache compares a fingerprint
of the source's parameters and buffers (storage address and in-place version counter of
each tensor, which ``load_state_dict``, optimizer steps and BatchNorm statistics updates all
bump) and rebuilds the copy when it changed. Training code never sees the copy: losses call
``represent``/``dynamics``/``predict`` of the trainable module, and `MuZeroNetwork` only
routes ``initial``/``recurrent`` here in eval mode with gradients off.
"""
from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from agent.hidden import board_planes, scale_hidden

INFERENCE_MODES = ("auto", "eager", "fp32", "bf16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """True on a CPU with AVX512-BF16 or AMX-BF16 (where oneDNN's bf16 convolutions are fast)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"}) and torch.backends.mkldnn.is_available()
    except OSError:
        pass
    return False


def resolve_mode(mode: str, device: torch.device | str = "cpu") -> str:
    """The concrete mode (eager, fp32 or bf16) for ``mode`` on ``device``; ValueError if unknown."""
    if mode not in INFERENCE_MODES:
        raise ValueError(f"inference must be one of {', '.join(INFERENCE_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "bf16" if torch.device(device).type == "cpu" and cpu_has_native_bf16() else "fp32"


def _fold(parent: nn.Module, conv_name: str, norm_name: str) -> None:
    conv, norm = getattr(parent, conv_name), getattr(parent, norm_name)
    setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
    setattr(parent, norm_name, nn.Identity())


def build_inference_copy(network: nn.Module, mode: str) -> nn.Module:
    """A new eval-mode `MuZeroNetwork` with the weights of ``network``, BatchNorms folded, in
    the dtype of ``mode`` (fp32 or bf16); its own inference mode is eager."""
    device = next(network.parameters()).device
    copy = type(network)(network.spec, network.config)   # the network's own class: no import back
    copy.load_state_dict(network.state_dict())
    copy = copy.to(device).eval()
    copy.projection, copy.projection_predictor = None, None   # consistency loss only
    _fold(copy, "represent_conv", "represent_norm")
    if not copy.board_model:
        _fold(copy, "dynamics_conv", "dynamics_norm")
    for blocks in (copy.represent_blocks, copy.dynamics_blocks, copy.prediction_blocks):
        for block in blocks:
            _fold(block, "conv1", "norm1")
            _fold(block, "conv2", "norm2")
    for head in (copy.reward_head, copy.policy_head, copy.value_head, copy.action_heads):
        if head is not None:
            _fold(head, "conv", "norm")
    if not copy.board_model:
        _split_dynamics_conv(copy)
    # channels-last weights let oneDNN pick its blocked kernels (measured faster on CPU even
    # with the NCHW hidden states the search's store holds)
    copy = copy.to(DTYPES[mode]).to(memory_format=torch.channels_last)
    for parameter in copy.parameters():
        parameter.requires_grad_(False)
    return copy


def _split_dynamics_conv(copy: nn.Module) -> None:
    """g's first convolution sees ``cat(hidden, action planes)``; convolution is linear, so it
    is the convolution of the hidden channels plus that of the action planes, and the latter
    depends on the action only: a table ``[A, channels, H, W]`` computed once. The copy's
    dynamics (`inference_dynamics`) then skips the concatenation and runs a channels x
    channels convolution instead of an odd-sized one."""
    conv = copy.dynamics_conv
    channels = copy.hidden_shape[0]
    hidden_conv = nn.Conv2d(channels, channels, 3, padding=1, bias=True)
    with torch.no_grad():
        hidden_conv.weight.copy_(conv.weight[:, :channels])
        hidden_conv.bias.copy_(conv.bias)
        every_action = torch.arange(copy.spec.num_actions, device=conv.weight.device)
        planes = copy.encode_actions(every_action).to(conv.weight.dtype)
        table = torch.nn.functional.conv2d(planes, conv.weight[:, channels:], padding=1)
    copy.dynamics_conv = hidden_conv.to(conv.weight.device)
    copy.register_buffer("action_conv_table", table, persistent=False)


def inference_dynamics(copy: nn.Module, hidden: torch.Tensor, actions: torch.Tensor, snap: bool):
    """`MuZeroNetwork.dynamics` of a copy made by `build_inference_copy` (folded, split conv);
    ``snap``: the source network's ``snap_planes`` (the board model's most likely board)."""
    if copy.board_model:
        planes = board_planes(copy.board_logits(hidden[:, copy.config.channels:], actions), snap)
        next_hidden = inference_represent(copy, planes)
        return next_hidden, copy.reward_head(copy.latent(next_hidden))
    out = copy.dynamics_conv(hidden).add_(copy.action_conv_table.index_select(0, actions.long()))
    out = inference_blocks(copy.dynamics_blocks, torch.relu_(out.add_(hidden)))
    return scale_hidden(out), copy.reward_head(out)


def inference_blocks(blocks: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Folded residual blocks (conv-ReLU-conv, + input, ReLU) with in-place adds and ReLUs."""
    for block in blocks:
        out = torch.relu_(block.conv1(x))
        x = torch.relu_(block.conv2(out).add_(x))
    return x


def inference_represent(copy: nn.Module, planes: torch.Tensor) -> torch.Tensor:
    """`MuZeroNetwork.represent` of a folded copy."""
    hidden = scale_hidden(inference_blocks(copy.represent_blocks, torch.relu_(copy.represent_conv(planes))))
    return torch.cat([hidden, planes.to(hidden.dtype)], dim=1) if copy.board_model else hidden


def inference_predict(copy: nn.Module, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`MuZeroNetwork.predict` of a folded copy."""
    out = inference_blocks(copy.prediction_blocks, copy.latent(hidden))
    return copy.policy_head(out), copy.value_head(out)


class InferenceCache:
    """The search copy of one source network in one mode, rebuilt when the source's weights change."""

    def __init__(self, mode: str) -> None:
        if mode not in DTYPES:
            raise ValueError(f"an inference copy is fp32 or bf16, got {mode!r}")
        self.mode = mode
        self.dtype = DTYPES[mode]
        self.copy: nn.Module | None = None
        self.builds = 0
        self._fingerprint: tuple | None = None
        self._tensors: list[torch.Tensor] = []

    def get(self, network: nn.Module, relist: bool = True) -> nn.Module:
        """The up-to-date copy of ``network``.

        The fingerprint is the storage address and version counter of every parameter and
        buffer. Listing them walks the module tree (~0.3 ms), so ``relist=False`` (each
        simulation's ``recurrent``) reuses the list made by the last ``initial`` (once per
        search) and only re-reads addresses and versions (~25 us).
        """
        if relist or not self._tensors:
            self._tensors = [*network.parameters(), *network.buffers()]
        fingerprint = (tuple(tensor.data_ptr() for tensor in self._tensors),
                       sum(tensor._version for tensor in self._tensors))
        if self.copy is None or fingerprint != self._fingerprint:
            self.copy = build_inference_copy(network, self.mode)
            self._fingerprint = fingerprint
            self.builds += 1
        return self.copy

    def initial(self, network: nn.Module, planes: torch.Tensor):
        """`MuZeroNetwork.initial` through the copy: hidden in the copy's dtype, the rest float32."""
        copy = self.get(network)
        hidden = inference_represent(copy, planes.to(self.dtype))
        logits, raw_value = inference_predict(copy, hidden)
        return hidden, logits.float(), copy.value_to_scalar(raw_value.float())

    def predict_actions(self, network: nn.Module, hidden: torch.Tensor):
        """`MuZeroNetwork.predict_actions` through the copy (float32 logits)."""
        copy = self.get(network, relist=False)
        legal, ends = copy.action_heads(hidden.to(self.dtype))
        return legal.float(), ends.float()

    def position_ends(self, network: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        """`MuZeroNetwork.position_ends` through the copy (float32 logits)."""
        copy = self.get(network, relist=False)
        return copy.board_ends(hidden.to(self.dtype)[:, copy.config.channels:]).float()

    def recurrent(self, network: nn.Module, hidden: torch.Tensor, actions: torch.Tensor):
        """`MuZeroNetwork.recurrent` through the copy: next hidden in the copy's dtype, the rest float32."""
        copy = self.get(network, relist=False)
        next_hidden, raw_reward = inference_dynamics(copy, hidden.to(self.dtype), actions, network.snap_planes)
        logits, raw_value = inference_predict(copy, next_hidden)
        return (next_hidden, copy.reward_to_scalar(raw_reward.float()), logits.float(),
                copy.value_to_scalar(raw_value.float()))
