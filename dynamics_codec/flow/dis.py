"""OpenCV DIS optical flow: the weightless default backend.

DIS (Kroeger et al., ECCV 2016) through ``cv2.DISOpticalFlow``. ``calc(key, frame)`` returns
the flow that maps key-frame pixels to their position in the frame (``frame(p + F(p)) ~=
key(p)``), i.e. exactly this project's key -> frame convention, so no inversion is needed.
DIS works on 8-bit grey images; colour frames are converted with OpenCV's BT.601 luma.

OpenCV computes one image pair per call, largely on one core; the pairs of a batch are
independent, so they are spread over ``workers`` threads (OpenCV releases the GIL), each with its
own DIS object. The flow is the same as computed one pair after another.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

from dynamics_codec.errors import ConfigError
from dynamics_codec.flow.base import FlowBackend, check_flow_inputs

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlow(FlowBackend):
    """Dense Inverse Search flow, key frame -> each frame, in pixels.

    Args:
        preset: ``ultrafast`` | ``fast`` | ``medium`` (OpenCV presets).
        finest_scale, patch_size, patch_stride, gradient_descent_iterations,
        variational_refinement_iterations: optional overrides of the preset's parameters
            (None keeps the preset's value).
        threads: OpenCV threads (None leaves OpenCV's setting alone).
        workers: image pairs computed at once, one thread each (None: the CPU count, at most 8;
            1: one pair after another).
    """

    name = "dis"

    def __init__(
        self,
        preset: str = "medium",
        finest_scale: int | None = None,
        patch_size: int | None = None,
        patch_stride: int | None = None,
        gradient_descent_iterations: int | None = None,
        variational_refinement_iterations: int | None = None,
        threads: int | None = None,
        workers: int | None = None,
    ) -> None:
        super().__init__()
        if preset not in _PRESETS:
            raise ConfigError(f"flow.dis: unknown preset '{preset}'; choose one of {sorted(_PRESETS)}")
        self.preset = preset
        self.overrides = {
            "FinestScale": finest_scale,
            "PatchSize": patch_size,
            "PatchStride": patch_stride,
            "GradientDescentIterations": gradient_descent_iterations,
            "VariationalRefinementIterations": variational_refinement_iterations,
        }
        self.threads = threads
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"flow.workers must be an integer >= 1 or null (the CPU count); got {workers!r}")
        self.workers = int(workers) if workers is not None else min(8, os.cpu_count() or 1)

    def identity(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.overrides.items() if v is not None)
        return f"dis[{self.preset}{',' + opts if opts else ''};cv{cv2.__version__}]"

    def _make(self) -> "cv2.DISOpticalFlow":
        dis = cv2.DISOpticalFlow_create(_PRESETS[self.preset])
        for key, value in self.overrides.items():
            if value is not None:
                getattr(dis, f"set{key}")(int(value))
        return dis

    @staticmethod
    def _to_gray_u8(images: torch.Tensor) -> np.ndarray:
        """[N,3,H,W] float [0,1] -> [N,H,W] uint8 luma (BT.601 weights, as cv2.cvtColor)."""
        rgb = images.detach().to("cpu", torch.float32).clamp(0, 1)
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        gray = (rgb * w).sum(1) * 255.0
        return gray.round().to(torch.uint8).numpy()

    def _grey(self, key: torch.Tensor, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The checked inputs as uint8 luma: key ``[B, H, W]``, frames ``[B, T, H, W]``."""
        check_flow_inputs(key, frames)
        b, t, _, h, w = frames.shape
        return self._to_gray_u8(key), self._to_gray_u8(frames.reshape(b * t, 3, h, w)).reshape(b, t, h, w)

    def _calc_pairs(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Flow ``[N, H, W, 2]`` of each (from, to) pair of uint8 grey images, spread over ``workers`` threads."""
        h, w = pairs[0][0].shape
        out = np.empty((len(pairs), h, w, 2), dtype=np.float32)
        workers = max(1, min(self.workers, len(pairs)))
        if self.threads is not None:
            cv2.setNumThreads(int(self.threads))

        def run(share: range) -> None:
            dis = self._make()  # one DIS object per thread (they are not shared)
            for k in share:
                out[k] = dis.calc(pairs[k][0], pairs[k][1], None)

        if workers == 1:
            run(range(len(pairs)))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(run, [range(k, len(pairs), workers) for k in range(workers)]))
        return out

    @staticmethod
    def _to_flow(out: np.ndarray, b: int, t: int, device: torch.device) -> torch.Tensor:
        """``[B*T, H, W, 2]`` numpy -> ``[B, T, 2, H, W]`` tensor on ``device``."""
        flow = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
        return flow.reshape(b, t, *flow.shape[1:]).to(device=device)

    @torch.no_grad()
    def forward(self, key: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        key_g, frames_g = self._grey(key, frames)
        b, t = frames_g.shape[:2]
        pairs = [(key_g[i], frames_g[i, j]) for i in range(b) for j in range(t)]
        return self._to_flow(self._calc_pairs(pairs), b, t, frames.device)

    @torch.no_grad()
    def bidirectional(self, key: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(key -> frame, frame -> key)`` flows, each ``[B, T, 2, H, W]``: the same as
        ``self(key, frames)`` and the per-frame reverse calls, with every image converted to grey
        once and all pairs in one thread pool (for the forward-backward consistency check)."""
        key_g, frames_g = self._grey(key, frames)
        b, t = frames_g.shape[:2]
        forward = [(key_g[i], frames_g[i, j]) for i in range(b) for j in range(t)]
        backward = [(frames_g[i, j], key_g[i]) for i in range(b) for j in range(t)]
        out = self._calc_pairs(forward + backward)
        n = b * t
        return self._to_flow(out[:n], b, t, frames.device), self._to_flow(out[n:], b, t, frames.device)
