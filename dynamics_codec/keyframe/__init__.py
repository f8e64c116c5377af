"""Key-frame image codecs behind one interface (:class:`KeyframeCodec`).

* ``x265``: HEVC intra through PyAV's libx265 (always available with the PyPI ``av`` wheel).
* ``vtm``: VVC intra through the VTM 22.2 reference binaries (user-provided, see third_party/README.md).

Payloads are self-describing (codec id, version, size, qp, CRC-16); :func:`decode_keyframe`
dispatches on the codec id. A payload's rate is ``payload_bits(data) == 8 * len(data)``.
"""

from dynamics_codec.keyframe.base import (
    FORMAT_VERSION,
    HEADER_SIZE,
    KeyframeCodec,
    KeyframeHeader,
    pack_payload,
    payload_bits,
    unpack_payload,
)
from dynamics_codec.keyframe.registry import (
    KEYFRAME_CODECS,
    decode_keyframe,
    get_keyframe_codec,
    keyframe_codec_class_for_id,
    keyframe_codec_names,
)
from dynamics_codec.keyframe.vtm import VtmKeyframeCodec, VtmTools, find_vtm_tools
from dynamics_codec.keyframe.x265 import X265KeyframeCodec

__all__ = [
    "KeyframeCodec",
    "KeyframeHeader",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "pack_payload",
    "unpack_payload",
    "payload_bits",
    "KEYFRAME_CODECS",
    "get_keyframe_codec",
    "decode_keyframe",
    "keyframe_codec_class_for_id",
    "keyframe_codec_names",
    "X265KeyframeCodec",
    "VtmKeyframeCodec",
    "VtmTools",
    "find_vtm_tools",
]
