"""HEVC intra key frames through PyAV's libx265 (real encodes on CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from dynamics_codec.errors import BitstreamError
from dynamics_codec.io import rgb_to_y
from dynamics_codec.keyframe import X265KeyframeCodec, decode_keyframe, get_keyframe_codec, unpack_payload

PAPER_QPS = (22, 32, 37, 42, 47)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def encoded(key_image):
    codec = get_keyframe_codec("x265")
    return {qp: codec.encode(key_image, qp) for qp in PAPER_QPS}


def test_rate_and_quality_fall_strictly_as_qp_rises(key_image, encoded):
    sizes = [len(encoded[qp]) for qp in PAPER_QPS]
    quality = [psnr(decode_keyframe(encoded[qp]), key_image) for qp in PAPER_QPS]
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes
    assert all(a > b for a, b in zip(quality, quality[1:])), quality
    # measured on 384x384 natural images at QP 32: RGB PSNR 34.0 dB (beach), 32.3 dB (astronaut)
    assert quality[PAPER_QPS.index(32)] > 30.0
    y_psnr_32 = psnr(rgb_to_y(decode_keyframe(encoded[32])), rgb_to_y(key_image))
    assert y_psnr_32 > 31.0
    # a 384x384 intra frame at QP 47 still fits in a few kbit, at QP 22 in under 30 kB
    assert sizes[-1] < 2500 and sizes[0] < 30000


def test_payload_is_self_describing(key_image, encoded):
    header, bitstream = unpack_payload(encoded[37])
    assert (header.codec_id, header.width, header.height, header.qp) == (1, 384, 384, 37)
    assert bitstream.startswith(b"\x00\x00\x00\x01")  # Annex-B start code
    nal_types = [(bitstream[i + 3] >> 1) & 0x3F for i in range(len(bitstream) - 3)
                 if bitstream[i:i + 3] == b"\x00\x00\x01"]
    assert nal_types[:3] == [32, 33, 34]  # VPS, SPS, PPS
    assert 39 not in nal_types and 40 not in nal_types  # no SEI (x265's info string is switched off)
    assert all(t in (19, 20) for t in nal_types[3:])  # IDR slices only


def test_encode_and_decode_are_deterministic(key_image, encoded):
    codec = X265KeyframeCodec()
    again = codec.encode(key_image, 32)
    assert again == encoded[32]
    assert np.array_equal(codec.decode(again), codec.decode(encoded[32]))


@pytest.mark.parametrize("shape", [(101, 77), (1, 1), (9, 30), (64, 16)])
def test_odd_and_tiny_sizes_round_trip(key_image, shape):
    h, w = shape
    crop = np.ascontiguousarray(key_image[100:100 + h, 150:150 + w])
    payload = X265KeyframeCodec(preset="ultrafast").encode(crop, 22)
    out = decode_keyframe(payload)
    assert out.shape == (h, w, 3)
    assert psnr(out, crop) > 30.0


def test_corrupted_and_truncated_payloads_raise(encoded):
    payload = encoded[37]
    flipped = bytearray(payload)
    flipped[len(payload) // 2] ^= 0x10
    for bad in (bytes(flipped), payload[: len(payload) // 2], payload[:12], payload[:3], b""):
        with pytest.raises(BitstreamError):
            decode_keyframe(bad)


def test_preset_is_honoured(key_image, encoded):
    fast = X265KeyframeCodec(preset="ultrafast").encode(key_image, 37)
    assert fast != encoded[37]  # a different preset makes different decisions ...
    assert unpack_payload(fast)[0] == unpack_payload(encoded[37])[0]  # ... under the same header
    assert psnr(decode_keyframe(fast), key_image) > 28.0
