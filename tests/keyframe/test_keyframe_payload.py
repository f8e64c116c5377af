"""Self-describing key-frame payloads: header layout, checksum, registry dispatch, bad data."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamics_codec.errors import BitstreamError, ConfigError, InputError
from dynamics_codec.keyframe import (
    FORMAT_VERSION,
    HEADER_SIZE,
    KEYFRAME_CODECS,
    KeyframeHeader,
    VtmKeyframeCodec,
    X265KeyframeCodec,
    decode_keyframe,
    get_keyframe_codec,
    keyframe_codec_names,
    pack_payload,
    payload_bits,
    unpack_payload,
)


def test_header_layout_is_documented_big_endian():
    payload = pack_payload(KeyframeHeader(codec_id=1, width=384, height=200, qp=37), b"\x00\x00\x01\x40")
    assert HEADER_SIZE == 9 and len(payload) == 13
    assert payload[0] == 1 and payload[1] == FORMAT_VERSION
    assert struct.unpack(">HHB", payload[2:7]) == (384, 200, 37)
    header, bitstream = unpack_payload(payload)
    assert header == KeyframeHeader(codec_id=1, width=384, height=200, qp=37) and bitstream == b"\x00\x00\x01\x40"
    assert payload_bits(payload) == 8 * 13


def test_every_single_bit_flip_is_detected():
    payload = pack_payload(KeyframeHeader(codec_id=1, width=17, height=5, qp=22), bytes(range(40)))
    for i in range(len(payload)):
        for bit in range(8):
            damaged = bytearray(payload)
            damaged[i] ^= 1 << bit
            with pytest.raises(BitstreamError):
                unpack_payload(bytes(damaged), expected_codec_id=1)


def test_truncation_is_detected():
    payload = pack_payload(KeyframeHeader(codec_id=1, width=8, height=8, qp=30), bytes(range(100)))
    for cut in (0, 1, 8, 9, 10, 50, len(payload) - 1):
        with pytest.raises(BitstreamError):
            decode_keyframe(payload[:cut])


def test_unknown_id_version_and_wrong_decoder():
    body = bytes(range(20))
    with pytest.raises(BitstreamError, match="codec id 77"):
        decode_keyframe(pack_payload(KeyframeHeader(codec_id=77, width=8, height=8, qp=30), body))
    future = pack_payload(KeyframeHeader(codec_id=1, width=8, height=8, qp=30, version=9), body)
    with pytest.raises(BitstreamError, match="version 9"):
        decode_keyframe(future)
    with pytest.raises(BitstreamError, match="codec id 2"):
        X265KeyframeCodec().decode(pack_payload(KeyframeHeader(codec_id=2, width=8, height=8, qp=30), body))
    with pytest.raises(BitstreamError):
        decode_keyframe("not bytes")  # type: ignore[arg-type]


def test_registry():
    assert keyframe_codec_names() == ["vtm", "x265"]
    assert isinstance(get_keyframe_codec("x265", preset="ultrafast"), X265KeyframeCodec)
    assert isinstance(get_keyframe_codec("vtm"), VtmKeyframeCodec)  # no binaries needed to construct
    assert {cls.codec_id for cls in KEYFRAME_CODECS.values()} == {1, 2}
    with pytest.raises(ConfigError, match="unknown key-frame codec 'jpeg'"):
        get_keyframe_codec("jpeg")


def test_encode_validates_image_and_qp():
    codec = X265KeyframeCodec()
    img = np.zeros((16, 16, 3), np.uint8)
    for qp in (-1, 52, 3.5, True, "32"):
        with pytest.raises(ConfigError, match="qp"):
            codec.encode(img, qp)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="uint8"):
        codec.encode(img.astype(np.float32), 32)
    with pytest.raises(InputError, match="shape"):
        codec.encode(np.zeros((2, 16, 16, 3), np.uint8), 32)
    with pytest.raises(ConfigError, match="preset"):
        X265KeyframeCodec(preset="warp-speed")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=0, max_size=400))
def test_random_bytes_never_crash(data):
    try:
        decode_keyframe(data)
    except BitstreamError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bitstream=st.binary(min_size=1, max_size=600), w=st.integers(1, 64), h=st.integers(1, 64))
def test_garbage_with_a_valid_checksum_is_rejected_by_the_hevc_decoder(bitstream, w, h):
    """Bypasses the CRC: FFmpeg's HEVC decoder must turn any garbage into BitstreamError."""
    payload = pack_payload(KeyframeHeader(codec_id=1, width=w, height=h, qp=32), bitstream)
    try:
        out = decode_keyframe(payload)
    except BitstreamError:
        return
    assert out.shape == (h, w, 3) and out.dtype == np.uint8  # astronomically unlikely, but then well-formed
