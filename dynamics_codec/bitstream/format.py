"""The ``.dcv`` file format: one file per video, header + key-frame payload + motion payload.

Layout (format version 2; ``varint`` = minimal unsigned LEB128, floats little-endian)::

    magic            3 bytes   b"DCV"
    version          1 byte    FORMAT_VERSION
    width, height    varint    pixels, even, 2..8192
    frames           varint    total frames including the key frame, 1..100000
    fps_num, fps_den varint    frame rate as an exact rational, each 1..1000000
    V, N             varint    token vectors and values per vector, >= 1, V*N <= 4096
    layout           varint    bit 0 alpha stored, bit 1 tokenizer hash, bit 2 generator
                               hash; bits 3.. the user ``flags`` (< 2^16)
    step             float32   quantisation step, exact bits, finite > 0
    alpha            float32   prediction factor, finite (only if layout bit 0; else 1.0)
    entropy_params   varint    packed entropy-coder parameters (< 2^32)
    keyframe_codec   varint    :class:`KeyframeCodecId`
    keyframe_params  varint count (<= 8) then that many varints (< 2^32), e.g. (QP,)
    tokenizer_hash   8 bytes   first 8 bytes of the SHA-256 of the tokenizer weights (bit 1)
    generator_hash   8 bytes   same for the generator weights (bit 2)
    keyframe_len     varint    bytes of key-frame payload (<= MAX_PAYLOAD_BYTES)
    motion_len       varint    bytes of motion payload (<= MAX_PAYLOAD_BYTES)
    checksum         4 bytes   CRC-32 (``zlib.crc32``, little-endian) of every byte above (magic to
                               motion_len) followed by the motion payload
    keyframe payload, motion payload; nothing after them.

The motion payload codes, for each of the ``frames - 1`` inter frames, a motion flag and, for
frames with motion, ``V x N`` token indices (:mod:`dynamics_codec.entropy.binarization`).
The checksum is verified before anything is decoded: every single-bit error (and every burst
of up to 32 bits) in the header or the motion payload is detected, other damage with
probability 1 - 2^-32; the key-frame payload carries its own CRC-16
(:mod:`dynamics_codec.keyframe.base`). Nothing else protects the motion payload: the range
decoder turns a flipped bit into different, plausible motion.

Version history: 1 had no motion flags (every inter frame coded its tokens) and no checksum;
version 2 added both. A decoder reads exactly its own version and names the difference for
older streams. A typical header (384x384, 50 frames at 25/1 fps, 2x20 tokens, one QP, no
hashes) is 24 bytes of fields + 2-4 bytes of section lengths + 4 bytes of checksum; each
weights hash adds 8 bytes.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from fractions import Fraction

import numpy as np

from ..errors import BitstreamError
from .bytes_io import ByteReader, encode_varint

MAGIC = b"DCV"
FORMAT_VERSION = 2
MAX_DIMENSION = 8192
MAX_FRAMES = 100_000
MAX_FPS_TERM = 1_000_000
MAX_TOKENS_PER_FRAME = 4096
MAX_FLAGS = 1 << 16
MAX_PARAM_VALUE = 1 << 32
MAX_KEYFRAME_PARAMS = 8
MAX_PAYLOAD_BYTES = 1 << 30
HASH_BYTES = 8
_CHECKSUM = struct.Struct("<I")
#: what older format versions lacked, for the error message
_OLD_VERSIONS = {1: "version 1 streams have no per-frame motion flags and no checksum"}

_ALPHA_BIT, _TOKENIZER_BIT, _GENERATOR_BIT = 1, 2, 4
_LAYOUT_BITS = 3


class KeyframeCodecId(IntEnum):
    """Key-frame codec identifiers stored in the header (extend, never renumber).

    They are the ``codec_id`` of the key-frame codecs in :mod:`dynamics_codec.keyframe` (the
    first byte of their self-describing payloads), so the header and the payload agree.
    """

    NONE = 0
    X265 = 1
    VTM = 2


@dataclass(frozen=True)
class StreamHeader:
    """Everything a decoder needs besides the two payloads. Invalid values raise
    BitstreamError on construction; ``step`` and ``alpha`` are rounded to float32."""

    width: int
    height: int
    frames: int
    fps_num: int
    fps_den: int
    token_vectors: int
    token_values: int
    step: float
    alpha: float = 1.0
    entropy_params: int = 0
    keyframe_codec: int = KeyframeCodecId.NONE
    keyframe_params: tuple[int, ...] = field(default_factory=tuple)
    tokenizer_hash: bytes | None = None
    generator_hash: bytes | None = None
    flags: int = 0

    def __post_init__(self) -> None:
        _check_int("width", self.width, 2, MAX_DIMENSION)
        _check_int("height", self.height, 2, MAX_DIMENSION)
        if self.width % 2 or self.height % 2:
            raise BitstreamError(f"width and height must be even, got {self.width}x{self.height}")
        _check_int("frames", self.frames, 1, MAX_FRAMES)
        _check_int("fps_num", self.fps_num, 1, MAX_FPS_TERM)
        _check_int("fps_den", self.fps_den, 1, MAX_FPS_TERM)
        _check_int("token_vectors", self.token_vectors, 1, MAX_TOKENS_PER_FRAME)
        _check_int("token_values", self.token_values, 1, MAX_TOKENS_PER_FRAME)
        if self.token_vectors * self.token_values > MAX_TOKENS_PER_FRAME:
            raise BitstreamError(
                f"V*N must be <= {MAX_TOKENS_PER_FRAME}, got {self.token_vectors}*{self.token_values}"
            )
        step = _float32(self.step, "step")
        if not step > 0.0:
            raise BitstreamError(f"step must be a finite float32 > 0, got {self.step!r}")
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "alpha", _float32(self.alpha, "alpha"))
        _check_int("entropy_params", self.entropy_params, 0, MAX_PARAM_VALUE - 1)
        _check_int("keyframe_codec", self.keyframe_codec, 0, MAX_PARAM_VALUE - 1)
        if self.keyframe_codec not in KeyframeCodecId.__members__.values():
            raise BitstreamError(
                f"unknown key-frame codec id {self.keyframe_codec}; known: "
                f"{', '.join(f'{m.value}={m.name}' for m in KeyframeCodecId)}"
            )
        object.__setattr__(self, "keyframe_codec", KeyframeCodecId(self.keyframe_codec))
        params = tuple(self.keyframe_params)
        if len(params) > MAX_KEYFRAME_PARAMS:
            raise BitstreamError(f"at most {MAX_KEYFRAME_PARAMS} key-frame parameters, got {len(params)}")
        for i, value in enumerate(params):
            _check_int(f"keyframe_params[{i}]", value, 0, MAX_PARAM_VALUE - 1)
        object.__setattr__(self, "keyframe_params", tuple(int(v) for v in params))
        for name in ("tokenizer_hash", "generator_hash"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (bytes, bytearray)) or len(value) != HASH_BYTES):
                raise BitstreamError(f"{name} must be None or {HASH_BYTES} bytes, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, bytes(value))
        _check_int("flags", self.flags, 0, MAX_FLAGS - 1)

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    @property
    def inter_frames(self) -> int:
        """T: frames coded in the motion payload (all but the key frame)."""
        return self.frames - 1

    @property
    def token_shape(self) -> tuple[int, int, int]:
        """``(T, V, N)`` of the motion payload's token indices."""
        return self.inter_frames, self.token_vectors, self.token_values

    def to_bytes(self) -> bytes:
        """The header fields (everything before the two section lengths)."""
        layout = (
            (_ALPHA_BIT if self.alpha != 1.0 else 0)
            | (_TOKENIZER_BIT if self.tokenizer_hash is not None else 0)
            | (_GENERATOR_BIT if self.generator_hash is not None else 0)
            | (self.flags << _LAYOUT_BITS)
        )
        out = bytearray(MAGIC)
        out.append(FORMAT_VERSION)
        for value in (self.width, self.height, self.frames, self.fps_num, self.fps_den,
                      self.token_vectors, self.token_values, layout):
            out += encode_varint(value)
        out += struct.pack("<f", self.step)
        if layout & _ALPHA_BIT:
            out += struct.pack("<f", self.alpha)
        out += encode_varint(self.entropy_params)
        out += encode_varint(int(self.keyframe_codec))
        out += encode_varint(len(self.keyframe_params))
        for value in self.keyframe_params:
            out += encode_varint(value)
        for digest in (self.tokenizer_hash, self.generator_hash):
            if digest is not None:
                out += digest
        return bytes(out)


@dataclass(frozen=True)
class ParsedStream:
    """A validated stream: header, payloads, and exact bits per part (sum = 8 * file size)."""

    header: StreamHeader
    keyframe_payload: bytes
    motion_payload: bytes
    bits: dict[str, int]


def pack_stream(header: StreamHeader, keyframe_payload: bytes, motion_payload: bytes) -> bytes:
    """Serialise one video's stream."""
    for name, payload in (("keyframe_payload", keyframe_payload), ("motion_payload", motion_payload)):
        if not isinstance(payload, (bytes, bytearray)) or len(payload) > MAX_PAYLOAD_BYTES:
            raise BitstreamError(f"{name} must be bytes of at most {MAX_PAYLOAD_BYTES} bytes")
    head = b"".join((header.to_bytes(), encode_varint(len(keyframe_payload)), encode_varint(len(motion_payload))))
    checksum = _CHECKSUM.pack(zlib.crc32(motion_payload, zlib.crc32(head)))
    return b"".join((head, checksum, bytes(keyframe_payload), bytes(motion_payload)))


@dataclass
class _Sections:
    """A stream cut at its boundaries, nothing validated beyond the structure."""

    fields: dict
    head: bytes  # magic .. motion_len: what the checksum covers besides the motion payload
    stored_checksum: int
    keyframe_payload: bytes
    motion_payload: bytes

    def checksum(self) -> int:
        return zlib.crc32(self.motion_payload, zlib.crc32(self.head))


def _cut(data: bytes) -> _Sections:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"a stream must be bytes, got {type(data).__name__}")
    reader = ByteReader(bytes(data))
    magic = reader.take(len(MAGIC), "magic")
    if magic != MAGIC:
        raise BitstreamError(f"not a .dcv stream: magic {magic!r}, expected {MAGIC!r}")
    version = reader.take(1, "format version")[0]
    if version != FORMAT_VERSION:
        if version > FORMAT_VERSION:
            why = " (from a newer encoder: update dynamics_codec)"
        elif version in _OLD_VERSIONS:
            why = f" ({_OLD_VERSIONS[version]}; re-encode the video with this version's encode.py)"
        else:
            why = ""
        raise BitstreamError(f"unsupported .dcv format version {version}, this decoder reads {FORMAT_VERSION}{why}")
    names = ("width", "height", "frames", "fps_num", "fps_den", "token_vectors", "token_values", "layout")
    f = {name: reader.varint(name) for name in names}
    f["step"] = reader.float32("step")
    f["alpha"] = reader.float32("alpha") if f["layout"] & _ALPHA_BIT else 1.0
    f["entropy_params"] = reader.varint("entropy_params")
    f["keyframe_codec"] = reader.varint("keyframe_codec")
    count = reader.varint("keyframe parameter count")
    if count > MAX_KEYFRAME_PARAMS:
        raise BitstreamError(f"{count} key-frame parameters declared, at most {MAX_KEYFRAME_PARAMS} allowed")
    f["keyframe_params"] = tuple(reader.varint(f"keyframe_params[{i}]") for i in range(count))
    f["tokenizer_hash"] = reader.take(HASH_BYTES, "tokenizer hash") if f["layout"] & _TOKENIZER_BIT else None
    f["generator_hash"] = reader.take(HASH_BYTES, "generator hash") if f["layout"] & _GENERATOR_BIT else None
    keyframe_len = reader.varint("keyframe payload length")
    motion_len = reader.varint("motion payload length")
    head = bytes(reader.data[: reader.pos])
    (stored,) = _CHECKSUM.unpack(reader.take(_CHECKSUM.size, "checksum"))
    if keyframe_len + motion_len != reader.remaining:
        raise BitstreamError(
            f"section lengths (key frame {keyframe_len} + motion {motion_len} bytes) do not match the "
            f"{reader.remaining} bytes after the header: "
            + ("truncated stream" if keyframe_len + motion_len > reader.remaining else "trailing garbage")
        )
    keyframe_payload = reader.take(keyframe_len, "key-frame payload")
    return _Sections(f, head, stored, keyframe_payload, reader.take(motion_len, "motion payload"))


def parse_stream(data: bytes) -> ParsedStream:
    """Parse and validate a whole stream; raises BitstreamError on anything malformed.

    The checksum is verified before any field is interpreted (and before any payload is decoded).
    """
    cut = _cut(data)
    computed = cut.checksum()
    if computed != cut.stored_checksum:
        raise BitstreamError(
            f"checksum mismatch (stored {cut.stored_checksum:#010x}, computed {computed:#010x}): the header or the "
            "motion payload is corrupt; get an intact copy of the stream"
        )
    f = dict(cut.fields)
    layout = f.pop("layout")
    if layout & _ALPHA_BIT and f["alpha"] == 1.0:
        raise BitstreamError("alpha is stored although it equals the default 1.0 (non-canonical header)")
    header = StreamHeader(**f, flags=layout >> _LAYOUT_BITS)
    bits = {"header": 8 * (len(cut.head) + _CHECKSUM.size), "keyframe": 8 * len(cut.keyframe_payload),
            "motion": 8 * len(cut.motion_payload)}
    bits["total"] = bits["header"] + bits["keyframe"] + bits["motion"]
    return ParsedStream(header, cut.keyframe_payload, cut.motion_payload, bits)


def recompute_checksum(data: bytes) -> bytes:
    """``data`` with its checksum recomputed (structure checked, fields not): for tools that edit
    a stream on purpose, e.g. fuzzing the decoder behind the checksum."""
    cut = _cut(data)
    return cut.head + _CHECKSUM.pack(cut.checksum()) + cut.keyframe_payload + cut.motion_payload


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= int(value) <= high:
        raise BitstreamError(f"header field {name} must be an integer in [{low}, {high}], got {value!r}")


def _float32(value: object, name: str) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        raise BitstreamError(f"header field {name} must be a number, got {value!r}")
    with np.errstate(over="ignore"):
        result = float(np.float32(value))
    if not math.isfinite(result):
        raise BitstreamError(f"header field {name} must be a finite float32, got {value!r}")
    return result
