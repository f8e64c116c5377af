"""Locating and loading the published Unimatch checkpoint.

The flow backend uses ``gmflow-scale2-regrefine6-mixdata-train320x576-4e7b215d.pth`` (7.4M
parameters), listed in the Unimatch repository's MODEL_ZOO.md
(https://github.com/autonomousvision/unimatch/blob/master/MODEL_ZOO.md) and downloadable from
:data:`CHECKPOINT_URL`. The file is a ``torch.save`` dict holding the model's state dict under
key ``"model"``; it is read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from dynamics_codec.errors import ConfigError, MissingWeightsError

CHECKPOINT_FILENAME = "gmflow-scale2-regrefine6-mixdata-train320x576-4e7b215d.pth"
CHECKPOINT_URL = "https://s3.eu-central-1.amazonaws.com/avg-projects/unimatch/pretrained/" + CHECKPOINT_FILENAME
CHECKPOINT_KEY = "model"


def load_unimatch_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a Unimatch checkpoint file and return its model state dict (tensors on CPU).

    Accepts the published layout (``{"model": state_dict, ...}``) or a bare state dict.

    Raises:
        MissingWeightsError: the file does not exist.
        ConfigError: the file holds no state dict.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingWeightsError(
            f"Unimatch checkpoint not found: expected the file {file.name!r} at {file.resolve()} "
            f"(looked there, nothing found). Download {CHECKPOINT_FILENAME} from {CHECKPOINT_URL} "
            f"and put it where the configuration points; see third_party/README.md."
        )
    payload = torch.load(file, map_location="cpu", weights_only=True)
    state = payload.get(CHECKPOINT_KEY, payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(
            f"{file} is not a Unimatch checkpoint: expected a dict with the state dict under key "
            f"{CHECKPOINT_KEY!r} (or a bare state dict of tensors); found {type(payload).__name__}"
            + (f" with keys {sorted(payload)[:8]}" if isinstance(payload, Mapping) else "")
            + f". Use the published {CHECKPOINT_FILENAME}."
        )
    return dict(state)


def load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
    """``model.load_state_dict(strict=True)`` with a readable ConfigError on a name/shape mismatch."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [
        f"{k}: {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        raise ConfigError(
            f"{source} does not match the Unimatch gmflow-scale2-regrefine6 structure: "
            f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), "
            f"wrong shapes {wrong_shape[:5]} ({len(wrong_shape)}). Expected {CHECKPOINT_FILENAME} "
            f"(see third_party/README.md)."
        )
    model.load_state_dict(state_dict, strict=True)
