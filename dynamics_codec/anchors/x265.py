"""HEVC low-delay anchor through PyAV's libx265: works on any machine with the PyPI ``av`` wheel.

Low delay: one I-frame (``keyint`` longer than the clip), then P-frames only (``bframes=0``),
no scene-cut I-frames, constant QP (``qp=<QP>`` applies to P-frames; the I-frame gets x265's
usual ``ipratio`` offset unless ``ipratio`` is set). No info SEI (x265 otherwise writes its
whole option string, ~2 kB, into the stream), no hash SEI, no AUD. Deterministic:
one frame thread, ``pools`` worker threads (default 1, so that clips and QPs run in parallel
processes instead). Decoded by FFmpeg's ``hevc`` decoder.
"""

from __future__ import annotations

import functools
import re
import time
from fractions import Fraction
from typing import Any

import av
import numpy as np

from dynamics_codec.anchors.base import AnchorCodec, AnchorOutput
from dynamics_codec.errors import BitstreamError, ConfigError, ExternalToolError
from dynamics_codec.io.color import Yuv420
from dynamics_codec.io.pyav_frames import av_frame_to_yuv420, yuv420_to_av_frame
from dynamics_codec.keyframe.x265 import MIN_CODED_SIDE, X265_PRESETS

__all__ = ["X265Anchor", "x265_version"]

_VERSION_RE = re.compile(rb"x265 \(build (\d+)\) - ([0-9][\w.+\-]*)")


@functools.lru_cache(maxsize=1)
def x265_version() -> str:
    """libx265's version as PyAV's build reports it in the info SEI (e.g. ``"3.5+1-f0c1022b6 (build 199)"``)."""
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width = ctx.height = MIN_CODED_SIDE
    ctx.pix_fmt, ctx.time_base = "yuv420p", Fraction(1, 25)
    ctx.options = {"preset": "ultrafast", "x265-params": "info=1:log-level=none:frame-threads=1:pools=1"}
    frame = av.VideoFrame.from_ndarray(np.zeros((MIN_CODED_SIDE * 3 // 2, MIN_CODED_SIDE), np.uint8), format="yuv420p")
    frame.pts = 0
    data = b"".join(bytes(p) for p in list(ctx.encode(frame)) + list(ctx.encode(None)))
    match = _VERSION_RE.search(data)
    return f"{match.group(2).decode()} (build {match.group(1).decode()})" if match else "unknown"


class X265Anchor(AnchorCodec):
    """HEVC low-delay P at constant QP (0..51) through libx265.

    Args:
        preset: x265 preset (default ``"medium"``).
        ipratio: I-frame QP factor (``None``: x265's default 1.4, i.e. an I-frame about 3 QP finer).
        pools: x265 worker threads per encode.
        extra_params: extra ``key=value`` x265 parameters (``:``-separated), appended last.
    """

    name = "x265"
    qp_range = (0, 51)  # HEVC's QP range: x265 cannot code coarser than 51

    def __init__(self, preset: str = "medium", ipratio: float | None = None, pools: int = 1,
                 extra_params: str = "") -> None:
        if preset not in X265_PRESETS:
            raise ConfigError(f"x265 preset must be one of {X265_PRESETS}, found {preset!r}")
        if int(pools) < 1:
            raise ConfigError(f"x265 pools must be >= 1, found {pools}")
        self.preset = preset
        self.ipratio = None if ipratio is None else float(ipratio)
        self.pools = int(pools)
        self.extra_params = str(extra_params or "").strip(":")

    def x265_params(self, qp: int, num_frames: int) -> str:
        params = [f"qp={qp}", f"keyint={num_frames + 1}", f"min-keyint={num_frames + 1}", "bframes=0", "scenecut=0",
                  "open-gop=0", "info=0", "hash=0", "aud=0", "frame-threads=1", f"pools={self.pools}",
                  "log-level=none"]
        if self.ipratio is not None:
            params.append(f"ipratio={self.ipratio:g}")
        if self.extra_params:
            params.append(self.extra_params)
        return ":".join(params)

    def version(self) -> str:
        return f"x265 {x265_version()} via PyAV {av.__version__}"

    def settings(self) -> dict[str, Any]:
        return {"preset": self.preset, "ipratio": self.ipratio, "pools": self.pools,
                "extra_params": self.extra_params, "structure": "low-delay P (one I-frame, no B-frames), constant QP"}

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "preset": self.preset, "ipratio": self.ipratio, "pools": self.pools,
                "extra_params": self.extra_params}

    def encode_decode(self, yuv: Yuv420, fps: float, qp: int) -> AnchorOutput:
        qp = self.check_qp(qp, 0, 51)
        t = yuv.y.shape[0]
        if min(yuv.height, yuv.width) < MIN_CODED_SIDE:
            raise ConfigError(f"x265 anchor needs frames of at least {MIN_CODED_SIDE}x{MIN_CODED_SIDE}, found "
                              f"{yuv.width}x{yuv.height}")
        t0 = time.perf_counter()
        try:
            ctx = av.CodecContext.create("libx265", "w")
        except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover - depends on the PyAV build
            raise ExternalToolError(f"PyAV has no libx265 encoder ({exc}); install the PyPI 'av' wheel") from exc
        ctx.width, ctx.height = yuv.width, yuv.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 1) / Fraction(fps).limit_denominator(1001)
        ctx.thread_count = 1
        ctx.options = {"preset": self.preset, "x265-params": self.x265_params(qp, t)}
        packets = []
        try:
            for i in range(t):
                frame = yuv420_to_av_frame(Yuv420(y=yuv.y[i], u=yuv.u[i], v=yuv.v[i]))
                frame.pts = i
                packets += ctx.encode(frame)
            packets += ctx.encode(None)
        except av.error.FFmpegError as exc:
            raise ExternalToolError(f"libx265 failed on a {yuv.width}x{yuv.height}x{t} video at qp={qp}: {exc}") from exc
        bitstream = b"".join(bytes(p) for p in packets)
        t1 = time.perf_counter()
        decoded = decode_hevc(bitstream, t, yuv.height, yuv.width)
        return AnchorOutput(bitstream=bitstream, decoded=decoded,
                            timings={"encode_s": t1 - t0, "decode_s": time.perf_counter() - t1})


def decode_hevc(bitstream: bytes, num_frames: int, height: int, width: int) -> Yuv420:
    """An Annex-B HEVC stream -> its ``num_frames`` decoded 4:2:0 pictures (FFmpeg's decoder)."""
    ctx = av.CodecContext.create("hevc", "r")
    ctx.thread_count = 1
    try:
        frames = []
        for packet in ctx.parse(bitstream) + ctx.parse(None):
            frames += ctx.decode(packet)
        frames += ctx.decode(None)
    except av.error.FFmpegError as exc:
        raise BitstreamError(f"the HEVC decoder rejected the {len(bitstream)}-byte anchor stream ({exc})") from exc
    if len(frames) != num_frames:
        raise BitstreamError(f"the HEVC anchor stream decoded to {len(frames)} pictures, {num_frames} were coded")
    planes = [av_frame_to_yuv420(f) for f in frames]
    if planes[0].y.shape != (height, width):
        raise BitstreamError(f"the HEVC anchor stream decoded to {planes[0].width}x{planes[0].height}, "
                             f"expected {width}x{height}")
    return Yuv420(y=np.stack([p.y for p in planes]), u=np.stack([p.u for p in planes]),
                  v=np.stack([p.v for p in planes]))
