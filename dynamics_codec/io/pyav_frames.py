"""Conversions between numpy planes and PyAV ``VideoFrame`` objects.

Y'CbCr <-> RGB always goes through :mod:`dynamics_codec.io.color` when the frame is BT.709
limited-range 4:2:0 / 4:4:4 (what our writers and the x265 key-frame codec produce), so that a
file written by us reads back through the exact inverse of the conversion that wrote it.
Frames from elsewhere (other matrices, full range, other pixel formats) are converted by
libswscale, honouring the colorspace and range the file declares (unspecified -> BT.601,
FFmpeg's default, which is what FFmpeg-made untagged files were encoded with).
"""

from __future__ import annotations

import av
import numpy as np

from dynamics_codec.errors import InputError
from dynamics_codec.io.color import Yuv420, yuv420_to_rgb, yuv444_to_rgb

__all__ = ["yuv420_to_av_frame", "av_frame_to_yuv420", "av_frame_to_rgb", "rgb_to_bgr0_av_frame"]

# H.273 / AVColorSpace, AVColorRange, AVChromaLocation values used for tagging.
_AVCOL_SPC_BT709 = 1
_AVCOL_PRI_BT709 = 1
_AVCOL_TRC_BT709 = 1
_AVCOL_RANGE_MPEG = 1  # limited ("TV") range
_AVCOL_RANGE_JPEG = 2  # full range


def yuv420_to_av_frame(yuv: Yuv420) -> av.VideoFrame:
    """One 4:2:0 frame (y ``[H,W]``, u/v ``[H/2,W/2]`` uint8) -> a ``yuv420p`` frame tagged BT.709 TV range."""
    if yuv.y.ndim != 2:
        raise InputError(f"expected a single frame (Y plane [H,W]), found Y shape {yuv.y.shape}")
    h, w = yuv.y.shape
    stacked = np.concatenate([yuv.y.reshape(-1), yuv.u.reshape(-1), yuv.v.reshape(-1)]).reshape(h * 3 // 2, w)
    frame = av.VideoFrame.from_ndarray(stacked, format="yuv420p")
    frame.colorspace = _AVCOL_SPC_BT709
    frame.color_range = _AVCOL_RANGE_MPEG
    frame.color_primaries = _AVCOL_PRI_BT709
    frame.color_trc = _AVCOL_TRC_BT709
    return frame


def av_frame_to_yuv420(frame: av.VideoFrame) -> Yuv420:
    """A decoded ``yuv420p`` frame -> :class:`Yuv420` planes (no colour conversion)."""
    if frame.format.name != "yuv420p":
        raise InputError(f"expected a yuv420p frame, found pixel format {frame.format.name}")
    h, w = frame.height, frame.width
    flat = frame.to_ndarray().reshape(-1)
    ny, nc = h * w, (h // 2) * (w // 2)
    y = flat[:ny].reshape(h, w)
    u = flat[ny:ny + nc].reshape(h // 2, w // 2)
    v = flat[ny + nc:ny + 2 * nc].reshape(h // 2, w // 2)
    return Yuv420(y=y.copy(), u=u.copy(), v=v.copy())


def _is_ours(frame: av.VideoFrame) -> bool:
    """BT.709 limited-range Y'CbCr: the colour space :mod:`color` implements."""
    return int(frame.colorspace) == _AVCOL_SPC_BT709 and int(frame.color_range) != _AVCOL_RANGE_JPEG


def av_frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Any decoded video frame -> uint8 RGB ``[H, W, 3]``.

    BT.709 limited ``yuv420p`` / ``yuv444p`` go through :mod:`dynamics_codec.io.color`;
    everything else through libswscale with the frame's own colorspace and range.
    """
    fmt = frame.format.name
    if fmt == "yuv420p" and _is_ours(frame) and frame.width % 2 == 0 and frame.height % 2 == 0:
        return yuv420_to_rgb(av_frame_to_yuv420(frame))
    if fmt == "yuv444p" and _is_ours(frame):
        planes = frame.to_ndarray()  # [3, H, W]
        return yuv444_to_rgb(planes[0], planes[1], planes[2])
    kwargs = {}
    if int(frame.color_range) in (_AVCOL_RANGE_MPEG, _AVCOL_RANGE_JPEG):
        kwargs["src_color_range"] = int(frame.color_range)
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24", **kwargs))


def rgb_to_bgr0_av_frame(rgb: np.ndarray) -> av.VideoFrame:
    """uint8 RGB ``[H, W, 3]`` -> a packed ``bgr0`` frame (a lossless byte shuffle, no colour conversion).

    ``bgr0`` is the 8-bit RGB pixel format the FFV1 encoder accepts (it has no 8-bit ``gbrp``).
    """
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="bgr0")
