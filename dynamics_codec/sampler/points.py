"""Point sets: the background grid, neighbour elimination and the cap on the number of points.

Randomness: every random choice draws from a CPU ``torch.Generator`` passed by the caller
(``torch.randperm(..., generator=g)``), so the same seed gives the same points on any
machine and any input device.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dynamics_codec.errors import ConfigError, InputError


def check_generator(generator: torch.Generator | None) -> torch.Generator:
    """Return ``generator`` (a CPU ``torch.Generator``), or a fresh one seeded with 0 when None."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise InputError(f"generator must be a torch.Generator (CPU) or None; found {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise InputError(
            f"generator must live on the CPU (point selection runs there); found one on {generator.device}. "
            "Pass torch.Generator().manual_seed(seed)."
        )
    return generator


def grid_stride(bg_ratio: float) -> int:
    """MOFA's grid stride ``int(sqrt(1 / bg_ratio))`` (1/6400 -> 80 px)."""
    if isinstance(bg_ratio, bool) or not isinstance(bg_ratio, (int, float)) or not (0.0 < bg_ratio <= 1.0):
        raise ConfigError(f"bg_ratio must be a number in (0, 1] (MOFA: 1/6400); found {bg_ratio!r}")
    return max(1, int(math.sqrt(1.0 / bg_ratio)))


def grid_points(height: int, width: int, bg_ratio: float = 1.0 / 6400) -> torch.Tensor:
    """Regular background points every ``grid_stride(bg_ratio)`` pixels, centred in the frame.

    Rows ``start_h, start_h + s, ...`` with ``start_h = int((H - H // s * s) / 2)``, the same
    for columns (384 px, s = 80 -> 32, 112, 192, 272, 352).

    Returns:
        ``[K, 2]`` int64 (y, x), row-major order, on the CPU.
    """
    stride = grid_stride(bg_ratio)
    if height < 1 or width < 1:
        raise InputError(f"grid_points needs a positive frame size; found {height}x{width}")
    rows = torch.arange(int((height - height // stride * stride) / 2), height, stride)
    cols = torch.arange(int((width - width // stride * stride) / 2), width, stride)
    grid_y, grid_x = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([grid_y.reshape(-1), grid_x.reshape(-1)], dim=1)


def _check_points(points: torch.Tensor) -> None:
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 2:
        found = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise InputError(f"points must be a [K, 2] integer tensor of (y, x); found {found}")
    if points.is_floating_point() or points.is_complex():
        raise InputError(f"points must hold integer pixel coordinates; found dtype {points.dtype}")
    if points.numel() and int(points.min()) < 0:
        raise InputError("points must have non-negative (y, x) pixel coordinates; found a negative one")


def neighbour_keep_mask(
    points: torch.Tensor, min_distance: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Which points survive :func:`eliminate_neighbours` (``[K]`` bool, input order)."""
    _check_points(points)
    if not (isinstance(min_distance, (int, float)) and min_distance > 0):
        raise ConfigError(f"min_distance must be a positive number of pixels; found {min_distance!r}")
    generator = check_generator(generator)
    count = points.shape[0]
    keep = np.zeros(count, dtype=bool)
    if count == 0:
        return torch.from_numpy(keep)
    # Neighbours: |dy| < d and |dx| < d, i.e. integer offsets up to `reach` = ceil(d) - 1.
    reach = math.ceil(min_distance) - 1
    yx = points.detach().to("cpu", torch.int64).numpy()
    order = torch.randperm(count, generator=generator).numpy()
    # `claimed` marks every pixel within reach of a kept point (coordinates shifted by reach).
    claimed = np.zeros((int(yx[:, 0].max()) + 2 * reach + 1, int(yx[:, 1].max()) + 2 * reach + 1), dtype=bool)
    side = 2 * reach + 1
    for index, y, x in zip(order.tolist(), yx[order, 0].tolist(), yx[order, 1].tolist()):
        if not claimed[y + reach, x + reach]:
            keep[index] = True
            claimed[y : y + side, x : x + side] = True
    return torch.from_numpy(keep)


def eliminate_neighbours(
    points: torch.Tensor, min_distance: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Thin a point set so that no two kept points are neighbours; random, reproducible.

    Rule (a random-order greedy maximal independent set): the points are visited in the
    order of ``torch.randperm(K, generator=generator)``; a point is kept unless an earlier
    kept point is its neighbour, where ``p`` and ``q`` are neighbours when
    ``|p_y - q_y| < d`` and ``|p_x - q_x| < d`` (Chebyshev distance below ``d``, MOFA's
    neighbourhood with ``d = (nms_ks - 1) / 2``). Invariants: any two kept points are at
    Chebyshev distance >= d (hence also Euclidean >= d), and every dropped point is at
    Chebyshev distance < d from a kept one. Duplicated points collapse to one.

    MOFA's ``neighbor_elim`` instead flips a coin for each neighbouring pair in row-major
    order (numpy's global RNG), which can drop a point whose only neighbour is dropped later
    and so keeps fewer points; the candidate set and the neighbourhood are the same.

    Cost: one O(1) test per point and one (2 * ceil(d) - 1)^2 boolean fill per kept point
    on a raster the size of the points' bounding box; no K x K matrix, so plateaus of
    thousands of tied candidates stay cheap.

    Args:
        points: ``[K, 2]`` integer (y, x), non-negative, any device.
        min_distance: ``d`` in pixels (> 0).
        generator: CPU ``torch.Generator``; None means a fresh generator seeded with 0.

    Returns:
        ``[K', 2]`` the kept points, in their input order, same dtype and device as ``points``.
    """
    keep = neighbour_keep_mask(points, min_distance, generator)
    return points[keep.to(points.device)]


def cap_points(points: torch.Tensor, max_points: int | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Drop duplicates, then keep a random subset of at most ``max_points`` points.

    Args:
        points: ``[K, 2]`` int64 (y, x).
        max_points: None or -1 for no cap, else a positive integer.
        generator: CPU ``torch.Generator`` (drawn from only when the cap bites).

    Returns:
        ``[min(K_unique, max_points), 2]``, unique points (lexicographic order when uncapped,
        random order when capped, as MOFA's ``np.random.permutation(...)[:max_num_guide]``).
    """
    _check_points(points)
    max_points = check_max_points(max_points)
    unique = torch.unique(points, dim=0) if points.shape[0] else points
    if max_points is None or unique.shape[0] <= max_points:
        return unique
    generator = check_generator(generator)
    chosen = torch.randperm(unique.shape[0], generator=generator)[:max_points]
    return unique[chosen.to(unique.device)]


def check_max_points(max_points: int | None) -> int | None:
    """None / -1 -> None (no cap); a positive integer -> itself; anything else -> ConfigError."""
    if max_points is None or (not isinstance(max_points, bool) and isinstance(max_points, (int, np.integer)) and max_points == -1):
        return None
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise ConfigError(f"max_num_guide must be None, -1 (no cap) or a positive integer; found {max_points!r}")
    return int(max_points)
