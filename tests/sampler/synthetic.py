"""Synthetic flow fields for the sampler tests (no fixtures, no randomness beyond a seed)."""

from __future__ import annotations

import torch

#: (top, left, bottom, right) of two rectangles (end-exclusive) and their flows (fx, fy) in pixels.
RECTANGLES = (((60, 50, 200, 170), (14.0, -6.0)), ((220, 230, 340, 350), (-9.0, 11.0)))


def two_rectangles_flow(height: int = 384, width: int = 384, shift: int = 0) -> torch.Tensor:
    """``[2, H, W]`` float32: two rigid rectangles (moved right by ``shift`` px) on a static background."""
    flow = torch.zeros(2, height, width)
    for (top, left, bottom, right), (fx, fy) in RECTANGLES:
        flow[0, top:bottom, left + shift : right + shift] = fx
        flow[1, top:bottom, left + shift : right + shift] = fy
    return flow


def region_label(points_yx: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """For each (y, x): 0 = background, k = inside rectangle k (1-based)."""
    label = torch.zeros(len(points_yx), dtype=torch.int64)
    y, x = points_yx[:, 0], points_yx[:, 1]
    for k, ((top, left, bottom, right), _) in enumerate(RECTANGLES, start=1):
        inside = (y >= top) & (y < bottom) & (x >= left + shift) & (x < right + shift)
        label[inside] = k
    return label


def distance_to_rectangle_boundaries(points_yx: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """Euclidean distance (px) of each point to the nearest rectangle outline (the motion edges)."""
    y = points_yx[:, 0].double()
    x = points_yx[:, 1].double()
    best = torch.full_like(y, float("inf"))
    for (top, left, bottom, right), _ in RECTANGLES:
        left, right = left + shift, right + shift
        # distance to each of the 4 segments (edges sit between pixel rows/cols; use the outline at .5)
        for (y0, x0, y1, x1) in (
            (top - 0.5, left - 0.5, top - 0.5, right - 0.5),
            (bottom - 0.5, left - 0.5, bottom - 0.5, right - 0.5),
            (top - 0.5, left - 0.5, bottom - 0.5, left - 0.5),
            (top - 0.5, right - 0.5, bottom - 0.5, right - 0.5),
        ):
            cy = y.clamp(min(y0, y1), max(y0, y1))
            cx = x.clamp(min(x0, x1), max(x0, x1))
            best = torch.minimum(best, torch.hypot(y - cy, x - cx))
    return best


def moving_texture_flow(frames: int, height: int = 384, width: int = 384, seed: int = 0) -> torch.Tensor:
    """``[frames, 2, H, W]`` smooth, growing random flow (sum of a few sinusoids) for shape tests."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    out = torch.zeros(frames, 2, height, width)
    for c in range(2):
        for _ in range(3):
            fy, fx, phase, amp = torch.rand(4, generator=g).tolist()
            out[:, c] += 6 * amp * torch.sin(2 * torch.pi * (yy * fy / 90 + xx * fx / 110) + 6.28 * phase)
    return out * torch.linspace(0.2, 1.0, frames).view(frames, 1, 1, 1)


def patchwork_flow(height: int = 192, width: int = 192, seed: int = 0) -> torch.Tensor:
    """``[2, H, W]`` piecewise-constant flow: a smooth random field quantised to 3-px levels.

    Regions with curved boundaries, each moving rigidly: many separate watershed basins.
    """
    smooth = moving_texture_flow(1, height, width, seed)[0]
    return torch.round(smooth / 3.0) * 3.0
