"""Backward warping and flow inversion (shared geometry: flow analysis, training data and decoders).

Pixel-centre convention: pixel ``(x, y)`` of an ``H x W`` tensor has its centre at integer
coordinates ``(x, y)``; ``grid_sample`` with ``align_corners=False`` addresses it at normalised
``(2x + 1) / W - 1``. Flows are ``[N, 2, H, W]`` in pixels, channel 0 = x; each function names
the direction it takes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dynamics_codec.errors import ConfigError

__all__ = ["pixel_grid", "backward_warp", "invert_flow"]


def pixel_grid(height: int, width: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[1, 2, H, W]`` pixel-centre coordinates: channel 0 = x in [0, W-1], channel 1 = y."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys]).unsqueeze(0)


def backward_warp(image: torch.Tensor, flow_target_to_source: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``p + flow_target_to_source(p)`` for every output pixel ``p``.

    Args:
        image: ``[N, C, H, W]`` floating tensor (the source, e.g. the key frame).
        flow_target_to_source: ``[N, 2, H, W]`` pixels, for each *output* pixel the offset to
            the source position it reads from (channel 0 = x, 1 = y); e.g. the frame -> key flow
            when warping the key frame to frame t.

    Returns:
        ``[N, C, H, W]``: bilinear samples, positions outside the image clamped to the border.
    """
    n, _, h, w = image.shape
    position = pixel_grid(h, w, device=image.device, dtype=flow_target_to_source.dtype) + flow_target_to_source
    grid_x = (2 * position[:, 0] + 1) / w - 1
    grid_y = (2 * position[:, 1] + 1) / h - 1
    grid = torch.stack([grid_x, grid_y], dim=-1).to(image.dtype)  # [N, H, W, 2]
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def invert_flow(flow_source_to_target: torch.Tensor, iterations: int = 5) -> torch.Tensor:
    """Estimate the target -> source flow from the source -> target flow by fixed-point iteration.

    For each target pixel ``p`` it solves ``q + F(q) = p`` for the source point ``q`` with
    ``q_0 = p - F(p)`` and ``q_{k+1} = p - F(q_k)`` (``F`` sampled bilinearly, border padding),
    and returns ``q - p``.

    Args:
        flow_source_to_target: ``[N, 2, H, W]`` pixels, ``F``: where each source pixel goes
            (for the codec: the key -> frame t flow).
        iterations: refinement steps after the first-order guess; 0 returns ``-F(p)``.

    Returns:
        ``[N, 2, H, W]`` pixels, the target -> source flow (for the codec: frame t -> key).
    """
    if iterations < 0:
        raise ConfigError(f"inverse flow iterations must be >= 0; got {iterations}.")
    inverse = -flow_source_to_target
    for _ in range(iterations):
        inverse = -backward_warp(flow_source_to_target, inverse)
    return inverse
