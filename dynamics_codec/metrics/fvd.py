"""Fréchet Video Distance with the I3D TorchScript model used by StyleGAN-V and later work.

The model file is ``i3d_torchscript.pt`` (the Kinetics-400 I3D that reproduces the TF-Hub FVD
network), given by path from the config; it is never downloaded here. It is called as
``model(videos, rescale=False, resize=False, return_features=True)`` on float32 videos
``[N, 3, T, 224, 224]`` in [-1, 1] and returns ``[N, 400]`` features (the logits layer before
the softmax). This module does the resizing (bilinear per frame, no antialiasing, as
``F.interpolate`` in the reference pipelines) and the scaling itself.

Windowing: a sequence of T frames is cut into fixed windows of ``window`` frames (16) every
``stride`` frames (default 16: non-overlapping); an incomplete tail is dropped. The same
windows of the original and of the decoded video give N feature vectors each; FVD is the
Fréchet distance between the two Gaussians fitted to them (mean, covariance with ddof=1),
computed in float64. With N < 2 windows the covariance and therefore FVD are undefined (NaN).

Trust: ``torch.jit.load`` runs the TorchScript program inside the file, so the file must be one
you trust. No official SHA-256 of ``i3d_torchscript.pt`` is published (StyleGAN-V downloads it
from a Dropbox link without a check) and this project cannot download it to record one, so the
file is *unchecked* by default: the extractor logs a warning and records the file's SHA-256 in
every result (``describe()``). Pin your trusted copy with ``metrics.fvd.i3d_sha256=<hex>``; a
different file is then refused before it is loaded.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from dynamics_codec.errors import InputError, MissingWeightsError
from dynamics_codec.metrics.weights import WeightsFile, find_weights_file
from dynamics_codec.utils.files import sha256_file

log = logging.getLogger(__name__)

__all__ = ["I3D_WEIGHTS", "I3D_INPUT_SIZE", "I3DFeatureExtractor", "FvdResult", "fvd_windows", "gaussian_stats",
           "frechet_distance", "fvd_from_features"]

I3D_WEIGHTS = WeightsFile("i3d_torchscript.pt", "FVD (I3D Kinetics-400 TorchScript)",
                          "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1 (StyleGAN-V's FVD detector)")
I3D_INPUT_SIZE = 224


def fvd_windows(num_frames: int, window: int = 16, stride: int | None = None) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of the fixed windows of a ``num_frames`` sequence."""
    stride = window if stride is None else int(stride)
    if window < 1 or stride < 1:
        raise InputError(f"FVD window and stride must be >= 1, found window={window}, stride={stride}")
    return [(s, s + window) for s in range(0, num_frames - window + 1, stride)]


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (ddof=1) in float64 of features ``[N, D]`` (N >= 2)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise InputError(f"Gaussian statistics need at least 2 feature vectors [N,D], found shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False, ddof=1)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})`` in float64.

    The trace of the matrix square root is taken as ``sum(sqrt(eig(S1^{1/2} S2 S1^{1/2})))``: the
    same eigenvalues as ``S1 S2`` but from a symmetric PSD matrix, so no complex round-off appears
    even for the rank-deficient covariances of a few windows.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise InputError(f"Fréchet distance needs means [D] and covariances [D,D] of one D, found {mu1.shape}, "
                         f"{mu2.shape}, {s1.shape}, {s2.shape}")
    root1 = _symmetric_sqrt(s1)
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def fvd_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FVD between two feature sets ``[N, D]`` (NaN when either has fewer than 2 vectors)."""
    if len(real) < 2 or len(fake) < 2:
        return math.nan
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


@dataclass
class FvdResult:
    """FVD of one decoded sequence against its original, with the windowing that produced it."""

    value: float  # NaN when fewer than 2 windows fit
    num_windows: int  # N feature vectors per side
    window: int
    stride: int
    feature_dim: int
    real_features: np.ndarray | None = None  # float64 [N, D], kept for pooled (dataset-level) FVD
    fake_features: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("real_features"), d.pop("fake_features")
        d["value"] = None if not math.isfinite(self.value) else self.value
        d["windowing"] = f"{self.num_windows} windows of {self.window} frames every {self.stride} frames"
        return d


class I3DFeatureExtractor(torch.nn.Module):
    """Videos ``[N, T, 3, H, W]`` in [0, 1] -> I3D features ``[N, 400]`` (float64, on the CPU).

    Args:
        path: the TorchScript file (``i3d_torchscript.pt``); :class:`MissingWeightsError` if absent.
        model: an already loaded module with the same call signature (tests pass a tiny stand-in).
        batch_size: windows per forward pass.
        sha256: the expected SHA-256 (hex) of the file; a different file is refused before
            ``torch.jit.load`` runs it. ``None``: unchecked (logged; see the module docstring).
    """

    def __init__(self, path: str | os.PathLike | None = None, model: Callable | None = None,
                 batch_size: int = 4, sha256: str | None = None) -> None:
        super().__init__()
        self.path: str | None = None
        self.sha256: str | None = None
        if model is None:
            if not path:
                raise MissingWeightsError(
                    f"FVD needs {I3D_WEIGHTS.filename}; set metrics.fvd.i3d_path=<file> (download: {I3D_WEIGHTS.url}) "
                    "or pass metrics.allow_missing=true to skip FVD")
            file = find_weights_file(I3D_WEIGHTS, [], explicit=path, config_key="metrics.fvd.i3d_path")
            self.sha256 = sha256_file(file)
            if sha256 is None:
                log.warning(f"FVD: loading {file} (sha256 {self.sha256}) with torch.jit.load unchecked: a TorchScript "
                            "file runs code, use a copy you trust and pin it with metrics.fvd.i3d_sha256=<hex>")
            elif self.sha256 != str(sha256).lower():
                raise MissingWeightsError(
                    f"{file} has sha256 {self.sha256}, but metrics.fvd.i3d_sha256 expects {sha256}: a different or "
                    f"damaged file, not loaded; get the right {I3D_WEIGHTS.filename} ({I3D_WEIGHTS.url}) or fix "
                    "metrics.fvd.i3d_sha256")
            model = torch.jit.load(str(file), map_location="cpu")
            self.path = str(file)
        self.model = model
        self.batch_size = int(batch_size)

    @staticmethod
    def preprocess(videos: torch.Tensor) -> torch.Tensor:
        """``[N, T, 3, H, W]`` in [0, 1] -> ``[N, 3, T, 224, 224]`` in [-1, 1]."""
        n, t = videos.shape[:2]
        frames = videos.reshape(n * t, *videos.shape[2:]).float()
        if frames.shape[-2:] != (I3D_INPUT_SIZE, I3D_INPUT_SIZE):
            frames = F.interpolate(frames, size=(I3D_INPUT_SIZE, I3D_INPUT_SIZE), mode="bilinear", align_corners=False)
        frames = frames.clamp(0, 1) * 2.0 - 1.0
        return frames.reshape(n, t, 3, I3D_INPUT_SIZE, I3D_INPUT_SIZE).permute(0, 2, 1, 3, 4).contiguous()

    @torch.no_grad()
    def forward(self, videos: torch.Tensor) -> np.ndarray:
        if videos.ndim != 5 or videos.shape[2] != 3:
            raise InputError(f"I3D features need videos [N,T,3,H,W] in [0,1], found {tuple(videos.shape)}")
        out = []
        for s in range(0, videos.shape[0], self.batch_size):
            x = self.preprocess(videos[s:s + self.batch_size])
            feats = self.model(x, rescale=False, resize=False, return_features=True)
            out.append(feats.detach().double().cpu().numpy())
        return np.concatenate(out, axis=0)

    def describe(self) -> dict[str, Any]:
        return {"model_file": self.path, "model_sha256": self.sha256,
                "input": f"[N,3,T,{I3D_INPUT_SIZE},{I3D_INPUT_SIZE}] in [-1,1]"}
