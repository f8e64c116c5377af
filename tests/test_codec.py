"""End to end: frames -> .dcv -> frames with real (tiny) networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynamics_codec.bitstream import parse_stream
from dynamics_codec.codec import Encoder, StreamDecoder, kbps
from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.decoder import build_decoder
from dynamics_codec.encoder import MotionDecisionConfig
from dynamics_codec.entropy import TokenCodingConfig
from dynamics_codec.errors import BitstreamError, ConfigError, InputError
from dynamics_codec.flow import build_flow_backend
from dynamics_codec.keyframe import get_keyframe_codec
from dynamics_codec.metrics import psnr_per_frame
from dynamics_codec.motion_model import MotionModel
from dynamics_codec.sampler import WatershedSampler

TOK = dict(input_stride=4, unet_channels=[8, 8], feature_channels=8, vectorizer_channels=8, vectorizer_stages=2)
GEN = dict(image_channels=[8, 8], flow_channels=[8, 8], internal_stride=8)


@pytest.fixture(scope="module")
def clip():
    return make_synthetic_clip("coffee", size=96, num_frames=6, fps=25, max_displacement=3.0,
                               rng=np.random.default_rng(0))


NO_DECISION = MotionDecisionConfig(enabled=False, key_frame_fallback=False)


def _encoder(model, step=0.05, seed=0, decision=NO_DECISION, frame_decoder=None):
    return Encoder(get_keyframe_codec("x265", preset="ultrafast"), 32, build_flow_backend("dis", preset="fast"),
                   WatershedSampler(nms_ks=9), model, TokenCodingConfig(step=step), seed=seed,
                   decision=decision, frame_decoder=frame_decoder)


def _decoder(model, mode="softsplat"):
    return StreamDecoder(model, build_decoder("warp", mode=mode))


@pytest.fixture(scope="module")
def model():
    m = MotionModel.from_config(TOK, GEN, seed=0)
    # make the tokens non-trivial so that quantisation has work to do
    with torch.no_grad():
        for v in m.tokenizer.vectorizers:
            v.proj.weight.mul_(20)
    return m


def test_round_trip_tokens_bit_exact_across_thread_counts(clip, model):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        enc = _encoder(model).encode(clip.frames, clip.fps)
        torch.set_num_threads(2)
        dec = _decoder(model).decode(enc.bitstream)
    finally:
        torch.set_num_threads(threads)
    assert enc.recon_tokens.shape == (5, 2, 20)
    assert np.abs(enc.indices).max() > 0, "tokens should not all quantise to zero in this test"
    assert dec.tokens.dtype == np.float32
    assert np.array_equal(dec.tokens.view(np.uint32), enc.recon_tokens.view(np.uint32))
    # quantisation error is bounded by step / 2 (closed loop: no drift)
    assert np.abs(enc.recon_tokens - enc.tokens).max() <= 0.05 / 2 + 1e-6


def test_decoded_video_geometry_bits_and_determinism(clip, model):
    enc = _encoder(model).encode(clip.frames, clip.fps)
    assert enc.bits["total"] == 8 * len(enc.bitstream)
    assert enc.bits["header"] + enc.bits["keyframe"] + enc.bits["motion"] == enc.bits["total"]
    assert enc.kbps == pytest.approx(kbps(enc.bits["total"], 6, 25.0))
    again = _encoder(model).encode(clip.frames, clip.fps)
    assert again.bitstream == enc.bitstream  # deterministic under the seed
    dec = _decoder(model).decode(enc.bitstream, keep_flow=True)
    assert dec.frames.shape == clip.frames.shape and dec.frames.dtype == np.uint8
    assert dec.fps == 25.0
    assert dec.flow.shape == (5, 2, 96, 96)
    # frame 0 is the decoded key frame: same as x265 alone
    key = get_keyframe_codec("x265").decode(parse_stream(enc.bitstream).keyframe_payload)
    assert np.array_equal(dec.frames[0], key)
    assert np.array_equal(_decoder(model).decode(enc.bitstream).frames, dec.frames)


def test_rate_falls_with_a_coarser_step(clip, model):
    fine = _encoder(model, step=0.02).encode(clip.frames, clip.fps)
    coarse = _encoder(model, step=0.5).encode(clip.frames, clip.fps)
    assert coarse.bits["motion"] < fine.bits["motion"]
    assert coarse.bits["keyframe"] == fine.bits["keyframe"]


def test_single_frame_video(model):
    frames = make_synthetic_clip("coffee", size=64, num_frames=1, rng=np.random.default_rng(0)).frames
    enc = _encoder(model).encode(frames, 30.0)
    dec = _decoder(model).decode(enc.bitstream)
    assert dec.frames.shape == (1, 64, 64, 3)


def test_decoder_refuses_other_weights(clip, model):
    enc = _encoder(model).encode(clip.frames, clip.fps)
    other = MotionModel.from_config(TOK, GEN, seed=1)
    with pytest.raises(BitstreamError, match="generator weights"):
        _decoder(other).decode(enc.bitstream)


def test_corrupt_key_frame_payload_is_a_codec_error(clip, model):
    enc = _encoder(model).encode(clip.frames, clip.fps)
    parsed = parse_stream(enc.bitstream)
    start = enc.bits["header"] // 8
    data = bytearray(enc.bitstream)
    data[start + 20] ^= 0x5A  # inside the key-frame payload
    with pytest.raises(BitstreamError):
        _decoder(model).decode(bytes(data))
    assert len(parsed.keyframe_payload) > 40


def test_encoder_input_errors(model):
    with pytest.raises(InputError, match="uint8 RGB"):
        _encoder(model).encode(np.zeros((2, 16, 16, 3), np.float32), 25)
    with pytest.raises(InputError, match="even"):
        _encoder(model).encode(np.zeros((2, 15, 16, 3), np.uint8), 25)


def _mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)


def test_motion_decision_never_decodes_worse_than_no_motion(clip, model):
    """With the decision on, every decoded frame is at least as close to the original as the key
    frame is (the decoder's actual output decides), and frames without motion are the key frame."""
    warp = build_decoder("warp")
    per_frame_only = MotionDecisionConfig(rate_price=0.0, key_frame_fallback=False)
    enc = _encoder(model, decision=per_frame_only, frame_decoder=warp).encode(clip.frames, clip.fps)
    dec = _decoder(model).decode(enc.bitstream, keep_flow=True)
    assert np.array_equal(dec.active, enc.active)
    key = dec.frames[0]
    err_ours = _mse(dec.frames[1:], clip.frames[1:])
    err_zero = _mse(np.repeat(key[None], len(clip.frames) - 1, axis=0), clip.frames[1:])
    assert np.all(err_ours <= err_zero + 0.5), (err_ours, err_zero)  # 0.5: uint8 rounding of the rendered frames
    for t in np.flatnonzero(~dec.active):
        assert np.array_equal(dec.frames[1 + t], key)
        assert float(dec.flow[t].abs().max()) == 0.0
    # this random model's motion is worse than none on some frames: the decision has work to do
    undecided = _decoder(model).decode(_encoder(model).encode(clip.frames, clip.fps).bitstream)
    assert np.any(_mse(undecided.frames[1:], clip.frames[1:]) > err_zero)
    assert not enc.active.all()


def test_frames_without_motion_round_trip_and_cost_at_most_two_bits_each(model):
    frames = make_synthetic_clip("coffee", size=64, num_frames=30, max_displacement=3.0,
                                 rng=np.random.default_rng(1)).frames
    off = MotionDecisionConfig(min_gain_db=1000.0, key_frame_fallback=False)  # no frame can gain that much
    enc = _encoder(model, decision=off).encode(frames, 25.0)
    assert not enc.active.any()
    assert enc.bits["motion"] <= 2 * (len(frames) - 1)
    dec = _decoder(model).decode(enc.bitstream)
    assert not dec.active.any()
    assert np.array_equal(dec.frames, np.repeat(dec.frames[:1], len(frames), axis=0))


def test_old_format_version_is_refused_with_a_clear_message(clip, model):
    data = bytearray(_encoder(model).encode(clip.frames, clip.fps).bitstream)
    data[3] = 1  # the version byte of a stream written before the motion flags
    with pytest.raises(BitstreamError, match="version 1 .*no per-frame motion flags and no checksum; re-encode"):
        _decoder(model).decode(bytes(data))


def test_key_frame_fallback_spends_the_motion_bits_on_the_key_frame_when_that_decodes_better(clip, model):
    """Useless motion (random weights) with many motion bits: the encoder sends the key frame alone
    at a finer QP instead, within the bits the stream with motion would have taken."""
    warp = build_decoder("warp")
    keep_all = MotionDecisionConfig(enabled=False, key_frame_fallback=False)
    with_motion = _encoder(model, step=0.001, decision=keep_all, frame_decoder=warp).encode(clip.frames, clip.fps)
    fallback = MotionDecisionConfig(enabled=False, key_frame_fallback=True)
    enc = _encoder(model, step=0.001, decision=fallback, frame_decoder=warp).encode(clip.frames, clip.fps)
    assert with_motion.keyframe_qp == 32 and with_motion.active.all()
    assert enc.keyframe_qp < 32 and not enc.active.any()
    assert enc.bits["total"] <= with_motion.bits["total"]
    assert parse_stream(enc.bitstream).header.keyframe_params == (enc.keyframe_qp,)
    decoder = _decoder(model)
    p_motion = np.mean(psnr_per_frame(clip.frames, decoder.decode(with_motion.bitstream).frames))
    p_fallback = np.mean(psnr_per_frame(clip.frames, decoder.decode(enc.bitstream).frames))
    assert p_fallback > p_motion


def test_key_frame_price_is_what_a_bit_buys_on_the_key_frame():
    from dynamics_codec.encoder import key_frame_price

    assert key_frame_price(0.010, 0.008, 1000, 1200, 50) == pytest.approx(50 * 0.002 / 200)
    assert key_frame_price(0.010, 0.011, 1000, 1200, 50) == 0.0  # finer but not better
    assert key_frame_price(0.010, 0.008, 1000, 1000, 50) == 0.0  # not more expensive


def test_every_single_bit_flip_is_detected(clip, model):
    """Exhaustively: each of the stream's bits flipped alone is refused with BitstreamError -- in the
    header or the motion payload by the stream's CRC-32 (parse_stream, before anything is decoded), in
    the key-frame payload by that payload's CRC-16 (before the key-frame codec runs)."""
    from dynamics_codec.keyframe import unpack_payload

    data = _encoder(model).encode(clip.frames, clip.fps).bitstream
    parsed = parse_stream(data)
    assert any(parsed.motion_payload) and parsed.header.inter_frames == 5
    head = parsed.bits["header"] // 8
    key_end = head + len(parsed.keyframe_payload)
    checked = {"header": 0, "keyframe": 0, "motion": 0}
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            if head <= i < key_end:  # the stream's structure is intact; the key-frame payload is not
                with pytest.raises(BitstreamError):
                    unpack_payload(parse_stream(bytes(flipped)).keyframe_payload)
                checked["keyframe"] += 1
            else:
                with pytest.raises(BitstreamError):
                    parse_stream(bytes(flipped))
                checked["header" if i < head else "motion"] += 1
    assert checked == {"header": 8 * head, "keyframe": 8 * len(parsed.keyframe_payload),
                       "motion": 8 * len(parsed.motion_payload)}
    assert checked["motion"] >= 80


def test_a_flipped_motion_bit_is_refused_before_decoding(clip, model):
    enc = _encoder(model).encode(clip.frames, clip.fps)
    data = bytearray(enc.bitstream)
    data[-1] ^= 0x10  # the last byte of the motion payload
    with pytest.raises(BitstreamError, match="checksum mismatch.*motion payload is corrupt"):
        _decoder(model).decode(bytes(data))


def _claiming(width: int, height: int, frames: int, motion: bytes = b"\x00" * 64) -> bytes:
    """A well-formed stream (valid checksum) whose header claims a size; its payloads are tiny."""
    from dynamics_codec.bitstream import KeyframeCodecId, StreamHeader, pack_stream

    step, alpha, params = TokenCodingConfig(step=0.1).to_header_fields()
    header = StreamHeader(width=width, height=height, frames=frames, fps_num=25, fps_den=1, token_vectors=2,
                          token_values=20, step=step, alpha=alpha, entropy_params=params,
                          keyframe_codec=KeyframeCodecId.X265)
    return pack_stream(header, b"\x01" + b"\x00" * 40, motion)


@pytest.mark.parametrize("width,height,frames,limit", [(4096, 4096, 50, "limits.max_pixels=2088960"),
                                                        (384, 384, 100_000, "limits.max_frames=10000")])
def test_a_stream_beyond_the_limits_is_refused_before_anything_is_allocated(model, width, height, frames, limit):
    import tracemalloc

    from dynamics_codec.codec import DecodeLimits

    data = _claiming(width, height, frames)
    assert len(data) < 200
    tracemalloc.start()
    try:
        with pytest.raises(BitstreamError, match=limit) as info:
            _decoder(model).decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024  # nothing of the claimed size (a 4096x4096 frame alone is 48 MB)
    override = f"{limit.split('=')[0]}={width * height if 'pixels' in limit else frames}"
    assert override in str(info.value)  # the message names the override that would allow it
    # with that override the limit passes and the (fake) payloads are what fails
    raised = DecodeLimits(max_pixels=width * height, max_frames=frames)
    with pytest.raises(BitstreamError) as info:
        StreamDecoder(model, build_decoder("warp"), limits=raised).decode(data)
    assert "limits." not in str(info.value)


def test_decode_chunks_renders_bounded_chunks_that_match_decode(clip, model):
    from dynamics_codec.codec import CHUNK_PIXELS

    enc = _encoder(model).encode(clip.frames, clip.fps)
    whole = _decoder(model).decode(enc.bitstream, keep_flow=True)
    stream = StreamDecoder(model, build_decoder("warp"), chunk_frames=2).decode_chunks(enc.bitstream, keep_flow=True)
    chunks = list(stream)
    assert [len(c) for c in chunks] == [1, 2, 2, 1]  # the key frame, then chunk_frames at a time
    # the generator's float results may differ in the last bits with the batch size; the frames do not
    assert torch.allclose(torch.cat(stream.flow), whole.flow, atol=1e-4)
    assert np.abs(np.concatenate(chunks).astype(int) - whole.frames).max() <= 1
    assert CHUNK_PIXELS // (384 * 384) == 8  # at the paper's size at most 8 frames render at once


def test_a_motion_payload_too_short_for_the_claimed_frames_is_refused_before_the_key_frame(model):
    """Within the limits, the frame count is still bounded by the motion payload: every inter frame
    codes at least its flag, and the coder packs at most 128 values per byte (entropy/coder.py)."""
    with pytest.raises(BitstreamError, match="cannot hold the motion flags of 8999 frames"):
        _decoder(model).decode(_claiming(384, 384, 9000, motion=b"\x00" * 40))
    # with enough bytes the same claim gets past that check to the (fake) key-frame payload
    with pytest.raises(BitstreamError, match="key-frame payload"):
        _decoder(model).decode(_claiming(384, 384, 9000, motion=b"\x00" * 64))


def test_smooth_over_time_is_a_gaussian_filter_that_keeps_constants_and_lines():
    from scipy.ndimage import gaussian_filter1d

    from dynamics_codec.codec import smooth_over_time

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(30, 2, 20)).astype(np.float32))
    for sigma in (0.7, 1.5, 3.0):
        expected = gaussian_filter1d(x.numpy(), sigma, axis=0, mode="nearest", truncate=3.0)
        np.testing.assert_allclose(smooth_over_time(x, sigma).numpy(), expected, atol=1e-5)
    constant = torch.full((10, 2, 20), 0.7)
    assert torch.allclose(smooth_over_time(constant, 2.0), constant)
    ramp = torch.arange(20, dtype=torch.float32)[:, None, None].expand(20, 2, 3)
    assert torch.allclose(smooth_over_time(ramp, 1.5)[5:15], ramp[5:15], atol=1e-4)  # a trend is not flattened
    assert float(smooth_over_time(x, 1.5).diff(dim=0).abs().mean()) < 0.5 * float(x.diff(dim=0).abs().mean())


def test_temporal_smoothing_makes_the_coded_tokens_smoother_and_cheaper(clip, model):
    plain = _encoder(model).encode(clip.frames, clip.fps)
    enc = Encoder(get_keyframe_codec("x265", preset="ultrafast"), 32, build_flow_backend("dis", preset="fast"),
                  WatershedSampler(nms_ks=9), model, TokenCodingConfig(step=0.05), decision=NO_DECISION,
                  temporal_smoothing=2.0)
    smooth = enc.encode(clip.frames, clip.fps)
    jitter = lambda r: float(np.abs(np.diff(r.tokens, axis=0)).mean())  # noqa: E731
    assert jitter(smooth) < jitter(plain)
    assert smooth.bits["motion"] < plain.bits["motion"]
    decoded = _decoder(model).decode(smooth.bitstream)  # the stream is an ordinary one
    assert decoded.frames.shape == clip.frames.shape
    with pytest.raises(ConfigError, match="encoder.temporal_smoothing"):
        Encoder(get_keyframe_codec("x265", preset="ultrafast"), 32, build_flow_backend("dis", preset="fast"),
                WatershedSampler(nms_ks=9), model, TokenCodingConfig(step=0.05), temporal_smoothing=-1.0)


def test_resize_helpers_average_areas_and_scale_flow_vectors():
    from dynamics_codec.warping import resize_flow, resize_frames

    frames = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    half = resize_frames(frames, (2, 3))
    assert half.shape == (2, 3, 2, 3)
    assert half[1, 2, 1, 2] == frames[1, 2, 2:4, 4:6].mean()
    assert resize_frames(frames, None) is frames and resize_frames(frames, (4, 6)) is frames
    flow = torch.stack([torch.full((4, 6), 4.0), torch.full((4, 6), -2.0)])[None]
    small = resize_flow(flow, (2, 2), mode="area")  # x shrinks by 3, y by 2
    assert torch.allclose(small[0, 0], torch.full((2, 2), 4.0 / 3)) and torch.allclose(small[0, 1], torch.full((2, 2), -1.0))


def test_decision_at_half_size_decides_like_full_size_and_keeps_its_guarantee():
    """decision.scale=0.5 renders and compares at half size. With the shipped model on a swaying
    clip whose first frames stand still, it keeps the motion of the same frames as the full-size
    decision (the moving ones), the stream decodes as it says, and with the rate price off no frame
    decodes worse than the key frame (approximately at half size: within 1.0 of MSE)."""
    model = MotionModel.load("builtin:corpus")
    frames = make_synthetic_clip("astronaut", size=128, num_frames=10, fps=25, max_displacement=4.0,
                                 rng=np.random.default_rng(3)).frames.copy()
    frames[1:4] = frames[0]
    warp = build_decoder("warp")
    full = MotionDecisionConfig(rate_price=0.0, key_frame_fallback=False)
    half = MotionDecisionConfig(rate_price=0.0, key_frame_fallback=False, scale=0.5)
    enc_full = _encoder(model, step=0.5, decision=full, frame_decoder=warp).encode(frames, 25.0)
    encoder_half = _encoder(model, step=0.5, decision=half, frame_decoder=warp)
    assert encoder_half._decision_size(128, 128) == (64, 64)
    assert _encoder(model, decision=full, frame_decoder=warp)._decision_size(128, 128) is None
    enc_half = encoder_half.encode(frames, 25.0)
    assert not enc_full.active[:3].any() and enc_full.active[3:].sum() >= 4  # the decision had work to do
    assert np.array_equal(enc_half.active, enc_full.active)
    dec = _decoder(model).decode(enc_half.bitstream)
    err_zero = _mse(np.repeat(dec.frames[:1], len(frames) - 1, axis=0), frames[1:])
    assert np.all(_mse(dec.frames[1:], frames[1:]) <= err_zero + 1.0)
    with pytest.raises(ConfigError, match="decision.scale"):
        MotionDecisionConfig(scale=0.0)
    with pytest.raises(ConfigError, match="decision.scale"):
        MotionDecisionConfig(scale=1.5)
