"""The anchor-codec interface: a whole video in, one bitstream and its decoded 4:2:0 planes out.

Anchors see exactly the pixels our codec sees: uint8 RGB ``[T, H, W, 3]`` converted once by
:func:`dynamics_codec.io.color.rgb_to_yuv420` (BT.709, limited range, 4:2:0), and their
decoded planes go back to RGB through :func:`~dynamics_codec.io.color.yuv420_to_rgb`, the same
functions our key-frame codecs use. Odd sizes are edge-padded to even and cropped back.
The rate is the real size of the bitstream file (``8 * len(bitstream)``).
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynamics_codec.errors import InputError
from dynamics_codec.io.color import Yuv420, rgb_to_yuv420, yuv420_to_rgb

__all__ = ["AnchorCodec", "AnchorOutput", "clip_hash", "video_to_yuv420", "yuv420_to_video"]


@dataclass
class AnchorOutput:
    """What one anchor encode + decode produced: the decoded 4:2:0 planes, or (an anchor that shows
    one picture throughout, ``static``) the decoded RGB picture and how many frames it stands for."""

    bitstream: bytes
    decoded: Yuv420 | None  # planes [T, H', W'] / [T, H'/2, W'/2] at the coded (even) size
    encoder_log: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # encode_s, decode_s
    still: np.ndarray | None = None  # uint8 RGB [H, W, 3] at the true size, shown for every frame (decoded None)
    num_frames: int | None = None  # frames coded (from ``decoded`` when None)

    @property
    def frames(self) -> int:
        return int(self.num_frames if self.num_frames is not None else self.decoded.y.shape[0])


def clip_hash(frames: np.ndarray, fps: float) -> str:
    """SHA-256 of a clip's pixels, shape and frame rate (the anchor cache key's first part)."""
    h = hashlib.sha256()
    h.update(repr((tuple(frames.shape), str(frames.dtype), round(float(fps), 6))).encode())
    h.update(np.ascontiguousarray(frames).tobytes())
    return h.hexdigest()


def video_to_yuv420(frames: np.ndarray) -> Yuv420:
    """uint8 RGB ``[T, H, W, 3]`` -> 4:2:0 planes, edge-padding odd H/W to even first."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"anchors take uint8 RGB videos [T,H,W,3], found {getattr(frames, 'dtype', type(frames))} "
                         f"{getattr(frames, 'shape', '')}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return rgb_to_yuv420(frames)


def yuv420_to_video(yuv: Yuv420, height: int, width: int) -> np.ndarray:
    """Decoded 4:2:0 planes ``[T, ...]`` -> uint8 RGB ``[T, height, width, 3]`` (cropping padding)."""
    rgb = yuv420_to_rgb(yuv.y, yuv.u, yuv.v)
    return np.ascontiguousarray(rgb[:, :height, :width])


class AnchorCodec(abc.ABC):
    """A reference video codec run at a quantisation parameter.

    Subclasses set ``name`` and implement :meth:`encode_decode`, :meth:`version` (a string that
    changes whenever the output may change: library or binary version) and :meth:`settings`
    (everything else that determines the output, e.g. preset, cfg file name and content hash).
    ``spec()`` rebuilds an equal anchor in a worker process via :func:`dynamics_codec.anchors.build_anchor`.
    """

    name: str = ""
    qp_range: tuple[int, int] = (0, 51)  # the QPs the codec accepts (rate-matched ladders search in it)

    @abc.abstractmethod
    def encode_decode(self, yuv: Yuv420, fps: float, qp: int) -> AnchorOutput:
        """Encode the 4:2:0 video at ``qp`` and decode the bitstream again."""

    def encode_video(self, frames: np.ndarray, fps: float, qp: int) -> AnchorOutput:
        """uint8 RGB ``[T, H, W, 3]`` at ``qp``: the project's one RGB -> 4:2:0 conversion, then
        :meth:`encode_decode` (an anchor that codes RGB itself, like ``static``, overrides this)."""
        return self.encode_decode(video_to_yuv420(frames), fps, qp)

    @abc.abstractmethod
    def version(self) -> str:
        """Encoder identity (e.g. ``"x265 3.5+1-f0c1022b6 (PyAV 14.0.1)"``, ``"VTM 22.2 sha256:..."``)."""

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-able settings that, with the version, determine the output."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """Constructor arguments plus ``name``: ``build_anchor(**spec)`` gives an equal anchor."""

    def check_qp(self, qp: int, lo: int, hi: int) -> int:
        from dynamics_codec.errors import ConfigError

        if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)) or not lo <= int(qp) <= hi:
            raise ConfigError(f"{self.name}: qp must be an integer in {lo}..{hi}, found {qp!r}")
        return int(qp)
