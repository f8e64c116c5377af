"""On-disk cache of key -> frame flows for datasets.

Flows are computed once per (video content, backend identity, resolution) and stored as
float16 safetensors (about 0.6 MB per 384x384 frame pair), so training never recomputes them.
The key hashes the exact uint8 frames fed to the backend, the backend's ``identity()``
(which names its options and weights) and the size, so a change of any of them misses.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from dynamics_codec.flow.base import FlowBackend
from dynamics_codec.utils.files import atomic_output_path

CACHE_FORMAT = 1


def flow_cache_key(frames: np.ndarray, backend_identity: str) -> str:
    """Hex key for ``frames`` (uint8 [T,H,W,3], frame 0 = key) under a backend identity."""
    frames = np.ascontiguousarray(frames)
    h = hashlib.sha256()
    h.update(f"dcflow{CACHE_FORMAT}|{backend_identity}|{frames.shape}|{frames.dtype}|".encode())
    h.update(frames.tobytes())
    return h.hexdigest()[:32]


class FlowCache:
    """A folder of cached flows, one safetensors file per (clip, backend, size).

    ``get_or_compute(frames, backend)`` returns flow float32 [T-1, 2, H, W] from frame 0 to
    frames 1..T-1.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def load(self, key: str) -> torch.Tensor | None:
        path = self.path_for(key)
        if not path.exists():
            return None
        return load_file(str(path))["flow"].float()

    def ensure(self, frames: np.ndarray, backend: FlowBackend, *, device: str | torch.device = "cpu") -> Path:
        """The cache file of ``frames`` under ``backend``, computing and writing it if missing."""
        key = flow_cache_key(frames, backend.identity())
        path = self.path_for(key)
        if path.exists():
            return path
        video = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0
        flow = backend(video[:1], video[None, 1:])[0].float().cpu()  # [T-1, 2, H, W]
        meta = {"backend": backend.identity(), "shape": json.dumps(list(flow.shape)), "format": str(CACHE_FORMAT)}
        with atomic_output_path(path) as tmp:
            save_file({"flow": flow.half().contiguous()}, str(tmp), metadata=meta)
        return path

    def get_or_compute(
        self, frames: np.ndarray, backend: FlowBackend, *, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """Flow float32 [T-1, 2, H, W] of ``frames`` (float16 precision, as stored)."""
        return load_file(str(self.ensure(frames, backend, device=device)))["flow"].float()
