"""The key frame alone: our key-frame codec at a QP, its decoded picture shown for every frame.

``static`` is the curve our codec must beat first: the same key frame (codec, settings, QP)
with no motion bits at all, so the gap between it and ``ours`` in every RD plot and BD-rate
table is what the motion bits buy. The rate is the key-frame payload exactly as our stream
carries it (``8 * len(payload)``: the 9-byte payload header and the codec's bitstream; our
stream adds its own header and the motion payload). The key-frame codec sees the original RGB
frame as in our encoder (no extra colour conversion), so at equal QP frame 0 of ``static``
is bit-exactly frame 0 of ``ours``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dynamics_codec.anchors.base import AnchorCodec, AnchorOutput
from dynamics_codec.errors import ConfigError
from dynamics_codec.io.color import Yuv420

__all__ = ["StaticAnchor"]


class StaticAnchor(AnchorCodec):
    """Key frame only, repeated.

    Args:
        keyframe: the key-frame codec's config section as our encoder gets it (``name`` = ``x265`` |
            ``vtm`` plus its options; ``qp`` is ignored: the anchor's QP is the rate point).
    """

    name = "static"

    def __init__(self, keyframe: dict[str, Any] | None = None) -> None:
        from dynamics_codec.keyframe import get_keyframe_codec

        opts = dict(keyframe or {"name": "x265"})
        opts.pop("qp", None)
        codec_name = opts.pop("name", None)
        if not codec_name:
            raise ConfigError("the static anchor needs its key-frame codec: anchors.static.keyframe.name=x265 (or vtm)")
        self.keyframe_name = str(codec_name)
        self.keyframe_options = opts
        self.codec = get_keyframe_codec(self.keyframe_name, **opts)
        self.qp_range = tuple(self.codec.qp_range)

    def version(self) -> str:
        if self.keyframe_name == "x265":
            import av

            from dynamics_codec.anchors.x265 import x265_version

            return f"key frame only: x265 {x265_version()} via PyAV {av.__version__}"
        if self.keyframe_name == "vtm":
            from dynamics_codec.utils.files import sha256_file

            tools = self.codec.tools
            return (f"key frame only: VTM encoder sha256:{sha256_file(tools.encoder)[:16]} decoder "
                    f"sha256:{sha256_file(tools.decoder)[:16]} cfg sha256:{sha256_file(tools.intra_cfg)[:16]}")
        return f"key frame only: {self.keyframe_name}"  # pragma: no cover - only x265 and vtm are registered

    def settings(self) -> dict[str, Any]:
        opts = {k: v for k, v in self.keyframe_options.items() if k not in ("bin_dir", "cfg_dir", "timeout_s")}
        return {"keyframe_codec": self.keyframe_name, "keyframe_options": opts,
                "structure": "the decoded key frame shown for every frame (no motion)"}

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "keyframe": {"name": self.keyframe_name, **self.keyframe_options}}

    def encode_decode(self, yuv: Yuv420, fps: float, qp: int) -> AnchorOutput:
        raise ConfigError("the static anchor codes the RGB key frame as our encoder does; call encode_video(frames, "
                          "fps, qp) (encode_one and encode_anchor_points do)")

    def encode_video(self, frames: np.ndarray, fps: float, qp: int) -> AnchorOutput:
        from dynamics_codec.anchors.base import video_to_yuv420

        video_to_yuv420(frames[:1])  # the same input checks as every anchor
        qp = self.check_qp(qp, *self.qp_range)
        t0 = time.perf_counter()
        payload = self.codec.encode(frames[0], qp)
        t1 = time.perf_counter()
        key = self.codec.decode(payload)
        return AnchorOutput(bitstream=payload, decoded=None, still=key, num_frames=int(frames.shape[0]),
                            timings={"encode_s": t1 - t0, "decode_s": time.perf_counter() - t1})
