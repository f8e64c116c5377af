"""On-disk cache of anchor encodes: bitstream + decoded planes + metadata, keyed by what decides them.

Key = SHA-256 of ``{clip hash, codec name, codec settings (cfg name and content hash, preset,
...), QP, encoder version}``. Layout: ``<root>/<codec>/<key[:2]>/<key>/`` holding
``stream.bin`` (the exact bitstream; its size is the rate), ``decoded.yuv`` (8-bit planar I420
at the coded size; ``still.npy``, one uint8 RGB picture, for an anchor that shows one picture
throughout) and ``meta.json``. Entries are written to a temporary folder and renamed,
so a crash never leaves a half entry and concurrent writers of one key are harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dynamics_codec.anchors.base import AnchorCodec, AnchorOutput, yuv420_to_video
from dynamics_codec.anchors.vtm import read_yuv420_file
from dynamics_codec.utils.files import atomic_output_path

__all__ = ["AnchorCache", "CachedAnchorPoint", "CACHE_FORMAT"]

CACHE_FORMAT = 1


@dataclass
class CachedAnchorPoint:
    """One cached (clip, codec, QP) encode."""

    folder: Path
    meta: dict[str, Any]
    hit: bool = True  # False when this call encoded it

    @property
    def bits(self) -> int:
        return int(self.meta["bits"])

    @property
    def bitstream(self) -> bytes:
        return (self.folder / "stream.bin").read_bytes()

    def decoded_video(self) -> np.ndarray:
        """uint8 RGB ``[T, H, W, 3]`` at the clip's true size (via the project's 4:2:0 -> RGB conversion)."""
        m = self.meta
        if m.get("decoded") == "still":
            still = np.load(self.folder / "still.npy", allow_pickle=False)
            return np.ascontiguousarray(np.repeat(still[None], int(m["num_frames"]), axis=0))
        yuv = read_yuv420_file(self.folder / "decoded.yuv", m["num_frames"], m["coded_height"], m["coded_width"])
        return yuv420_to_video(yuv, m["height"], m["width"])


class AnchorCache:
    """Anchor results under ``root`` (created on first store)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @staticmethod
    def key(clip_hash: str, anchor: AnchorCodec, qp: int) -> str:
        ident = {"format": CACHE_FORMAT, "clip": clip_hash, "codec": anchor.name, "settings": anchor.settings(),
                 "qp": int(qp), "version": anchor.version()}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def folder(self, codec: str, key: str) -> Path:
        return self.root / codec / key[:2] / key

    def load(self, codec: str, key: str) -> CachedAnchorPoint | None:
        folder = self.folder(codec, key)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError:
            return None
        stream = folder / "stream.bin"
        if meta.get("key") != key or not stream.is_file() or stream.stat().st_size * 8 != meta.get("bits"):
            return None
        return CachedAnchorPoint(folder=folder, meta=meta, hit=True)

    def store(self, key: str, anchor: AnchorCodec, output: AnchorOutput, *, clip_hash: str, qp: int, fps: float,
              height: int, width: int) -> CachedAnchorPoint:
        folder = self.folder(anchor.name, key)
        meta = {
            "format": CACHE_FORMAT, "key": key, "clip_hash": clip_hash, "codec": anchor.name, "qp": int(qp),
            "version": anchor.version(), "reported_version": getattr(anchor, "reported_version", None),
            "settings": anchor.settings(), "num_frames": output.frames,
            "height": int(height), "width": int(width), "fps": float(fps), "bits": 8 * len(output.bitstream),
            "timings": output.timings, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if output.still is not None:
            meta["decoded"] = "still"
        else:
            meta.update(coded_height=output.decoded.height, coded_width=output.decoded.width)
        with atomic_output_path(folder, suffix="") as tmp:
            tmp.mkdir(parents=True)
            (tmp / "stream.bin").write_bytes(output.bitstream)
            if output.still is not None:
                with open(tmp / "still.npy", "wb") as f:
                    np.save(f, np.ascontiguousarray(output.still, dtype=np.uint8), allow_pickle=False)
            else:
                (tmp / "decoded.yuv").write_bytes(output.decoded.frame_bytes())
            if output.encoder_log:
                (tmp / "encoder.log").write_text(output.encoder_log)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        return CachedAnchorPoint(folder=folder, meta=meta, hit=False)
