"""Anchor codecs our codec is compared with, behind one interface, with an on-disk cache.

* ``x265``: HEVC low-delay P through PyAV's libx265 (works on a fresh machine).
* ``vtm_ldb``: VVC low-delay B through VTM 22.2 (the paper's anchor, QP 37/42/47/52).
* ``vtm_intra``: VVC all-intra through VTM (every frame intra).
* ``static``: our key-frame codec alone, its decoded key frame shown for every frame.

All see the project's one RGB -> 4:2:0 conversion; results are cached by (clip hash, codec,
settings/cfg, QP, encoder version) and produced in parallel worker processes.
"""

from dynamics_codec.anchors.base import AnchorCodec, AnchorOutput, clip_hash, video_to_yuv420, yuv420_to_video
from dynamics_codec.anchors.cache import AnchorCache, CachedAnchorPoint
from dynamics_codec.anchors.runner import AnchorJob, build_anchor, encode_anchor_points, encode_one
from dynamics_codec.anchors.static import StaticAnchor
from dynamics_codec.anchors.vtm import VTM_ANCHOR_CFGS, VtmAnchor
from dynamics_codec.anchors.x265 import X265Anchor, x265_version

__all__ = [
    "AnchorCodec", "AnchorOutput", "clip_hash", "video_to_yuv420", "yuv420_to_video",
    "AnchorCache", "CachedAnchorPoint",
    "AnchorJob", "build_anchor", "encode_anchor_points", "encode_one",
    "VtmAnchor", "VTM_ANCHOR_CFGS", "X265Anchor", "x265_version", "StaticAnchor",
]
