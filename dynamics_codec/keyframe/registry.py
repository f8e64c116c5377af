"""Key-frame codec registry: names -> classes for encoding, codec-id byte -> class for decoding."""

from __future__ import annotations

from typing import Any

import numpy as np

from dynamics_codec.errors import BitstreamError, ConfigError
from dynamics_codec.keyframe.base import KeyframeCodec
from dynamics_codec.keyframe.vtm import VtmKeyframeCodec
from dynamics_codec.keyframe.x265 import X265KeyframeCodec

__all__ = ["KEYFRAME_CODECS", "keyframe_codec_names", "get_keyframe_codec", "keyframe_codec_class_for_id",
           "decode_keyframe"]

KEYFRAME_CODECS: dict[str, type[KeyframeCodec]] = {cls.name: cls for cls in (X265KeyframeCodec, VtmKeyframeCodec)}
_BY_ID: dict[int, type[KeyframeCodec]] = {cls.codec_id: cls for cls in KEYFRAME_CODECS.values()}
assert len(_BY_ID) == len(KEYFRAME_CODECS), "key-frame codec ids must be unique"


def keyframe_codec_names() -> list[str]:
    """Registered codec names, e.g. ``["vtm", "x265"]``."""
    return sorted(KEYFRAME_CODECS)


def get_keyframe_codec(name: str, **options: Any) -> KeyframeCodec:
    """A key-frame codec by name (``"x265"``, ``"vtm"``); ``options`` go to its constructor."""
    try:
        cls = KEYFRAME_CODECS[name]
    except KeyError:
        raise ConfigError(f"unknown key-frame codec {name!r}; choose one of {keyframe_codec_names()}") from None
    return cls(**options)


def keyframe_codec_class_for_id(codec_id: int) -> type[KeyframeCodec]:
    """The codec class a payload's first byte names; :class:`BitstreamError` for unknown ids."""
    try:
        return _BY_ID[codec_id]
    except KeyError:
        known = ", ".join(f"{i} ({c.name})" for i, c in sorted(_BY_ID.items()))
        raise BitstreamError(f"key-frame payload names codec id {codec_id}, which is not registered "
                             f"(known: {known}); the data is corrupted or from a newer version") from None


def decode_keyframe(data: bytes, **options: Any) -> np.ndarray:
    """Decode any key-frame payload to uint8 RGB ``[H, W, 3]``, dispatching on its codec-id byte.

    ``options`` go to the selected codec's constructor (e.g. ``bin_dir=`` for VTM).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise BitstreamError(f"key-frame payload is empty or not bytes ({type(data).__name__}, "
                             f"{len(data) if hasattr(data, '__len__') else '?'} bytes)")
    return keyframe_codec_class_for_id(bytes(data[:1])[0])(**options).decode(bytes(data))
