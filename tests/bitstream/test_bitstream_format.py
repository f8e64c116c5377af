"""The .dcv format: field round trip, exact bit accounting, malformed-stream errors, files."""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics_codec.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    KeyframeCodecId,
    StreamHeader,
    pack_stream,
    parse_stream,
    read_stream_file,
    write_stream_file,
)
from dynamics_codec.bitstream.bytes_io import ByteReader, encode_varint
from dynamics_codec.entropy import TokenCodingConfig
from dynamics_codec.errors import BitstreamError


@st.composite
def headers(draw) -> StreamHeader:
    vectors = draw(st.integers(1, 64))
    values = draw(st.integers(1, 4096 // vectors))
    finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
    return StreamHeader(
        width=2 * draw(st.integers(1, 4096)),
        height=2 * draw(st.integers(1, 4096)),
        frames=draw(st.integers(1, 100_000)),
        fps_num=draw(st.integers(1, 1_000_000)),
        fps_den=draw(st.integers(1, 1_000_000)),
        token_vectors=vectors,
        token_values=values,
        step=draw(finite32.filter(lambda x: x > 0)),
        alpha=draw(finite32),
        entropy_params=draw(st.integers(0, 2**32 - 1)),
        keyframe_codec=draw(st.sampled_from(list(KeyframeCodecId))),
        keyframe_params=tuple(draw(st.lists(st.integers(0, 2**32 - 1), max_size=8))),
        tokenizer_hash=draw(st.none() | st.binary(min_size=8, max_size=8)),
        generator_hash=draw(st.none() | st.binary(min_size=8, max_size=8)),
        flags=draw(st.integers(0, 2**16 - 1)),
    )


def _header(**changes) -> StreamHeader:
    step, alpha, params = TokenCodingConfig(step=0.1).to_header_fields()
    base = StreamHeader(width=384, height=384, frames=50, fps_num=25, fps_den=1, token_vectors=2, token_values=20,
                        step=step, alpha=alpha, entropy_params=params, keyframe_codec=KeyframeCodecId.VTM,
                        keyframe_params=(37,))
    return dataclasses.replace(base, **changes)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(headers(), st.binary(max_size=300), st.binary(max_size=300))
def test_every_field_round_trips(header: StreamHeader, keyframe: bytes, motion: bytes) -> None:
    data = pack_stream(header, keyframe, motion)
    parsed = parse_stream(data)
    assert parsed.header == header
    assert struct.pack("<f", parsed.header.step) == struct.pack("<f", header.step)  # exact float32 bits
    assert parsed.keyframe_payload == keyframe and parsed.motion_payload == motion
    assert parsed.bits["total"] == 8 * len(data)
    assert parsed.bits["keyframe"] == 8 * len(keyframe) and parsed.bits["motion"] == 8 * len(motion)
    assert pack_stream(parsed.header, parsed.keyframe_payload, parsed.motion_payload) == data


def test_typical_header_is_compact() -> None:
    data = pack_stream(_header(), b"k" * 1000, b"m" * 600)
    bits = parse_stream(data).bits
    assert bits["header"] == 8 * 32  # 24 bytes of fields + 2 + 2 bytes of section lengths + 4 bytes of checksum
    with_hashes = _header(tokenizer_hash=b"\x01" * 8, generator_hash=b"\x02" * 8)
    assert parse_stream(pack_stream(with_hashes, b"", b"")).bits["header"] == 8 * (24 + 16 + 2 + 4)


def test_header_helpers() -> None:
    header = _header(fps_num=30000, fps_den=1001)
    assert float(header.fps) == pytest.approx(29.97, abs=1e-3) and header.token_shape == (49, 2, 20)
    cfg = TokenCodingConfig.from_header_fields(header.step, header.alpha, header.entropy_params)
    assert cfg == TokenCodingConfig(step=0.1)


@pytest.mark.parametrize("changes,match", [
    (dict(width=385), "even"), (dict(width=8194), "width"), (dict(height=0), "height"),
    (dict(frames=0), "frames"), (dict(frames=100_001), "frames"), (dict(fps_den=0), "fps_den"),
    (dict(token_vectors=64, token_values=65), "V\\*N"), (dict(step=0.0), "step"), (dict(step=float("nan")), "step"),
    (dict(step=1e39), "step"), (dict(alpha=float("inf")), "alpha"), (dict(keyframe_codec=99), "key-frame codec"),
    (dict(keyframe_params=tuple(range(9))), "key-frame parameters"), (dict(tokenizer_hash=b"123"), "tokenizer_hash"),
    (dict(flags=1 << 16), "flags"), (dict(entropy_params=-1), "entropy_params"),
])
def test_invalid_header_values_raise(changes: dict, match: str) -> None:
    with pytest.raises(BitstreamError, match=match):
        _header(**changes)


def _raw(fields: list[int], step: float = 0.1, tail: bytes = b"", payloads: tuple[bytes, bytes] | None = None) -> bytes:
    """A stream built by hand: width..layout varints, step, then ``tail``; with ``payloads`` (key frame,
    motion) also a correct checksum and the payloads (``tail`` then ends with the two section lengths)."""
    head = MAGIC + bytes([FORMAT_VERSION]) + b"".join(encode_varint(v) for v in fields) + struct.pack("<f", step) + tail
    if payloads is None:
        return head
    keyframe, motion = payloads
    return head + struct.pack("<I", zlib.crc32(motion, zlib.crc32(head))) + keyframe + motion


GOOD_TAIL = encode_varint(0) + encode_varint(1) + encode_varint(0) + encode_varint(2) + encode_varint(1)
GOOD = (b"kk", b"m")
GOOD_FIELDS = [384, 384, 50, 25, 1, 2, 20, 0]


def test_hand_built_stream_parses() -> None:
    parsed = parse_stream(_raw(GOOD_FIELDS, tail=GOOD_TAIL, payloads=GOOD))
    assert parsed.keyframe_payload == b"kk" and parsed.motion_payload == b"m"


@pytest.mark.parametrize("data,match", [
    (b"", "truncated"), (b"DC", "truncated"), (b"XYZ\x01", "magic"), (b"DCV", "truncated"),
    (MAGIC + bytes([FORMAT_VERSION + 1]), "newer encoder"), (MAGIC + b"\x00", "version"), (MAGIC + b"\x01", "no per-frame motion flags and no checksum; re-encode"),
    (_raw(GOOD_FIELDS)[:-2], "truncated"),
    (_raw(GOOD_FIELDS, tail=GOOD_TAIL, payloads=GOOD)[:-1], "truncated"),
    (_raw(GOOD_FIELDS, tail=GOOD_TAIL, payloads=GOOD) + b"\x00", "trailing garbage"),
    (_raw(GOOD_FIELDS, tail=GOOD_TAIL, payloads=GOOD)[:-1] + b"n", "checksum mismatch"),
    (_raw(GOOD_FIELDS, tail=GOOD_TAIL, payloads=GOOD).replace(b"\x80\x03", b"\x82\x03", 1), "checksum mismatch"),
    (_raw([384, 384, 200_000, 25, 1, 2, 20, 0], tail=GOOD_TAIL, payloads=GOOD), "frames"),
    (_raw([384, 384, 50, 25, 1, 4096, 4096, 0], tail=GOOD_TAIL, payloads=GOOD), "token_values|V\\*N"),
    (_raw([1 << 34, 384, 50, 25, 1, 2, 20, 0], tail=GOOD_TAIL, payloads=GOOD), "width"),
    (_raw(GOOD_FIELDS, step=-0.5, tail=GOOD_TAIL, payloads=GOOD), "step"),
    (_raw(GOOD_FIELDS, step=float("inf"), tail=GOOD_TAIL, payloads=GOOD), "step"),
    (_raw(GOOD_FIELDS, tail=encode_varint(0) + encode_varint(1) + encode_varint(0) + encode_varint(1 << 34)
          + encode_varint(0)), "truncated"),
    (_raw(GOOD_FIELDS, tail=encode_varint(0) + encode_varint(1) + encode_varint(200)), "key-frame parameters"),
    (_raw(GOOD_FIELDS, tail=encode_varint(0) + encode_varint(77) + encode_varint(0) + b"\x00\x00", payloads=(b"", b"")),
     "codec"),
    (_raw(GOOD_FIELDS[:-1] + [1], tail=struct.pack("<f", 1.0) + GOOD_TAIL, payloads=GOOD), "non-canonical"),
    (_raw(GOOD_FIELDS[:-1] + [2], tail=GOOD_TAIL, payloads=GOOD), "truncated"),
    (MAGIC + bytes([FORMAT_VERSION]) + b"\x80\x80\x80\x80\x80\x01", "longer than"),
    (MAGIC + bytes([FORMAT_VERSION]) + b"\x80\x00", "non-minimal"),
])
def test_malformed_streams_raise_telling_errors(data: bytes, match: str) -> None:
    with pytest.raises(BitstreamError, match=match):
        parse_stream(data)


def test_byte_reader_never_over_reads() -> None:
    reader = ByteReader(b"\x01\x02")
    assert reader.take(1, "a") == b"\x01"
    with pytest.raises(BitstreamError, match="needs 5 bytes"):
        reader.take(5, "b")
    with pytest.raises(BitstreamError):
        encode_varint(-1)


def test_file_round_trip_and_size_cap(tmp_path) -> None:
    data = pack_stream(_header(), b"key", b"motion")
    path = write_stream_file(tmp_path / "video.dcv", data)
    assert read_stream_file(path) == data
    assert [p.name for p in tmp_path.iterdir()] == ["video.dcv"]  # no temporary left behind
    assert os.path.getsize(path) * 8 == parse_stream(read_stream_file(path)).bits["total"]
    with pytest.raises(BitstreamError, match="limit"):
        read_stream_file(path, max_bytes=len(data) - 1)
    with pytest.raises(BitstreamError):
        write_stream_file(tmp_path / "x.dcv", "not bytes")  # type: ignore[arg-type]
    assert np.array_equal(np.frombuffer(read_stream_file(path), np.uint8), np.frombuffer(data, np.uint8))


def test_keyframe_codec_ids_match_the_keyframe_payload_ids():
    """The header's key-frame codec id is the first byte of that codec's own payload."""
    from dynamics_codec.keyframe import KEYFRAME_CODECS

    for name, cls in KEYFRAME_CODECS.items():
        assert KeyframeCodecId[name.upper()] == cls.codec_id
