"""Colour-coded flow pictures (hue = direction, saturation = magnitude; white = no motion).

The usual optical-flow colour wheel, computed through HSV: a vector pointing right (+x) is
red, down (+y) is yellow-green, left is cyan, up is blue-violet; its saturation grows with
magnitude up to ``max_magnitude`` (default: the largest magnitude in the input, so pictures
of one call share a scale).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch


def flow_to_rgb(flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None) -> np.ndarray:
    """Flow ``[..., 2, H, W]`` (pixels, x then y) -> uint8 RGB ``[..., H, W, 3]``."""
    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    if f.ndim < 3 or f.shape[-3] != 2:
        raise ValueError(f"flow must be [..., 2, H, W], got shape {f.shape}")
    lead, (h, w) = f.shape[:-3], f.shape[-2:]
    f = f.reshape(-1, 2, h, w).astype(np.float32)
    mag = np.hypot(f[:, 0], f[:, 1])
    scale = float(max_magnitude) if max_magnitude else float(mag.max())
    angle = (np.degrees(np.arctan2(f[:, 1], f[:, 0])) % 360.0) / 2.0  # OpenCV hue: 0..180
    hsv = np.empty((f.shape[0], h, w, 3), np.uint8)
    hsv[..., 0] = angle.astype(np.uint8)
    hsv[..., 1] = np.clip(255.0 * mag / max(scale, 1e-6), 0, 255).astype(np.uint8)
    hsv[..., 2] = 255
    rgb = np.stack([cv2.cvtColor(x, cv2.COLOR_HSV2RGB) for x in hsv])
    return rgb.reshape(*lead, h, w, 3)
