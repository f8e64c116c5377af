"""All metrics of one decoded sequence against its original, as configured.

``MetricSuite.evaluate(original, decoded, fps=...)`` takes uint8 RGB videos ``[T, H, W, 3]`` and
returns :class:`SequenceMetrics`: per-frame values (``psnr`` RGB dB, ``psnr_y`` luma dB,
``ms_ssim``, ``lpips``, ``dists``), their means over all frames, FVD over fixed windows, and
whole-video metrics (``cvvdp``: ColorVideoVDP in JOD at the video's frame rate).
Frame metrics run in batches of ``batch_size`` frames on ``device`` (GPU when asked for).

Names a config may list: ``psnr`` (adds ``psnr_y``), ``ms_ssim``, ``lpips``, ``dists``, ``fvd``,
``cvvdp``. Networks are built on first use. A missing weights file raises
:class:`~dynamics_codec.errors.MissingWeightsError` unless ``allow_missing`` is set; then the
metric is left out and ``skipped`` says why. ``allow_missing`` never leaves a result without a
perceptual axis: when it skips every requested perceptual metric (LPIPS, DISTS, FVD need
downloaded weights), ``cvvdp`` (which ships with its package) is computed instead and
``added`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from dynamics_codec.errors import ConfigError, InputError, MissingWeightsError
from dynamics_codec.metrics.fvd import FvdResult, I3DFeatureExtractor, fvd_from_features, fvd_windows
from dynamics_codec.metrics.msssim import ms_ssim
from dynamics_codec.metrics.perceptual import DistsMetric, LpipsMetric
from dynamics_codec.metrics.psnr import psnr_per_frame, psnr_y

__all__ = ["METRIC_NAMES", "PERCEPTUAL_METRICS", "FALLBACK_PERCEPTUAL", "PSNR_CAP_DB", "SequenceMetrics",
           "MetricSuite"]

METRIC_NAMES: tuple[str, ...] = ("psnr", "ms_ssim", "lpips", "dists", "fvd", "cvvdp")
#: metrics of how a video looks rather than of its pixel error; a report keeps at least one
PERCEPTUAL_METRICS: tuple[str, ...] = ("lpips", "dists", "fvd", "cvvdp")
#: the perceptual metric that needs no downloaded weights (added when allow_missing skips the others)
FALLBACK_PERCEPTUAL = "cvvdp"
#: a frame decoded without error has infinite PSNR; means use this value for it (VTM prints 999.99)
PSNR_CAP_DB = 100.0


@dataclass
class SequenceMetrics:
    """Metrics of one decoded sequence. ``per_frame[name]`` is float64 ``[T]``; ``mean[name]`` its mean;
    ``video[name]`` a whole-video metric (``cvvdp``)."""

    per_frame: dict[str, np.ndarray] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    fvd: FvdResult | None = None
    video: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> why it was not computed
    added: dict[str, str] = field(default_factory=dict)  # metric -> why it was computed without being asked for

    def summary(self) -> dict[str, float | None]:
        """One number per metric (frame means, FVD value, whole-video values); ``None`` where undefined."""
        out: dict[str, float | None] = {k: (v if math.isfinite(v) else None) for k, v in self.mean.items()}
        if self.fvd is not None:
            out["fvd"] = self.fvd.value if math.isfinite(self.fvd.value) else None
        out.update({k: (v if math.isfinite(v) else None) for k, v in self.video.items()})
        return out


def _frames_to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 ``[t, H, W, 3]`` -> float32 ``[t, 3, H, W]`` in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


class MetricSuite:
    """The configured metrics, with their networks built lazily and shared across sequences.

    Args:
        names: metrics to compute (subset of :data:`METRIC_NAMES`).
        device: where networks and batches live.
        batch_size: frames per batch for the frame metrics.
        allow_missing: skip (and report) metrics whose weights are missing instead of raising.
        factories: ``name -> () -> module`` building ``lpips`` / ``dists`` (``(x, y) -> [B]``) and
            ``fvd`` (an :class:`I3DFeatureExtractor`), ``cvvdp`` (``(reference, test, fps) -> JOD``; default:
            :class:`~dynamics_codec.metrics.cvvdp.CvvdpMetric` on the ``standard_fhd`` display); defaults come
            from :meth:`from_config`.
        fvd_window / fvd_stride: the FVD windowing (see :mod:`dynamics_codec.metrics.fvd`).
        progress: show progress bars.
    """

    def __init__(self, names: Iterable[str], *, device: str | torch.device = "cpu", batch_size: int = 8,
                 allow_missing: bool = False, factories: Mapping[str, Callable[[], Any]] | None = None,
                 fvd_window: int = 16, fvd_stride: int | None = None, keep_fvd_features: bool = True,
                 progress: bool = True) -> None:
        self.names = list(dict.fromkeys(names))
        unknown = [n for n in self.names if n not in METRIC_NAMES]
        if unknown:
            raise ConfigError(f"unknown metric(s) {unknown}; choose from {list(METRIC_NAMES)}")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.allow_missing = bool(allow_missing)
        self.factories = dict(factories or {})
        self.factories.setdefault("cvvdp", lambda: _cvvdp("standard_fhd", self.device))
        self.fvd_window = int(fvd_window)
        self.fvd_stride = int(fvd_stride) if fvd_stride else self.fvd_window
        self.keep_fvd_features = keep_fvd_features
        self.progress = progress
        self._modules: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.added: dict[str, str] = {}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, device: str | torch.device = "cpu",
                    progress: bool = True) -> "MetricSuite":
        """From the ``metrics`` section of ``configs/eval/default.yaml``."""
        get = cfg.get
        weights_dir = get("weights_dir")
        lpips_cfg, dists_cfg, fvd_cfg = get("lpips") or {}, get("dists") or {}, get("fvd") or {}
        cvvdp_cfg = get("cvvdp") or {}
        factories = {
            "cvvdp": lambda: _cvvdp(str(cvvdp_cfg.get("display", "standard_fhd")), device),
            "lpips": lambda: LpipsMetric(net=str(lpips_cfg.get("net", "alex")), weights_dir=weights_dir),
            "dists": lambda: DistsMetric(weights_dir=weights_dir, resize_to=dists_cfg.get("resize_to")),
            "fvd": lambda: I3DFeatureExtractor(path=fvd_cfg.get("i3d_path"), sha256=fvd_cfg.get("i3d_sha256"),
                                               batch_size=int(fvd_cfg.get("batch_size", 4))),
        }
        return cls(list(get("names")), device=device, batch_size=int(get("batch_size", 8)),
                   allow_missing=bool(get("allow_missing", False)), factories=factories,
                   fvd_window=int(fvd_cfg.get("window", 16)), fvd_stride=fvd_cfg.get("stride"), progress=progress)

    def module(self, name: str) -> Any | None:
        """The network of ``name`` (built once); ``None`` if skipped for missing weights."""
        if name in self.skipped:
            return None
        if name not in self._modules:
            if name not in self.factories:
                raise ConfigError(f"metric '{name}' has no network factory; build the suite with from_config")
            try:
                module = self.factories[name]()
            except MissingWeightsError as exc:
                if not self.allow_missing:
                    raise
                self.skipped[name] = str(exc)
                return None
            if isinstance(module, torch.nn.Module):
                module = module.to(self.device)
            self._modules[name] = module
        return self._modules[name]

    def describe(self) -> dict[str, Any]:
        """Settings and model files of every metric, for the result files."""
        out: dict[str, Any] = {"names": self.names, "device": str(self.device),
                               "fvd_window": self.fvd_window, "fvd_stride": self.fvd_stride,
                               "frame_mean": "mean over all frames (key frame included)",
                               "psnr": f"per-frame PSNR, mean in dB; identical frames count as {PSNR_CAP_DB} dB"}
        for name, module in self._modules.items():
            if hasattr(module, "describe"):
                out[name] = module.describe()
        if self.skipped:
            out["skipped"] = dict(self.skipped)
        if self.added:
            out["added"] = dict(self.added)
        return out

    def _resolve(self) -> None:
        """Build the networks of the requested metrics; if ``allow_missing`` skipped every requested
        perceptual metric, add :data:`FALLBACK_PERCEPTUAL` (no weights to download)."""
        for name in self.names:
            if name in ("lpips", "dists", "fvd", "cvvdp"):
                self.module(name)
        asked = [n for n in self.names if n in PERCEPTUAL_METRICS]
        skipped = [n for n in asked if n in self.skipped]
        if skipped and len(skipped) == len(asked) and FALLBACK_PERCEPTUAL not in self.names:
            self.names.append(FALLBACK_PERCEPTUAL)
            self.added[FALLBACK_PERCEPTUAL] = (
                f"{', '.join(skipped)} skipped for missing weights (allow_missing); {FALLBACK_PERCEPTUAL} needs no "
                "download and keeps a perceptual axis in the report")
            if self.module(FALLBACK_PERCEPTUAL) is None:
                raise MissingWeightsError(f"no perceptual metric can be computed: {self.skipped}")

    def evaluate(self, original: np.ndarray, decoded: np.ndarray, fps: float | None = None) -> SequenceMetrics:
        """Metrics of uint8 ``decoded`` ``[T, H, W, 3]`` against ``original`` of the same shape
        (``fps``: the frame rate, needed by the whole-video metric ``cvvdp``)."""
        if original.shape != decoded.shape or original.dtype != np.uint8 or decoded.dtype != np.uint8 \
                or original.ndim != 4 or original.shape[-1] != 3:
            raise InputError(f"metrics need two uint8 [T,H,W,3] videos of equal shape, found "
                             f"{original.dtype} {original.shape} and {decoded.dtype} {decoded.shape}")
        self._resolve()
        result = SequenceMetrics()
        if "psnr" in self.names:
            result.per_frame["psnr"] = psnr_per_frame(original, decoded)
            result.per_frame["psnr_y"] = np.asarray(psnr_y(original, decoded), np.float64)
        frame_nets = {n: self.module(n) for n in ("lpips", "dists") if n in self.names}
        frame_nets = {n: m for n, m in frame_nets.items() if m is not None}
        want_msssim = "ms_ssim" in self.names
        if frame_nets or want_msssim:
            values: dict[str, list[np.ndarray]] = {n: [] for n in [*frame_nets, *(["ms_ssim"] if want_msssim else [])]}
            starts = range(0, original.shape[0], self.batch_size)
            for s in tqdm(starts, desc="frame metrics", unit="batch", leave=False, disable=not self.progress):
                x = _frames_to_tensor(original[s:s + self.batch_size], self.device)
                y = _frames_to_tensor(decoded[s:s + self.batch_size], self.device)
                if want_msssim:
                    values["ms_ssim"].append(ms_ssim(x, y).cpu().numpy())
                for name, net in frame_nets.items():
                    values[name].append(net(x, y).double().cpu().numpy())
            for name, chunks in values.items():
                result.per_frame[name] = np.concatenate(chunks).astype(np.float64)
        for name, per_frame in result.per_frame.items():
            capped = np.minimum(per_frame, PSNR_CAP_DB) if name.startswith("psnr") else per_frame
            result.mean[name] = float(np.mean(capped))
        if "fvd" in self.names:
            result.fvd = self._fvd(original, decoded)
        if "cvvdp" in self.names and (net := self.module("cvvdp")) is not None:
            result.video["cvvdp"] = net(original, decoded, fps)
        result.skipped = dict(self.skipped)
        result.added = dict(self.added)
        return result

    def _fvd(self, original: np.ndarray, decoded: np.ndarray) -> FvdResult | None:
        windows = fvd_windows(original.shape[0], self.fvd_window, self.fvd_stride)
        extractor = self.module("fvd")
        if extractor is None:
            return None
        feats = []
        for video in (original, decoded):
            clips = [_frames_to_tensor(video[a:b], self.device) for a, b in windows]
            if clips:
                feats.append(extractor(torch.stack(clips)))
            else:
                feats.append(np.zeros((0, 0)))
        real, fake = feats
        return FvdResult(value=fvd_from_features(real, fake), num_windows=len(windows), window=self.fvd_window,
                         stride=self.fvd_stride, feature_dim=int(real.shape[1]) if real.size else 0,
                         real_features=real if self.keep_fvd_features else None,
                         fake_features=fake if self.keep_fvd_features else None)


def _cvvdp(display: str, device: str | torch.device):
    from dynamics_codec.metrics.cvvdp import CvvdpMetric

    return CvvdpMetric(display=display, device=device)
