"""PSNR on 8-bit RGB and on BT.709 luma (the project's one colour conversion).

Inputs are uint8 arrays of equal shape ``[..., H, W, 3]``. ``psnr`` pools the MSE over every
pixel and channel of the given array; ``psnr_per_frame`` gives one value per frame of a
``[T, H, W, 3]`` video (the usual video-coding report is the mean of the per-frame values).
Identical inputs give ``inf``.
"""

from __future__ import annotations

import numpy as np

from dynamics_codec.errors import InputError
from dynamics_codec.io.color import rgb_to_y


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(f"PSNR needs arrays of equal shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise InputError(f"PSNR expects uint8 images (peak 255), got {a.dtype} and {b.dtype}")


def mse(a: np.ndarray, b: np.ndarray, axis=None) -> np.ndarray | float:
    """Mean squared difference in float64 (over ``axis``); 8-bit inputs are summed exactly in integers
    (a quarter of the memory traffic of float64 copies, the same numbers)."""
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        squares = np.square(np.subtract(a, b, dtype=np.int16), dtype=np.int32)
        count = squares.size if axis is None else int(np.prod([squares.shape[i] for i in np.atleast_1d(axis)]))
        return squares.sum(axis=axis, dtype=np.int64) / count
    d = a.astype(np.float64) - b.astype(np.float64)
    return np.mean(d * d, axis=axis)


def _to_db(m):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / np.asarray(m, dtype=np.float64))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of the whole array (MSE pooled over all samples)."""
    _check(a, b)
    return float(_to_db(mse(a, b)))


def psnr_per_frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RGB PSNR in dB of each frame of ``[T, H, W, 3]`` videos -> float64 [T]."""
    _check(a, b)
    if a.ndim != 4:
        raise InputError(f"psnr_per_frame expects [T,H,W,3] videos, got shape {a.shape}")
    return _to_db(mse(a, b, axis=(1, 2, 3)))


def psnr_y(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Luma PSNR (BT.709, limited range, as coded by the codecs) per frame -> float64 [T] (or scalar)."""
    _check(a, b)
    ya = rgb_to_y(a).astype(np.float64)  # the uint8 Y' plane the codecs see
    yb = rgb_to_y(b).astype(np.float64)
    axis = tuple(range(ya.ndim - 2, ya.ndim))
    d = ya - yb
    return _to_db(np.mean(d * d, axis=axis))
