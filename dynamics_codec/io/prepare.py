"""The paper's test format: square ``size x size`` clips of ``num_frames`` frames.

Geometry: scale so that the short side equals ``size`` (``cv2.INTER_AREA`` when shrinking,
``cv2.INTER_CUBIC`` when enlarging, untouched when it already matches), the long side to
``round(long * size / short)``, then take the centred ``size x size`` crop (when the excess
is odd, the extra pixel is dropped on the right / bottom side).
"""

from __future__ import annotations

import cv2
import numpy as np

from dynamics_codec.errors import InputError

__all__ = ["resize_short_side_center_crop", "to_test_format", "TEST_SIZE", "TEST_NUM_FRAMES"]

TEST_SIZE: int = 384
TEST_NUM_FRAMES: int = 50


def _check_video(frames: np.ndarray) -> np.ndarray:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise InputError(f"expected uint8 RGB frames, found {getattr(frames, 'dtype', type(frames).__name__)}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise InputError(f"expected uint8 RGB frames of shape [T,H,W,3] with T,H,W > 0, found {frames.shape}")
    return frames


def resize_short_side_center_crop(frames: np.ndarray, size: int = TEST_SIZE) -> np.ndarray:
    """uint8 RGB ``[T,H,W,3]`` (or one ``[H,W,3]``) -> ``[T,size,size,3]`` (or ``[size,size,3]``).

    Resizes the short side to ``size`` (INTER_AREA shrinking, INTER_CUBIC enlarging), then
    centre-crops the long side.
    """
    single = isinstance(frames, np.ndarray) and frames.ndim == 3
    video = _check_video(frames[None] if single else frames)
    if int(size) <= 0:
        raise InputError(f"size must be a positive number of pixels, found {size}")
    size = int(size)
    _, h, w, _ = video.shape
    scale = size / min(h, w)
    new_h = size if h <= w else max(size, int(round(h * scale)))
    new_w = size if w < h else max(size, int(round(w * scale)))
    if (new_h, new_w) == (h, w):
        resized = video
    else:
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
        resized = np.stack([cv2.resize(f, (new_w, new_h), interpolation=interp) for f in video], axis=0)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    out = np.ascontiguousarray(resized[:, top:top + size, left:left + size])
    return out[0] if single else out


def to_test_format(
    frames: np.ndarray,
    size: int = TEST_SIZE,
    num_frames: int = TEST_NUM_FRAMES,
    start: int = 0,
    stride: int = 1,
) -> np.ndarray:
    """uint8 RGB ``[T,H,W,3]`` -> ``[num_frames, size, size, 3]``: frames ``start, start+stride, ...``.

    Raises :class:`InputError` when the video has too few frames for the request.
    """
    video = _check_video(frames)
    if num_frames < 1 or stride < 1 or start < 0:
        raise InputError(f"need num_frames >= 1, stride >= 1, start >= 0; found num_frames={num_frames}, "
                         f"stride={stride}, start={start}")
    needed = start + (num_frames - 1) * stride + 1
    if video.shape[0] < needed:
        raise InputError(f"video has {video.shape[0]} frames but {needed} are needed for num_frames={num_frames}, "
                         f"start={start}, stride={stride}; use a longer clip, a smaller stride or fewer frames")
    picked = video[start:needed:stride]
    return resize_short_side_center_crop(picked, size)
