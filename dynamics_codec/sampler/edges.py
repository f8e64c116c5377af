"""Motion edges: where the optical flow changes abruptly (MOFA-Video's ``get_edge``).

The reference filters each flow channel with a 3x3 Sobel kernel by a TRUE 2-D convolution
(``scipy.signal.convolve2d(..., boundary='symm', mode='same')``), takes the gradient
magnitude ``sqrt(gx^2 + gy^2)`` per channel and sums the two channels. The binary edge map
keeps pixels whose strength exceeds ``threshold`` (0.1) of the frame's maximum strength,
the maximum being floored at ``floor`` (0.01) so that a static frame has no edges.

This port reproduces scipy's float32 result bit for bit: a one-pixel symmetric border is
the replicated edge pixel, and the six non-zero kernel taps are accumulated in scipy's order
(kernel row-major, each product rounded to float32 before the next addition). The scale
factors are 1 and 2, so every product is exact and the sums are the same IEEE operations
scipy performs; thresholds therefore flip exactly where the reference's do.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dynamics_codec.errors import InputError

#: Pixel offsets (dy, dx) and weights of the Sobel taps in the order scipy accumulates them
#: for the true convolution with ``[[1,0,-1],[2,0,-2],[1,0,-1]]`` (x) and its transpose (y):
#: kernel element (i, j) multiplies ``f[y + 1 - i, x + 1 - j]``; zero taps are skipped
#: (adding an exact 0 changes nothing).
_SOBEL_X_TAPS: tuple[tuple[int, int, float], ...] = (
    (1, 1, 1.0), (1, -1, -1.0), (0, 1, 2.0), (0, -1, -2.0), (-1, 1, 1.0), (-1, -1, -1.0),
)
_SOBEL_Y_TAPS: tuple[tuple[int, int, float], ...] = (
    (1, 1, 1.0), (1, 0, 2.0), (1, -1, 1.0), (-1, 1, -1.0), (-1, 0, -2.0), (-1, -1, -1.0),
)


#: CPU work is split into chunks of about this many flow values (cache-sized temporaries).
_CPU_CHUNK_ELEMENTS = 1 << 20


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other float type is filtered in float32 (as scipy upcasts fp16)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check_flow(flow: torch.Tensor, name: str = "flow") -> None:
    if not isinstance(flow, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor [..., 2, H, W]; found {type(flow).__name__}")
    if flow.ndim < 3 or flow.shape[-3] != 2:
        raise InputError(
            f"{name} must have shape [..., 2, H, W] (channel 0 = x, 1 = y); found {tuple(flow.shape)}"
        )
    if not flow.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor (pixels); found dtype {flow.dtype}")


def _sobel(padded: torch.Tensor, taps: tuple[tuple[int, int, float], ...], height: int, width: int) -> torch.Tensor:
    """Accumulate ``taps`` over a 1-pixel padded tensor [..., H+2, W+2] in the given order."""
    acc: torch.Tensor | None = None
    for dy, dx, weight in taps:
        shifted = padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        if acc is None:
            acc = shifted * weight  # 0 + w * f is w * f exactly
        else:
            # a + w * b with w in {+-1, +-2}: w * b is exact, so this is one rounding, like scipy.
            acc = torch.add(acc, shifted, alpha=weight)
    assert acc is not None
    return acc


def _exact_sqrt(values: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root, as numpy computes it.

    torch's vectorised float32 CPU sqrt can be 1 ulp off, and the edge threshold sits within
    1e-6 (relative) of some pixels' strength, so the reference's rounding matters. On the CPU
    numpy's sqrt is used (exact and fast); elsewhere a float64 sqrt rounded back to float32
    (exact: 53 >= 2 * 24 + 2 bits).
    """
    if values.device.type == "cpu":
        return torch.from_numpy(np.sqrt(values.detach().contiguous().numpy()))
    if values.dtype == torch.float64:
        return torch.sqrt(values)
    return torch.sqrt(values.double()).to(values.dtype)


def _edge_strength_fields(fields: torch.Tensor) -> torch.Tensor:
    """``[N, 2, H, W]`` -> ``[N, H, W]`` summed Sobel magnitudes (see :func:`motion_edge_strength`)."""
    height, width = fields.shape[-2:]
    padded = F.pad(fields, (1, 1, 1, 1), mode="replicate")  # == scipy 'symm' for a 1-pixel border
    gx = _sobel(padded, _SOBEL_X_TAPS, height, width)
    gy = _sobel(padded, _SOBEL_Y_TAPS, height, width)
    magnitude = _exact_sqrt(gx * gx + gy * gy)
    return magnitude[:, 0] + magnitude[:, 1]


def motion_edge_strength(flow: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the flow, summed over its two channels.

    Args:
        flow: ``[..., 2, H, W]`` float tensor, pixels (any leading dims, any device).

    Returns:
        ``[..., H, W]`` edge strength (pixels of flow change per pixel, unnormalised), float32
        (float64 for float64 input), on ``flow``'s device. Equal bit for bit to MOFA's
        ``get_edge`` on float32 input.
    """
    _check_flow(flow)
    height, width = flow.shape[-2:]
    lead = flow.shape[:-3]
    fields = flow.to(_compute_dtype(flow.dtype)).reshape(-1, 2, height, width)
    # On the CPU, a few fields at a time keep the ~20 temporaries in cache (2-3x faster).
    chunk = max(1, _CPU_CHUNK_ELEMENTS // (2 * height * width)) if fields.device.type == "cpu" else len(fields)
    strength = torch.cat([_edge_strength_fields(part) for part in fields.split(chunk)]) if len(fields) else fields[:, 0]
    return strength.reshape(*lead, height, width)


def motion_edges(flow: torch.Tensor, threshold: float = 0.1, floor: float = 0.01) -> torch.Tensor:
    """Binary motion-edge map: strength / max(strength.max(), floor) > threshold, per frame.

    Args:
        flow: ``[..., 2, H, W]`` float tensor, pixels.
        threshold: relative threshold in (0, 1) (MOFA: 0.1).
        floor: lower bound of the normaliser, in flow-gradient units (MOFA: 0.01), so a
            (nearly) static frame yields no edges.

    Returns:
        ``[..., H, W]`` bool tensor on ``flow``'s device; True on motion edges.
    """
    strength = motion_edge_strength(flow)
    return normalised_edges(strength, threshold=threshold, floor=floor)


def normalised_edges(strength: torch.Tensor, threshold: float = 0.1, floor: float = 0.01) -> torch.Tensor:
    """Threshold an edge-strength map ``[..., H, W]`` relative to each frame's maximum.

    Computed in ``strength``'s dtype (float32 for MOFA parity: the division and the
    comparison with float32(0.1) are the operations numpy performs).
    """
    if strength.ndim < 2:
        raise InputError(f"edge strength must have shape [..., H, W]; found {tuple(strength.shape)}")
    peak = strength.amax(dim=(-2, -1), keepdim=True).clamp_min(floor)
    limit = torch.tensor(threshold, dtype=strength.dtype, device=strength.device)
    return (strength / peak) > limit
