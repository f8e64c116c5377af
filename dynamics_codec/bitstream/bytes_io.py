"""Bounds-checked byte reading and compact integer writing (LEB128 varints).

Varints are unsigned LEB128, at most :data:`MAX_VARINT_BYTES` bytes, and must be minimal
(no redundant high zero groups): every value has exactly one encoding, so a parsed
stream packs back to the same bytes.
"""

from __future__ import annotations

import struct

from ..errors import BitstreamError

MAX_VARINT_BYTES = 5  # values < 2^35


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 of ``0 <= value < 2^35``."""
    if not isinstance(value, int) or value < 0 or value >= 1 << (7 * MAX_VARINT_BYTES):
        raise BitstreamError(f"varint value must be an int in [0, 2^{7 * MAX_VARINT_BYTES}), got {value!r}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


class ByteReader:
    """Sequential reader over ``data`` that raises BitstreamError instead of over-reading."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, count: int, what: str) -> bytes:
        if count < 0 or count > self.remaining:
            raise BitstreamError(
                f"truncated stream: {what} needs {count} bytes at offset {self.pos}, only {self.remaining} left"
            )
        chunk = bytes(self.data[self.pos: self.pos + count])
        self.pos += count
        return chunk

    def varint(self, what: str) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            if self.pos >= len(self.data):
                raise BitstreamError(f"truncated stream: varint {what} runs past the end at offset {self.pos}")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise BitstreamError(f"non-minimal varint for {what} at offset {self.pos - i - 1}")
                return value
        raise BitstreamError(f"varint {what} is longer than {MAX_VARINT_BYTES} bytes at offset {self.pos}")

    def float32(self, what: str) -> float:
        return struct.unpack("<f", self.take(4, what))[0]
