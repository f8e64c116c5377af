"""Training checkpoints: model weights + optimizer / scheduler / scaler / RNG state, no pickle.

A checkpoint is a folder::

    model.safetensors, config.json     the motion model (what encode.py / decode.py load)
    train_state.safetensors            every tensor of the optimizer state, the RNG states
    train_state.json                   everything else: step, epoch, position in the epoch,
                                       optimizer param groups, scheduler and scaler state

written to a temporary folder and renamed, so a crash mid-write leaves the previous
checkpoint intact. Nothing is unpickled when loading.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from dynamics_codec.errors import MissingWeightsError
from dynamics_codec.motion_model import MotionModel
from dynamics_codec.utils.files import atomic_output_path

STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


def _split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors in a nested dict/list by {"__tensor__": name}; collect them."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_split_tensors(k, f"{prefix}.k{i}", tensors), _split_tensors(v, f"{prefix}.{i}", tensors)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "__tuple__": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a training checkpoint (at {prefix})")


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_join_tensors(k, tensors): _join_tensors(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join_tensors(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("__tuple__") else items
    return obj


def save_training_checkpoint(folder: str | os.PathLike, model: MotionModel, state: dict[str, Any], info: dict | None = None) -> Path:
    """Write model + training ``state`` (nested dicts of tensors and plain values) atomically."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    structure = _split_tensors(state, "s", tensors)
    with atomic_output_path(folder, suffix="") as tmp:
        tmp.mkdir()
        model.save(tmp, info=info)
        save_file(tensors, str(tmp / STATE_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps(structure) + "\n")
    return folder


def load_training_state(folder: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    folder = Path(folder)
    missing = [n for n in (STATE_TENSORS, STATE_JSON) if not (folder / n).is_file()]
    if missing:
        raise MissingWeightsError(f"{folder} is not a training checkpoint (missing {missing}); "
                                  "resume=<folder written by scripts/train.py, e.g. <run>/checkpoints/last>")
    tensors = load_file(str(folder / STATE_TENSORS), device=map_location)
    return _join_tensors(json.loads((folder / STATE_JSON).read_text()), tensors)


def copy_checkpoint(src: Path, dst: Path) -> None:
    """Copy a checkpoint folder atomically (e.g. last -> best)."""
    with atomic_output_path(dst, suffix="") as tmp:
        shutil.copytree(src, tmp)
