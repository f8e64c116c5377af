"""Pixel-grid helpers shared by the Unimatch modules.

All flow tensors are float32 pixels, channel 0 = x (width), channel 1 = y (height).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def coords_grid(batch: int, height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Pixel coordinates of every position.

    Returns:
        ``[batch, 2, height, width]`` float32, ``[:, 0]`` = x (column), ``[:, 1]`` = y (row).
    """
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack((xs, ys), dim=0).unsqueeze(0).repeat(batch, 1, 1, 1)


def window_offsets(radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer offsets of a ``(2r+1) x (2r+1)`` window, row-major (dy outer, dx inner).

    Returns:
        ``[(2r+1)**2, 2]`` float32 as ``(dx, dy)``; index ``(dy + r) * (2r+1) + (dx + r)``.
        This order defines the channel order of every windowed correlation.
    """
    steps = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack((dx, dy), dim=-1).reshape(-1, 2)


def flow_warp(feature: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``feature`` by ``flow``: ``out[p] = feature[p + flow[p]]`` (bilinear, zeros outside).

    Args:
        feature: ``[B, C, H, W]``.
        flow: ``[B, 2, H, W]`` pixels.

    Returns:
        ``[B, C, H, W]``.
    """
    b, _, h, w = feature.shape
    target = coords_grid(b, h, w, device=flow.device) + flow
    grid_x = 2 * target[:, 0] / (w - 1) - 1
    grid_y = 2 * target[:, 1] / (h - 1) - 1
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(feature, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def upsample_flow_bilinear(flow: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear (align_corners=True) upsampling of ``[B, 2, h, w]`` by ``factor``, vectors scaled by it."""
    return F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=True) * factor


def convex_upsample(flow: torch.Tensor, mask_logits: torch.Tensor, factor: int) -> torch.Tensor:
    """RAFT-style convex upsampling: each fine pixel is a softmax-weighted mix of the 3x3 coarse neighbours.

    Args:
        flow: ``[B, C, h, w]`` coarse flow in coarse pixels.
        mask_logits: ``[B, 9 * factor**2, h, w]``, laid out as ``[9, factor, factor]``.
        factor: upsampling factor.

    Returns:
        ``[B, C, factor*h, factor*w]`` flow in fine pixels (vectors multiplied by ``factor``).
    """
    b, channels, h, w = flow.shape
    weights = torch.softmax(mask_logits.view(b, 1, 9, factor, factor, h, w), dim=2)
    neighbours = F.unfold(factor * flow, [3, 3], padding=1).view(b, channels, 9, 1, 1, h, w)
    fine = torch.sum(weights * neighbours, dim=2)  # [B, C, K, K, h, w]
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(b, channels, factor * h, factor * w)
