"""The key-frame codec interface and the self-describing payload every backend produces.

A key-frame payload is what :meth:`KeyframeCodec.encode` returns; its size in bits
(``8 * len(payload)``, header included) is what the codec reports as the key frame's rate.

Payload layout, format version 1 (big-endian, 9 header bytes)::

    offset size field
    0      1    codec id              (1 = x265 / HEVC intra, 2 = VTM / VVC intra)
    1      1    format version        (1)
    2      2    width  W              true image width in pixels (1..65535)
    4      2    height H              true image height in pixels (1..65535)
    6      1    qp                    the quantisation parameter it was coded at
    7      2    CRC-16/CCITT-FALSE    over bytes [0, 7) and the bitstream (``binascii.crc_hqx``, init 0xFFFF)
    9      ...  bitstream             the backend's raw Annex-B bitstream

The decoder needs no side information: the codec id picks the backend, W/H undo the
even-size padding. The checksum turns truncation and corruption into a clear
:class:`~dynamics_codec.errors.BitstreamError` before any third-party decoder sees the data
(undetected with probability 2^-16 for random damage).
"""

from __future__ import annotations

import abc
import binascii
import struct
from dataclasses import dataclass

import numpy as np

from dynamics_codec.errors import BitstreamError, ConfigError, InputError

__all__ = [
    "KeyframeCodec",
    "KeyframeHeader",
    "HEADER_SIZE",
    "FORMAT_VERSION",
    "pack_payload",
    "unpack_payload",
    "payload_bits",
    "check_rgb_image",
    "pad_to_even",
]

FORMAT_VERSION: int = 1
_HEADER = struct.Struct(">BBHHB")  # codec id, version, width, height, qp
_CRC = struct.Struct(">H")
HEADER_SIZE: int = _HEADER.size + _CRC.size
_MAX_SIDE = 0xFFFF


@dataclass(frozen=True)
class KeyframeHeader:
    """Fields of a key-frame payload header (see the module docstring for the byte layout)."""

    codec_id: int
    width: int
    height: int
    qp: int
    version: int = FORMAT_VERSION


def _crc16(head: bytes, bitstream: bytes) -> int:
    return binascii.crc_hqx(bitstream, binascii.crc_hqx(head, 0xFFFF))


def pack_payload(header: KeyframeHeader, bitstream: bytes) -> bytes:
    """Header + checksum + ``bitstream`` -> the payload bytes."""
    if not (1 <= header.width <= _MAX_SIDE and 1 <= header.height <= _MAX_SIDE):
        raise InputError(f"key-frame size must be 1..{_MAX_SIDE} pixels per side, found {header.width}x{header.height}")
    if not (0 <= header.codec_id <= 255 and 0 <= header.qp <= 255):
        raise ConfigError(f"codec id and qp must fit one byte, found id={header.codec_id}, qp={header.qp}")
    head = _HEADER.pack(header.codec_id, header.version, header.width, header.height, header.qp)
    return head + _CRC.pack(_crc16(head, bitstream)) + bytes(bitstream)


def unpack_payload(data: bytes, expected_codec_id: int | None = None) -> tuple[KeyframeHeader, bytes]:
    """Payload bytes -> ``(header, bitstream)``; raises :class:`BitstreamError` on any inconsistency."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"a key-frame payload must be bytes, found {type(data).__name__}")
    data = bytes(data)
    if len(data) <= HEADER_SIZE:
        raise BitstreamError(f"key-frame payload truncated: {len(data)} bytes, but the header alone takes "
                             f"{HEADER_SIZE} and a bitstream must follow")
    codec_id, version, width, height, qp = _HEADER.unpack_from(data, 0)
    if expected_codec_id is not None and codec_id != expected_codec_id:
        raise BitstreamError(f"key-frame payload has codec id {codec_id}, this decoder handles id {expected_codec_id}; "
                             "use dynamics_codec.keyframe.decode_keyframe to dispatch on the id")
    if version != FORMAT_VERSION:
        raise BitstreamError(f"key-frame payload format version {version} is not supported (this build reads "
                             f"version {FORMAT_VERSION}); re-encode it or update dynamics_codec")
    if width == 0 or height == 0:
        raise BitstreamError(f"key-frame payload declares an empty image ({width}x{height})")
    (crc_stored,) = _CRC.unpack_from(data, _HEADER.size)
    bitstream = data[HEADER_SIZE:]
    crc = _crc16(data[:_HEADER.size], bitstream)
    if crc != crc_stored:
        raise BitstreamError(f"key-frame payload checksum mismatch (stored {crc_stored:#06x}, computed {crc:#06x}): "
                             f"the {len(data)}-byte payload is corrupted or truncated")
    return KeyframeHeader(codec_id=codec_id, width=width, height=height, qp=qp, version=version), bitstream


def payload_bits(data: bytes) -> int:
    """The rate of a key-frame payload in bits: exactly ``8 * len(data)`` (header included)."""
    return 8 * len(data)


def check_rgb_image(rgb: np.ndarray) -> np.ndarray:
    """Validate one uint8 RGB image ``[H, W, 3]`` (1 <= H, W <= 65535); returns it C-contiguous."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise InputError(f"key frame must be a uint8 numpy array [H,W,3], found "
                         f"{getattr(rgb, 'dtype', type(rgb).__name__)}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"key frame must have shape [H,W,3], found {rgb.shape}")
    h, w = rgb.shape[:2]
    if not (1 <= h <= _MAX_SIDE and 1 <= w <= _MAX_SIDE):
        raise InputError(f"key frame size must be 1..{_MAX_SIDE} pixels per side, found {w}x{h} (WxH)")
    return np.ascontiguousarray(rgb)


def pad_to_even(rgb: np.ndarray) -> np.ndarray:
    """Edge-replicate ``[H, W, 3]`` on the bottom/right to even H and W (4:2:0 needs both even)."""
    h, w = rgb.shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    return np.pad(rgb, pad, mode="edge") if (h % 2 or w % 2) else rgb


class KeyframeCodec(abc.ABC):
    """A still-image codec for the key frame: uint8 RGB ``[H, W, 3]`` <-> self-describing bytes.

    Subclasses set ``name`` (registry name), ``codec_id`` (the payload's first byte),
    ``qp_range`` (inclusive) and implement :meth:`encode_bitstream` / :meth:`decode_bitstream`
    on the raw bitstream; the header and checksum are handled here.
    """

    name: str = ""
    codec_id: int = 0
    qp_range: tuple[int, int] = (0, 51)

    def check_qp(self, qp: int) -> int:
        lo, hi = self.qp_range
        if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)) or not lo <= int(qp) <= hi:
            raise ConfigError(f"{self.name}: qp must be an integer in {lo}..{hi}, found {qp!r}")
        return int(qp)

    def encode(self, rgb: np.ndarray, qp: int) -> bytes:
        """uint8 RGB ``[H, W, 3]`` at quantisation parameter ``qp`` -> payload bytes (header included)."""
        rgb = check_rgb_image(rgb)
        qp = self.check_qp(qp)
        bitstream = self.encode_bitstream(rgb, qp)
        if not bitstream:
            raise BitstreamError(f"{self.name}: the encoder produced an empty bitstream")
        header = KeyframeHeader(codec_id=self.codec_id, width=rgb.shape[1], height=rgb.shape[0], qp=qp)
        return pack_payload(header, bitstream)

    def decode(self, data: bytes) -> np.ndarray:
        """Payload bytes -> uint8 RGB ``[H, W, 3]`` at the size that was encoded."""
        header, bitstream = unpack_payload(data, expected_codec_id=self.codec_id)
        rgb = self.decode_bitstream(bitstream, header)
        if rgb.shape != (header.height, header.width, 3) or rgb.dtype != np.uint8:
            raise BitstreamError(f"{self.name}: decoded image has shape {rgb.shape} {rgb.dtype}, the header declares "
                                 f"{header.height}x{header.width}x3 uint8")
        return rgb

    @abc.abstractmethod
    def encode_bitstream(self, rgb: np.ndarray, qp: int) -> bytes:
        """uint8 RGB ``[H, W, 3]`` (validated) -> the backend's raw bitstream."""

    @abc.abstractmethod
    def decode_bitstream(self, bitstream: bytes, header: KeyframeHeader) -> np.ndarray:
        """Raw bitstream + header -> uint8 RGB ``[header.height, header.width, 3]``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, codec_id={self.codec_id})"
