"""Resizing images and pixel flows to another grid (one implementation for analysis, encoder and decoders)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

FlowResize = Literal["bilinear", "area", "nearest"]

__all__ = ["resize_flow", "resize_frames"]


def resize_frames(frames: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """``[N, C, H, W]`` area-averaged to ``size`` (H, W); returned as is when None or already that size."""
    if size is None or tuple(frames.shape[-2:]) == tuple(size):
        return frames
    return F.interpolate(frames, size=size, mode="area")


def resize_flow(flow: torch.Tensor, size: tuple[int, int] | None, mode: FlowResize = "bilinear") -> torch.Tensor:
    """Flow ``[N, 2, H, W]`` in pixels resampled to ``size`` (H, W) (``mode``: bilinear with
    ``align_corners=False``, area average or nearest), its vectors scaled to the new pixels (x by
    w/W, y by h/H); returned as is when None or already that size."""
    if size is None or tuple(flow.shape[-2:]) == tuple(size):
        return flow
    h, w = flow.shape[-2:]
    options = {"align_corners": False} if mode == "bilinear" else {}
    resized = F.interpolate(flow, size=size, mode=mode, **options)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return resized * scale
