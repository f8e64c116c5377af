"""HEVC intra key frames through PyAV's libx265 encoder and FFmpeg's ``hevc`` decoder.

Pipeline: uint8 RGB ``[H, W, 3]`` -> edge-replicated (bottom/right) to even H, W of at
least 16 (libx265's minimum) -> Y'CbCr 4:2:0 with
:mod:`dynamics_codec.io.color` (not swscale) -> one ``yuv420p`` frame -> libx265 with a
constant QP, every frame an IDR (``keyint=1``), no B-frames, no info SEI (x265 otherwise
writes its version and whole option string: measured 2260 bytes = 18 kbit, more than the
whole motion budget of a clip), single-threaded frame encoding ->
raw Annex-B bytes (VPS, SPS, PPS, one IDR slice). Decoding reverses this and crops back to
the true size stored in the payload header.

QP: ``ipratio=1`` so that the coded I-slice QP equals the requested ``qp`` (x265's default
``ipratio=1.4`` would code an I-frame about 3 QP finer than ``--qp`` asks), making "QP 32"
mean the same as for the VTM anchor.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from dynamics_codec.errors import BitstreamError, ConfigError, ExternalToolError
from dynamics_codec.io.color import rgb_to_yuv420, yuv420_to_rgb
from dynamics_codec.io.pyav_frames import av_frame_to_yuv420, yuv420_to_av_frame
from dynamics_codec.keyframe.base import KeyframeCodec, KeyframeHeader

# libx265 refuses pictures smaller than this on either side (measured: 8x8 and 18x10 fail,
# 16x16 works); smaller images are edge-padded up to it and cropped back on decode.
MIN_CODED_SIDE = 16

__all__ = ["X265KeyframeCodec", "X265_PRESETS", "coded_size"]

X265_PRESETS: tuple[str, ...] = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)


def coded_size(height: int, width: int) -> tuple[int, int]:
    """The ``(H, W)`` actually coded for an image of ``height`` x ``width``: even and >= 16 per side."""
    return max(MIN_CODED_SIDE, height + height % 2), max(MIN_CODED_SIDE, width + width % 2)


class X265KeyframeCodec(KeyframeCodec):
    """HEVC (Main profile, 8-bit 4:2:0) intra coding of one image at a constant QP in 0..51.

    Args:
        preset: x265 speed/efficiency preset (default ``"medium"``).
        tune: optional x265 tune (e.g. ``"psnr"``, ``"ssim"``); ``None`` for none.
        extra_params: extra ``key=value`` x265 parameters appended to ours (``:``-separated).
    """

    name = "x265"
    codec_id = 1
    qp_range = (0, 51)

    def __init__(self, preset: str = "medium", tune: str | None = None, extra_params: str = "") -> None:
        if preset not in X265_PRESETS:
            raise ConfigError(f"x265 preset must be one of {X265_PRESETS}, found {preset!r}")
        self.preset = preset
        self.tune = tune
        self.extra_params = extra_params.strip(":")

    def x265_params(self, qp: int) -> str:
        """The ``x265-params`` string for a constant-QP, intra-only, deterministic encode."""
        params = [
            f"qp={qp}",
            "ipratio=1",
            "keyint=1",
            "min-keyint=1",
            "bframes=0",
            "scenecut=0",
            "info=0",
            "hash=0",
            "aud=0",
            "repeat-headers=0",
            "frame-threads=1",
            "log-level=none",
        ]
        if self.extra_params:
            params.append(self.extra_params)
        return ":".join(params)

    def encode_bitstream(self, rgb: np.ndarray, qp: int) -> bytes:
        coded_h, coded_w = coded_size(rgb.shape[0], rgb.shape[1])
        padded = np.pad(rgb, ((0, coded_h - rgb.shape[0]), (0, coded_w - rgb.shape[1]), (0, 0)), mode="edge")
        yuv = rgb_to_yuv420(padded)
        try:
            ctx = av.CodecContext.create("libx265", "w")
        except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover - depends on the PyAV build
            raise ExternalToolError(f"PyAV has no libx265 encoder ({exc}); install a PyAV wheel built with x265 "
                                    "(the PyPI 'av' wheels are)") from exc
        ctx.width, ctx.height = yuv.width, yuv.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 25)
        ctx.thread_count = 1
        options = {"preset": self.preset, "x265-params": self.x265_params(qp)}
        if self.tune:
            options["tune"] = self.tune
        ctx.options = options
        frame = yuv420_to_av_frame(yuv)
        frame.pts = 0
        try:
            packets = list(ctx.encode(frame)) + list(ctx.encode(None))
        except av.error.FFmpegError as exc:
            raise ExternalToolError(
                f"libx265 failed to encode a {yuv.width}x{yuv.height} frame at qp={qp}: {exc}") from exc
        return b"".join(bytes(p) for p in packets)

    def decode_bitstream(self, bitstream: bytes, header: KeyframeHeader) -> np.ndarray:
        coded_h, coded_w = coded_size(header.height, header.width)
        ctx = av.CodecContext.create("hevc", "r")
        ctx.thread_count = 1
        ctx.options = {"err_detect": "explode"}  # fail on damage instead of concealing it (the CRC catches most first)
        try:
            frames = list(ctx.decode(av.Packet(bitstream))) + list(ctx.decode(None))
        except av.error.FFmpegError as exc:
            raise BitstreamError(f"x265 key frame: the HEVC decoder rejected the {len(bitstream)}-byte bitstream "
                                 f"({exc})") from exc
        if len(frames) != 1:
            raise BitstreamError(f"x265 key frame: expected exactly one decoded picture, found {len(frames)}")
        frame = frames[0]
        if (frame.width, frame.height) != (coded_w, coded_h) or frame.format.name != "yuv420p":
            raise BitstreamError(f"x265 key frame: decoded a {frame.width}x{frame.height} {frame.format.name} picture, "
                                 f"expected {coded_w}x{coded_h} yuv420p from the payload header")
        rgb = yuv420_to_rgb(av_frame_to_yuv420(frame))
        return np.ascontiguousarray(rgb[: header.height, : header.width])
