"""Watershed candidates: pixels farthest from any motion edge, one per local basin.

MOFA-Video's 'watershed' strategy: the Euclidean distance of every pixel to the nearest
motion-edge pixel (``scipy.ndimage.distance_transform_edt``) is a landscape whose local
maxima sit in the interiors of regions that move coherently. A square non-maximum
suppression (``nms_ks`` x ``nms_ks``; scipy ``maximum_filter`` semantics) keeps the pixels
that are >= every value in their window, the image border is cleared, and every remaining
pixel with a positive distance is a candidate. Ties on plateaus all survive; neighbour
elimination (:mod:`.points`) thins them afterwards.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.sampler.edges import motion_edges

#: Frames whose longer side is at least this many pixels times k are analysed every k-th pixel.
ANALYSIS_SIDE = 400


def analysis_stride(height: int, width: int) -> int:
    """MOFA's ``ds``: ``max(1, max(H, W) // 400)`` (1 for 384x384; 2 from 800 px on)."""
    return max(1, max(int(height), int(width)) // ANALYSIS_SIDE)


def check_nms_kernel(nms_ks: int) -> int:
    """Validate the NMS window: an odd integer >= 3 (MOFA training: 15; CMP's config: 41)."""
    if isinstance(nms_ks, bool) or not isinstance(nms_ks, (int, np.integer)) or nms_ks < 3 or nms_ks % 2 != 1:
        raise ConfigError(f"nms_ks must be an odd integer >= 3 (e.g. 15 or 41); found {nms_ks!r}")
    return int(nms_ks)


def distance_to_edges(edges: torch.Tensor) -> torch.Tensor:
    """Euclidean distance (pixels) of every pixel to the nearest edge pixel, per frame.

    Args:
        edges: ``[..., H, W]`` bool (or {0,1}) tensor, True on edges.

    Returns:
        ``[..., H, W]`` float64 tensor on ``edges``' device, equal to
        ``scipy.ndimage.distance_transform_edt(1 - edges)`` frame by frame (computed on the
        CPU with scipy; edge pixels are 0). Note scipy's quirk for a frame without any
        edge: the distance is then measured to the virtual pixel (-1, -1).
    """
    if edges.ndim < 2:
        raise InputError(f"edges must have shape [..., H, W]; found {tuple(edges.shape)}")
    from scipy import ndimage  # imported here: decoding never samples, and scipy.ndimage costs start-up time

    height, width = edges.shape[-2:]
    frames = (edges.detach().to("cpu") == 0).reshape(-1, height, width).numpy()
    out = np.empty(frames.shape, dtype=np.float64)
    for index, background in enumerate(frames):
        ndimage.distance_transform_edt(background, distances=out[index])
    return torch.from_numpy(out).reshape(edges.shape).to(edges.device)


def watershed_peaks(distance: torch.Tensor, nms_ks: int = 15) -> torch.Tensor:
    """Non-maximum suppression of the distance map; the candidates' mask.

    A pixel survives when its distance is positive and >= the maximum over the
    ``nms_ks`` x ``nms_ks`` window centred on it (the window clipped at the image border,
    which for a maximum equals scipy's 'reflect' padding), and it is not on the outermost
    row or column.

    Args:
        distance: ``[..., H, W]`` float tensor (e.g. from :func:`distance_to_edges`).
        nms_ks: odd window side >= 3.

    Returns:
        ``[..., H, W]`` bool tensor, same device.
    """
    nms_ks = check_nms_kernel(nms_ks)
    if distance.ndim < 2:
        raise InputError(f"distance must have shape [..., H, W]; found {tuple(distance.shape)}")
    window_max = _window_max(_window_max(distance, nms_ks, dim=-1), nms_ks, dim=-2)
    peaks = (distance >= window_max) & (distance > 0)
    peaks[..., 0, :] = False
    peaks[..., -1, :] = False
    peaks[..., :, 0] = False
    peaks[..., :, -1] = False
    return peaks


def _window_max(values: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Maximum over a centred window of odd ``size`` along ``dim``, clipped at the ends.

    Doubling: windows of 1, 2, 4, ... samples are merged with one ``torch.maximum`` each,
    then the last step overlaps two windows of the largest power of two; O(log size)
    element-wise ops instead of ``size`` comparisons per sample.
    """
    radius = size // 2
    moved = values.movedim(dim, -1)
    fill = torch.finfo(moved.dtype).min if moved.is_floating_point() else torch.iinfo(moved.dtype).min
    span = F.pad(moved, (radius, radius), value=fill)
    width = 1
    while 2 * width <= size:
        span = torch.maximum(span[..., :-width], span[..., width:])
        width *= 2
    if width < size:
        overlap = size - width
        span = torch.maximum(span[..., : span.shape[-1] - overlap], span[..., overlap:])
    return span.movedim(-1, dim)


def watershed_candidates(flow: torch.Tensor, nms_ks: int = 15) -> torch.Tensor:
    """Deterministic watershed candidates of ONE flow field, before neighbour elimination.

    Runs edges -> distance -> NMS at the flow's own resolution (the sampler applies the
    :func:`analysis_stride` itself).

    Args:
        flow: ``[2, H, W]`` float tensor, pixels.
        nms_ks: odd NMS window side >= 3.

    Returns:
        ``[K, 2]`` int64 (y, x) = (row, col) on the CPU, in row-major order (as ``np.where``).
    """
    if flow.ndim != 3:
        raise InputError(f"watershed_candidates takes one flow field [2, H, W]; found {tuple(flow.shape)}")
    distance = distance_to_edges(motion_edges(flow))
    return torch.nonzero(watershed_peaks(distance.cpu(), nms_ks))
