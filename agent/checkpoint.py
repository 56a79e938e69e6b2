"""Checkpoint files: atomic writes, loads that never execute code, one-line errors.

The format (docs/architecture.md) is a ``torch.save`` of plain containers and tensors::

    {"format_version": 1, "game": str, "game_options": dict, "observation_shape": [C, H, W],
     "num_actions": int, "network_config": dict, "config": dict, "step": int,
     "model": state_dict, "optimizer": state_dict | None, "extra": dict}

Loading goes through ``torch.load(weights_only=True)``, whose unpickler only rebuilds
tensors and plain containers, so a crafted file cannot run code. Every file written since
checksums were added also holds ``"checksum"``: a SHA-256 over all the other fields, tensors
byte for byte, verified at load, so a file damaged in a way the unpickler does not notice (a
flipped byte inside a weight) is refused instead of played; any weight that is NaN or
infinite is refused too, checksum or not. Any problem (missing,
truncated, unsafe, damaged, another game, wrong shapes, unknown version) becomes a `CheckpointError`,
a `UsageError`, so every command prints one line and exits 2. Writes go to a temporary
file in the same folder, are fsynced and then renamed over the target, so a reader never
sees half a file even if the writer dies.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.errors import UsageError

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "game", "game_options", "observation_shape", "num_actions",
                 "network_config", "config", "step", "model", "optimizer", "extra")
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
# extras that only serve `ponder train --resume` (the trainer's RNG states); an exported agent drops them
NUMPY_RNG_EXTRA, TORCH_RNG_EXTRA = "numpy_rng", "torch_rng"
RESUME_ONLY_EXTRAS = frozenset({NUMPY_RNG_EXTRA, TORCH_RNG_EXTRA})


class CheckpointError(UsageError):
    """A checkpoint that cannot be used; the message is one line naming the file."""


class NetworkOutputError(CheckpointError):
    """The network answered NaN or infinity: its weights are damaged or diverged. One line,
    like every unusable checkpoint (`CheckpointError`), never a search over garbage."""


def check_finite_outputs(*arrays: Any) -> None:
    """NetworkOutputError unless every array is finite (the network's logits, values, rewards)."""
    for array in arrays:
        if not _all_finite(array):
            raise NetworkOutputError("the network's output holds NaN or infinite values: its checkpoint is "
                                     "damaged or its training diverged")


def _all_finite(array) -> bool:
    import numpy as np

    return bool(np.isfinite(array).all())


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint file (see the module docstring for the fields)."""

    path: Path
    game: str
    game_options: dict
    observation_shape: tuple[int, int, int]
    num_actions: int
    network_config: dict
    config: dict
    step: int
    model: dict          # state_dict: name -> tensor
    optimizer: dict | None
    extra: dict

    def build_network(self):
        """The `MuZeroNetwork` with these weights (eval mode); CheckpointError on a mismatch."""
        from agent.config import NetworkConfig
        from agent.networks import GameSpec, MuZeroNetwork

        try:
            network_config = NetworkConfig.from_dict(dict(self.network_config))
            network = MuZeroNetwork(GameSpec(self.observation_shape, self.num_actions), network_config)
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{self.path}: bad network config: {_one_line(error)}") from None
        try:
            network.load_state_dict(self.model)
        except (RuntimeError, KeyError, TypeError) as error:
            raise CheckpointError(f"{self.path}: weights do not fit the network "
                                  f"({_one_line(error)})") from None
        return network.eval()


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder -> its ``checkpoints/latest.pt``; CheckpointError if absent."""
    path = Path(path).expanduser()
    if path.is_dir():
        latest = path / "checkpoints" / "latest.pt"
        if not latest.is_file():
            raise CheckpointError(f"{path} is a folder without checkpoints/latest.pt")
        return latest
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    return path


def pretrained_path(game_name: str) -> Path | None:
    """The shipped checkpoint of a game (``agent/pretrained/<game>.pt``), or None if there is none."""
    candidate = PRETRAINED_DIR / f"{game_name}.pt"
    return candidate if candidate.is_file() else None


def make_payload(network, game, *, config: dict | None = None, step: int = 0,
                 optimizer_state: dict | None = None, extra: dict | None = None) -> dict[str, Any]:
    """The checkpoint dict of a network (and optionally an optimizer state) for ``game``."""
    return {
        "format_version": FORMAT_VERSION,
        "game": game.name,
        "game_options": dict(getattr(game, "options", {}) or {}),
        "observation_shape": [int(size) for size in network.spec.observation_shape],
        "num_actions": int(network.spec.num_actions),
        "network_config": network.config.to_dict(),
        "config": dict(config or {}),
        "step": int(step),
        "model": {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()},
        "optimizer": optimizer_state,
        "extra": dict(extra or {}),
    }


CHECKSUM_KEY = "checksum"


def _feed(digest, value: Any) -> None:
    """Feed ``value`` (plain containers, scalars, tensors) to ``digest`` in a canonical order."""
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{list(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"S{type(value).__name__}:{value!r}".encode())


def payload_checksum(payload: dict[str, Any]) -> str:
    """SHA-256 (hex) of every field of a checkpoint payload but the checksum itself."""
    import hashlib

    digest = hashlib.sha256()
    _feed(digest, {key: value for key, value in payload.items() if key != CHECKSUM_KEY})
    return digest.hexdigest()


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically to ``path`` (parents created), with its checksum; returns the path."""
    import torch

    missing = [key for key in REQUIRED_KEYS if key not in payload and key != "format_version"]
    if missing:
        raise ValueError(f"checkpoint payload lacks {', '.join(missing)}")
    payload = {"format_version": FORMAT_VERSION, **payload}
    payload[CHECKSUM_KEY] = payload_checksum(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:
        pass
    return path


def _game_matches(checkpoint: Checkpoint, expect_game) -> str | None:
    """None if ``checkpoint`` fits ``expect_game`` (a Game or a name), else why not."""
    if isinstance(expect_game, str):
        return None if checkpoint.game == expect_game else f"is for {checkpoint.game}, not {expect_game}"
    if checkpoint.game != expect_game.name:
        return f"is for {checkpoint.game}, not {expect_game.name}"
    if tuple(expect_game.observation_shape) != checkpoint.observation_shape:
        return (f"has observation shape {list(checkpoint.observation_shape)}, "
                f"the game has {list(expect_game.observation_shape)}")
    if int(expect_game.num_actions) != checkpoint.num_actions:
        return f"has {checkpoint.num_actions} actions, the game has {expect_game.num_actions}"
    options = dict(getattr(expect_game, "options", {}) or {})
    if options != checkpoint.game_options:
        return f"is for {checkpoint.game} with options {checkpoint.game_options}, not {options}"
    return None


def _check_finite(file: Path, model: dict) -> None:
    """CheckpointError naming the first weight with a NaN or infinite entry (a damaged or
    diverged network is never played)."""
    import torch

    for name, tensor in model.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{file}: weight {name!r} is not a tensor")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{file}: weight {name!r} holds NaN or infinite values")


def load_checkpoint(path: str | os.PathLike, expect_game=None) -> Checkpoint:
    """Load a checkpoint file or run folder safely; CheckpointError (one line) on any problem.

    ``expect_game`` (a `Game` or a game name) makes a checkpoint of another game, option set
    or shape an error.
    """
    import pickle

    import torch

    file = resolve_checkpoint_path(path)
    try:
        with warnings.catch_warnings():  # odd pickle protocols warn before we refuse them
            warnings.simplefilter("ignore")
            payload = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(f"{file}: refused: the file holds objects other than tensors and "
                                  f"plain containers (it could run code when loaded)") from None
        raise CheckpointError(f"{file}: not a readable checkpoint ({_one_line(error)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, MemoryError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{file}: truncated or corrupt checkpoint ({_one_line(error)})") from None
    return _validate(file, payload, expect_game)


def _validate(file: Path, payload: Any, expect_game) -> Checkpoint:
    if not isinstance(payload, dict):
        raise CheckpointError(f"{file}: not a ponder checkpoint (top level is {type(payload).__name__})")
    if "format_version" not in payload:
        raise CheckpointError(f"{file}: not a ponder checkpoint (no format_version)")
    version = payload["format_version"]
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{file}: unknown checkpoint format version {version!r} "
                              f"(this ponder reads version {FORMAT_VERSION})")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{file}: not a ponder checkpoint (missing {', '.join(missing)})")
    shape = payload["observation_shape"]
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(isinstance(size, int) and size > 0 for size in shape)):
        raise CheckpointError(f"{file}: bad observation_shape {shape!r}")
    if not isinstance(payload["num_actions"], int) or payload["num_actions"] < 1:
        raise CheckpointError(f"{file}: bad num_actions {payload['num_actions']!r}")
    for key in ("game_options", "network_config", "config", "model", "extra"):
        if not isinstance(payload[key], dict):
            raise CheckpointError(f"{file}: field {key} is not a dict")
    if not isinstance(payload["step"], int) or isinstance(payload["step"], bool):
        raise CheckpointError(f"{file}: bad step {payload['step']!r}")
    if not isinstance(payload["game"], str):
        raise CheckpointError(f"{file}: field game is not a string")
    if CHECKSUM_KEY in payload:
        try:
            intact = payload[CHECKSUM_KEY] == payload_checksum(payload)
        except (TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"{file}: damaged checkpoint ({_one_line(error)})") from None
        if not intact:
            raise CheckpointError(f"{file}: damaged checkpoint: its contents do not match its checksum")
    _check_finite(file, payload["model"])
    checkpoint = Checkpoint(
        path=file, game=payload["game"], game_options=payload["game_options"],
        observation_shape=tuple(shape), num_actions=payload["num_actions"],
        network_config=payload["network_config"], config=payload["config"],
        step=payload["step"], model=payload["model"], optimizer=payload["optimizer"],
        extra=payload["extra"])
    if expect_game is not None:
        problem = _game_matches(checkpoint, expect_game)
        if problem:
            raise CheckpointError(f"{file} {problem}")
    return checkpoint
