"""Correlation-softmax matching of Unimatch/GMFlow: global, local (windowed) and flow-guided correlation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .geometry import coords_grid, window_offsets

# Window offsets gathered at once in windowed correlation; bounds the [B, H*W, chunk, C]
# intermediate (the reference materialises all (2r+1)^2 samples at once).
_OFFSETS_PER_CHUNK = 10

# Logit given to window positions outside the image in local matching.
_OUTSIDE_LOGIT = -1e9


def global_correlation_softmax(
    feature0: torch.Tensor, feature1: torch.Tensor, bidirectional: bool = False
) -> torch.Tensor:
    """Flow as the softmax-expected position of every pixel of image 0 over all pixels of image 1.

    Args:
        feature0, feature1: ``[B, C, H, W]``.
        bidirectional: also return the backward flow (from the transposed correlation).

    Returns:
        ``[B, 2, H, W]`` (or ``[2B, 2, H, W]``: forward then backward) flow in feature pixels.
    """
    b, c, h, w = feature0.shape
    correlation = torch.matmul(feature0.view(b, c, -1).permute(0, 2, 1), feature1.view(b, c, -1)) / (c**0.5)
    init_grid = coords_grid(b, h, w, device=feature0.device)  # [B, 2, H, W]
    if bidirectional:
        correlation = torch.cat((correlation, correlation.permute(0, 2, 1)), dim=0)
        init_grid = init_grid.repeat(2, 1, 1, 1)
        b = 2 * b
    grid = init_grid.view(b, 2, -1).permute(0, 2, 1)  # [B, H*W, 2]
    prob = F.softmax(correlation, dim=-1)  # [B, H*W, H*W]
    correspondence = torch.matmul(prob, grid).view(b, h, w, 2).permute(0, 3, 1, 2)
    return correspondence - init_grid


def _offset_correlation(
    feature0: torch.Tensor, feature1: torch.Tensor, base: torch.Tensor, offsets: torch.Tensor
) -> torch.Tensor:
    """Dot products ``<feature0[p], feature1[base[p] + offsets[k]]> / sqrt(C)`` at integer positions.

    Positions outside ``feature1`` read zeros. Rows of ``feature1`` are gathered as contiguous
    ``C``-vectors, a few offsets at a time, so memory stays ``O(B * H*W * chunk * C)``.

    Args:
        feature0, feature1: ``[B, C, H, W]``.
        base: ``[B, H*W, 2]`` integer (int64) positions (x, y) in ``feature1``.
        offsets: ``[K, 2]`` integer (int64) offsets (dx, dy).

    Returns:
        ``[B, H*W, K]``.
    """
    b, c, h, w = feature0.shape
    n = h * w
    query = feature0.flatten(2).transpose(1, 2).contiguous().unsqueeze(-1)  # [B, H*W, C, 1]
    zero_row = feature1.new_zeros(b, 1, c)
    table = torch.cat((feature1.flatten(2).transpose(1, 2), zero_row), dim=1).reshape(b * (n + 1), c)
    row_start = (torch.arange(b, device=base.device) * (n + 1)).view(b, 1, 1)
    chunks = []
    for start in range(0, offsets.shape[0], _OFFSETS_PER_CHUNK):
        step = offsets[start:start + _OFFSETS_PER_CHUNK]
        x = base[..., 0:1] + step[:, 0]  # [B, H*W, k]
        y = base[..., 1:2] + step[:, 1]
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        rows = torch.where(inside, y * w + x, n) + row_start
        gathered = table.index_select(0, rows.reshape(-1)).view(b, n, -1, c)
        chunks.append(torch.matmul(gathered, query).squeeze(-1))  # [B, H*W, k]
    return torch.cat(chunks, dim=-1) / (c**0.5)


def local_correlation_softmax(feature0: torch.Tensor, feature1: torch.Tensor, radius: int) -> torch.Tensor:
    """Flow as the softmax-expected position inside a ``(2r+1)^2`` window (outside-image positions excluded).

    Args:
        feature0, feature1: ``[B, C, H, W]`` (``feature1`` already warped by the current flow).

    Returns:
        ``[B, 2, H, W]`` residual flow in feature pixels, each component in ``[-r, r]``.
    """
    b, _, h, w = feature0.shape
    init_grid = coords_grid(b, h, w, device=feature0.device)
    centers = init_grid.view(b, 2, -1).permute(0, 2, 1)  # [B, H*W, 2]
    offsets = window_offsets(radius, device=feature0.device)  # [K, 2]
    correlation = _offset_correlation(feature0, feature1, centers.long(), offsets.long())
    points = centers.unsqueeze(-2) + offsets  # [B, H*W, K, 2]
    inside = (points[..., 0] >= 0) & (points[..., 0] < w) & (points[..., 1] >= 0) & (points[..., 1] < h)
    correlation = correlation.masked_fill(~inside, _OUTSIDE_LOGIT)
    prob = F.softmax(correlation, dim=-1)  # [B, H*W, K]
    correspondence = torch.matmul(prob.unsqueeze(-2), points).squeeze(-2)  # [B, H*W, 2]
    return correspondence.view(b, h, w, 2).permute(0, 3, 1, 2) - init_grid


def local_correlation_with_flow(
    feature0: torch.Tensor, feature1: torch.Tensor, flow: torch.Tensor, radius: int
) -> torch.Tensor:
    """Correlation of ``feature0`` with bilinearly sampled ``feature1`` in a window around ``p + flow[p]``.

    Equals sampling ``feature1`` at ``p + flow[p] + d`` (``grid_sample``, bilinear, zeros outside,
    align_corners=True) for every integer offset ``d`` in ``[-r, r]^2`` and taking dot products.
    Because the offsets are integers, all samples of a pixel share the same bilinear weights:
    the dot products are computed at the ``(2r+2)^2`` integer positions around
    ``floor(p + flow[p])`` and blended with those weights (same result, fewer memory reads).

    Args:
        feature0, feature1: ``[B, C, H, W]``.
        flow: ``[B, 2, H, W]`` in feature pixels.

    Returns:
        ``[B, (2r+1)^2, H, W]``, channel ``(dy + r) * (2r+1) + (dx + r)``.
    """
    b, _, h, w = feature0.shape
    size = 2 * radius + 1
    centers = coords_grid(b, h, w, device=feature0.device) + flow
    centers = centers.reshape(b, 2, -1).permute(0, 2, 1)  # [B, H*W, 2]
    base = torch.floor(centers)
    frac = centers - base  # [B, H*W, 2]
    grid_offsets = window_offsets(radius + 1, device=feature0.device)  # [-(r+1), r+1]^2
    keep = (grid_offsets >= -radius).all(dim=-1)  # the (2r+2)^2 corners [-r, r+1]^2
    corners = _offset_correlation(feature0, feature1, base.long(), grid_offsets[keep].long())
    corners = corners.view(b, h * w, size + 1, size + 1)  # [B, H*W, ey, ex]
    fx = frac[..., 0, None, None]
    fy = frac[..., 1, None, None]
    top = (1 - fx) * corners[:, :, :-1, :-1] + fx * corners[:, :, :-1, 1:]
    bottom = (1 - fx) * corners[:, :, 1:, :-1] + fx * corners[:, :, 1:, 1:]
    correlation = (1 - fy) * top + fy * bottom  # [B, H*W, 2r+1, 2r+1]
    return correlation.view(b, h, w, size * size).permute(0, 3, 1, 2).contiguous()
