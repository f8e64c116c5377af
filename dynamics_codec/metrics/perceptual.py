"""LPIPS and DISTS per frame, built without any download.

Both take float RGB ``[B, 3, H, W]`` in [0, 1] on any device and return ``[B]`` distances
(0 for identical images, larger is worse).

* :class:`LpipsMetric`: the ``lpips`` package (v0.1 linear heads, shipped inside the package),
  AlexNet by default or VGG16; the ImageNet backbone comes from torchvision's checkpoint file
  (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``), found on disk by
  :func:`~dynamics_codec.metrics.weights.find_weights_file` or injected as a state dict.
* :class:`DistsMetric`: ``DISTS_pytorch`` (its ``alpha``/``beta`` from the ``weights.pt`` it ships)
  on the torchvision VGG16 backbone, found or injected the same way. Computed at the frames'
  resolution unless ``resize_to`` asks for a shorter side (the DISTS demo uses 256).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import types
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.metrics.weights import (
    TORCHVISION_WEIGHTS,
    WeightsFile,
    find_weights_file,
    load_features_into_slices,
    load_torch_state_dict,
    torch_hub_checkpoint_dir,
)

__all__ = ["LpipsMetric", "DistsMetric", "check_image_batch", "vgg16_features_only"]

_BUILD_LOCK = threading.Lock()


def check_image_batch(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    """Both ``[B, 3, H, W]`` floating tensors of equal shape."""
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise InputError(f"{what} needs two float [B,3,H,W] batches in [0,1] of equal shape, got "
                         f"{tuple(x.shape)} {x.dtype} and {tuple(y.shape)} {y.dtype}")


def _weights_folders(weights_dir: str | os.PathLike | None) -> list[Path | None]:
    return [Path(weights_dir) if weights_dir else None, torch_hub_checkpoint_dir()]


class LpipsMetric(torch.nn.Module):
    """LPIPS v0.1 distance (``net`` = ``"alex"`` or ``"vgg"``).

    Args:
        net: backbone, ``"alex"`` (the usual choice, default) or ``"vgg"``.
        weights_dir: folder holding the torchvision backbone file (also searched: torch hub's
            checkpoint folder). Ignored when ``backbone_state_dict`` is given.
        backbone_state_dict: torchvision ``alexnet()`` / ``vgg16()`` state dict to use instead of
            the file (tests inject random weights this way).
        lin_state_dict: LPIPS linear-head weights instead of the ones the ``lpips`` package ships.
    """

    name = "lpips"

    def __init__(self, net: str = "alex", weights_dir: str | os.PathLike | None = None,
                 backbone_state_dict: Mapping[str, torch.Tensor] | None = None,
                 lin_state_dict: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        if net not in TORCHVISION_WEIGHTS:
            raise ConfigError(f"LPIPS net must be one of {sorted(TORCHVISION_WEIGHTS)}, found {net!r}")
        import lpips

        self.net_name = net
        self.backbone_file: str | None = None
        if backbone_state_dict is None:
            path = find_weights_file(TORCHVISION_WEIGHTS[net], _weights_folders(weights_dir))
            backbone_state_dict = load_torch_state_dict(path)
            self.backbone_file = str(path)
        if lin_state_dict is None:
            spec = WeightsFile(f"{net}.pth", f"LPIPS ({net} linear heads)",
                               "the lpips package (pip install lpips): lpips/weights/v0.1/")
            lin_path = find_weights_file(spec, [Path(lpips.__file__).parent / "weights" / "v0.1"])
            lin_state_dict = load_torch_state_dict(lin_path)
        with _BUILD_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation notice
            # pretrained=False: no file is read by lpips itself; pnet_rand=True: torchvision builds an
            # uninitialised backbone instead of downloading one. Both are filled in below.
            self.model = lpips.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False, eval_mode=True)
        load_features_into_slices(self.model.net, backbone_state_dict)
        missing, unexpected = self.model.load_state_dict(dict(lin_state_dict), strict=False)
        missing_heads = [k for k in missing if k.startswith("lin") and not k.startswith("lins.")]  # lins.* alias lin*
        if unexpected or missing_heads:
            raise ConfigError(f"LPIPS linear heads do not match the {net} network: missing {missing_heads}, "
                              f"unexpected {unexpected}")
        self.model.requires_grad_(False).eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS of ``[B,3,H,W]`` pairs in [0, 1] -> ``[B]``."""
        check_image_batch(x, y, "LPIPS")
        return self.model(x.float(), y.float(), normalize=True).reshape(-1)

    def describe(self) -> dict[str, Any]:
        return {"net": self.net_name, "version": "0.1", "backbone_file": self.backbone_file}


class DistsMetric(torch.nn.Module):
    """DISTS distance (Ding et al. 2020) through ``DISTS_pytorch``.

    Args:
        weights_dir: folder holding ``vgg16-397923af.pth`` (also searched: torch hub's checkpoints).
        backbone_state_dict: torchvision ``vgg16()`` state dict to use instead of the file.
        alpha_beta: ``{"alpha": [1,1475,1,1], "beta": [1,1475,1,1]}`` instead of the package's ``weights.pt``.
        resize_to: if set, frames whose shorter side exceeds it are resized (bilinear, antialiased)
            to that shorter side first, as in the DISTS demo (256); ``None`` keeps the resolution.
    """

    name = "dists"

    def __init__(self, weights_dir: str | os.PathLike | None = None,
                 backbone_state_dict: Mapping[str, torch.Tensor] | None = None,
                 alpha_beta: Mapping[str, torch.Tensor] | None = None, resize_to: int | None = None) -> None:
        super().__init__()
        from DISTS_pytorch import DISTS_pt

        self.backbone_file: str | None = None
        if backbone_state_dict is None:
            path = find_weights_file(TORCHVISION_WEIGHTS["vgg"], _weights_folders(weights_dir))
            backbone_state_dict = load_torch_state_dict(path)
            self.backbone_file = str(path)
        if alpha_beta is None:
            spec = WeightsFile("weights.pt", "DISTS (alpha/beta)", "the DISTS_pytorch package (pip install DISTS_pytorch)")
            alpha_beta = load_torch_state_dict(find_weights_file(spec, [Path(DISTS_pt.__file__).parent, sys.prefix]))
        # DISTS() always asks torchvision for a *pretrained* VGG16 (a download); hand it an
        # uninitialised one instead, then copy the weights found above into it.
        no_download = types.SimpleNamespace(vgg16=lambda *args, **kwargs: vgg16_features_only())
        with _BUILD_LOCK, _swapped_attribute(DISTS_pt, "models", no_download):
            self.model = DISTS_pt.DISTS(load_weights=False)
        stages = torch.nn.Module()
        for i in range(1, 6):
            stages.add_module(f"stage{i}", getattr(self.model, f"stage{i}"))
        load_features_into_slices(stages, backbone_state_dict)
        for key in ("alpha", "beta"):
            if key not in alpha_beta or alpha_beta[key].shape != getattr(self.model, key).shape:
                raise ConfigError(f"DISTS {key} must have shape {tuple(getattr(self.model, key).shape)}, found "
                                  f"{tuple(alpha_beta[key].shape) if key in alpha_beta else 'nothing'}")
            getattr(self.model, key).data.copy_(alpha_beta[key])
        self.model.requires_grad_(False).eval()
        self.resize_to = int(resize_to) if resize_to else None

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.resize_to is None or min(h, w) <= self.resize_to:
            return x
        scale = self.resize_to / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """DISTS of ``[B,3,H,W]`` pairs in [0, 1] -> ``[B]``."""
        check_image_batch(x, y, "DISTS")
        return self.model(self._resize(x.float()), self._resize(y.float())).reshape(-1)

    def describe(self) -> dict[str, Any]:
        return {"backbone_file": self.backbone_file, "resize_to": self.resize_to}


def vgg16_features_only() -> types.SimpleNamespace:
    """An uninitialised torchvision VGG16 ``features`` stack (no classifier: 15x faster to build than vgg16())."""
    from torchvision.models.vgg import cfgs, make_layers

    return types.SimpleNamespace(features=make_layers(cfgs["D"], batch_norm=False))


@contextlib.contextmanager
def _swapped_attribute(obj: Any, name: str, value: Any):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)
