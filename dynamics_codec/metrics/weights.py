"""Finding pretrained metric weights on disk, never downloading them.

Every metric network (LPIPS, DISTS, the FVD I3D) needs a file that libraries would normally
fetch on first use. Here nothing is fetched: :func:`find_weights_file` looks in the folders it
is given (the configured ``metrics.weights_dir`` first, then torch hub's checkpoint folder,
where ``torchvision`` leaves its downloads on a connected machine) and raises
:class:`~dynamics_codec.errors.MissingWeightsError` naming the file, where it looked, where it
comes from and where to put it.

:func:`load_features_into_slices` copies a torchvision ``features`` state dict (AlexNet, VGG16)
into the ``slice1..sliceN`` / ``stage1..stageN`` containers that ``lpips`` and ``DISTS_pytorch``
build from the same layers (the layer index is kept as the sub-module name).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import torch

from dynamics_codec.errors import MissingWeightsError

__all__ = ["WeightsFile", "TORCHVISION_WEIGHTS", "torch_hub_checkpoint_dir", "find_weights_file",
           "load_torch_state_dict", "load_features_into_slices"]


@dataclass(frozen=True)
class WeightsFile:
    """A pretrained file: its name on disk, what uses it and where it is published."""

    filename: str
    used_by: str
    url: str


TORCHVISION_WEIGHTS: dict[str, WeightsFile] = {
    "alex": WeightsFile("alexnet-owt-7be5be79.pth", "LPIPS (AlexNet backbone)",
                        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg": WeightsFile("vgg16-397923af.pth", "DISTS and LPIPS-vgg (VGG16 backbone)",
                       "https://download.pytorch.org/models/vgg16-397923af.pth"),
}


def torch_hub_checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), computed without side effects."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def find_weights_file(spec: WeightsFile, folders: Iterable[str | os.PathLike | None], *,
                      explicit: str | os.PathLike | None = None, config_key: str = "metrics.weights_dir") -> Path:
    """The path of ``spec.filename`` in the first folder holding it (or ``explicit`` if given and present).

    Raises :class:`MissingWeightsError` listing every place looked at and how to fix it.
    """
    looked: list[Path] = []
    if explicit:
        candidate = Path(explicit).expanduser()
        if candidate.is_file():
            return candidate
        looked.append(candidate)
    for folder in folders:
        if not folder:
            continue
        candidate = Path(folder).expanduser() / spec.filename
        if candidate.is_file():
            return candidate
        looked.append(candidate)
    target = looked[0].parent if looked else Path("<weights_dir>")
    where = "\n  ".join(str(p) for p in looked) or "(no folder configured)"
    raise MissingWeightsError(
        f"{spec.used_by} needs the pretrained file '{spec.filename}', which is not on this machine "
        f"(nothing is downloaded automatically). Looked at:\n  {where}\n"
        f"Download it from {spec.url} and put it in {target} (or set {config_key}=<folder holding it>); "
        "or pass metrics.allow_missing=true to skip this metric and compute the others."
    )


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A third-party ``.pth`` state dict, loaded safely (``weights_only=True``) onto the CPU."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise MissingWeightsError(f"{path} does not hold a state dict (found {type(state).__name__}); "
                                  "replace it with the original file")
    return dict(state)


def load_features_into_slices(container: torch.nn.Module, state_dict: Mapping[str, torch.Tensor],
                              prefix: str = "features.") -> int:
    """Copy ``features.<i>.<param>`` tensors into the sub-module named ``<i>`` of any child Sequential.

    Returns the number of tensors copied; raises :class:`MissingWeightsError` if a layer of the
    container that has parameters finds none in the state dict (a wrong or truncated file).
    """
    copied = 0
    for _, block in container.named_children():
        for index, layer in block.named_children():
            params = dict(layer.named_parameters(recurse=False))
            if not params:
                continue
            for pname, param in params.items():
                key = f"{prefix}{index}.{pname}"
                if key not in state_dict:
                    raise MissingWeightsError(f"the backbone weights have no '{key}' for layer {index} "
                                              f"({type(layer).__name__}); the file is not the expected torchvision "
                                              "checkpoint")
                src = state_dict[key]
                if src.shape != param.shape:
                    raise MissingWeightsError(f"backbone tensor '{key}' has shape {tuple(src.shape)}, the network "
                                              f"expects {tuple(param.shape)}; the file is for another architecture")
                with torch.no_grad():
                    param.copy_(src)
                copied += 1
    return copied
