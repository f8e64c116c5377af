"""TokenCoder: lossless round trip, coding efficiency, robustness to corrupt payloads."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamics_codec.entropy import (
    MAX_ABS_INDEX,
    NeighbourContext,
    TokenCoder,
    TokenCodingConfig,
    coded_values,
    estimate_bits,
    min_payload_bytes,
)
from dynamics_codec.entropy.binarization import MAX_EG_PREFIX, _code_exp_golomb
from dynamics_codec.entropy.synthetic import laplacian_tokens, synthetic_tokens
from dynamics_codec.errors import BitstreamError


def _assert_round_trip(coder: TokenCoder, tokens: np.ndarray, active: np.ndarray | None = None) -> None:
    enc = coder.encode(tokens, active)
    indices, recon, flags = coder.decode(enc.payload, *tokens.shape)
    assert np.array_equal(indices, enc.indices)
    assert np.array_equal(recon.view(np.int32), enc.recon.view(np.int32))
    assert np.array_equal(flags, enc.active)
    assert enc.bits == 8 * len(enc.payload)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(0, 6), st.integers(1, 3), st.integers(1, 24)),
    step=st.sampled_from([0.003, 0.05, 0.3, 2.0]),
    mode=st.sampled_from(list(NeighbourContext)),
    cutoff=st.integers(1, 16),
    order=st.integers(0, 3),
    groups=st.integers(1, 8),
    per_vector=st.booleans(),
    warmup=st.booleans(),
    alpha=st.sampled_from([1.0, 0.0, 0.75]),
    skip=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_round_trip_any_config(seed, shape, step, mode, cutoff, order, groups, per_vector, warmup, alpha, skip) -> None:
    rng = np.random.default_rng(seed)
    tokens = laplacian_tokens(rng, *shape, scale=float(rng.choice([0.01, 1.0, 30.0])))
    cfg = TokenCodingConfig(step=step, alpha=alpha, unary_cutoff=cutoff, eg_order=order, neighbour_context=mode,
                            index_groups=groups, per_vector_contexts=per_vector, warmup=warmup)
    _assert_round_trip(TokenCoder(cfg), tokens, rng.random(shape[0]) >= skip)


def test_frames_without_motion_carry_the_prediction_and_cost_a_fraction_of_a_bit() -> None:
    rng = np.random.default_rng(4)
    tokens = synthetic_tokens(rng)  # [T, 2, 20]
    t = tokens.shape[0]
    coder = TokenCoder(TokenCodingConfig(step=0.1))
    active = np.ones(t, dtype=bool)
    active[10:20] = False
    enc = coder.encode(tokens, active)
    _assert_round_trip(coder, tokens, active)
    assert np.all(enc.indices[10:20] == 0)
    # inactive frames hold the last coded reconstruction (alpha 1): the prediction carries over
    assert np.array_equal(enc.recon[10:20], np.repeat(enc.recon[9:10], 10, axis=0))
    # the frame after a gap is quantised against that carried prediction, within half a step
    assert np.abs(enc.recon[20] - tokens[20]).max() <= 0.05 + 1e-6
    # all frames without motion: flags only, a fraction of a bit per frame (<= 2 bits per frame)
    for frames in (49, 400):
        none = coder.encode(np.zeros((frames, 2, 20), np.float32), np.zeros(frames, bool))
        assert none.bits <= 2 * frames and none.ideal_bits < 0.2 * frames, (frames, none.bits, none.ideal_bits)
        indices, recon, flags = coder.decode(none.payload, frames, 2, 20)
        assert not flags.any() and not indices.any()
    # all frames active: the flags add well under a bit per frame to the plain residual code
    plain = estimate_bits(tokens, TokenCodingConfig(step=0.1))
    assert plain == pytest.approx(estimate_bits(tokens, TokenCodingConfig(step=0.1), active=np.ones(t, bool)))


def test_inactive_frames_must_have_zero_indices() -> None:
    from dynamics_codec.entropy.binarization import ContextLayout, code_indices

    class Sink:
        def bin(self, ctx, bit):
            return int(bit)

        def bypass(self, bit):
            return int(bit)

    layout = ContextLayout(TokenCodingConfig(step=0.1), 1, 2)
    with pytest.raises(ValueError, match="inactive"):
        code_indices(Sink(), layout, (2, 1, 2), np.ones((2, 1, 2), np.int32), np.array([True, False]))


def test_round_trip_synthetic_video_with_prior_and_trim_off() -> None:
    tokens = synthetic_tokens(np.random.default_rng(3))
    prior = tokens[0] + 0.01
    _assert_round_trip(TokenCoder(TokenCodingConfig(step=0.1), prior=prior), tokens)
    _assert_round_trip(TokenCoder(TokenCodingConfig(step=0.1), trim=False), tokens)


@pytest.mark.parametrize("cutoff,order", [(1, 0), (16, 3), (8, 1)])
def test_largest_codable_index_round_trips(cutoff: int, order: int) -> None:
    tokens = np.array([[[MAX_ABS_INDEX, -MAX_ABS_INDEX, 0, 1]]], dtype=np.float32)
    cfg = TokenCodingConfig(step=1.0, unary_cutoff=cutoff, eg_order=order)
    coder = TokenCoder(cfg)
    enc = coder.encode(tokens)
    assert enc.indices.tolist() == [[[MAX_ABS_INDEX, -MAX_ABS_INDEX, 0, 1]]]
    _assert_round_trip(coder, tokens)


@pytest.mark.parametrize("step", [0.05, 0.1, 0.2, 0.5])
def test_payload_is_within_one_percent_of_ideal_code_length(step: float) -> None:
    """Laplacian residuals (alpha=0, unit scale) and synthetic videos: |bits - ideal| <= 1% + 64."""
    rng = np.random.default_rng(11)
    for tokens, alpha in ((laplacian_tokens(rng, 49, 2, 20), 0.0), (synthetic_tokens(rng), 1.0)):
        enc = TokenCoder(TokenCodingConfig(step=step, alpha=alpha)).encode(tokens)
        assert enc.ideal_bits > 500
        assert abs(enc.bits - enc.ideal_bits) <= 0.01 * enc.ideal_bits + 64, (enc.bits, enc.ideal_bits)
        assert enc.ideal_bits == pytest.approx(estimate_bits(tokens, TokenCodingConfig(step=step, alpha=alpha)))


def test_bits_fall_as_the_step_grows() -> None:
    tokens = synthetic_tokens(np.random.default_rng(5))
    bits = [TokenCoder(TokenCodingConfig(step=s)).encode(tokens).bits for s in (0.05, 0.1, 0.2, 0.5)]
    assert bits == sorted(bits, reverse=True) and bits[0] > 2 * bits[-1]


def test_default_contexts_beat_a_single_context_class() -> None:
    rng = np.random.default_rng(2)
    videos = [synthetic_tokens(rng) for _ in range(4)]
    default = TokenCodingConfig(step=0.1)
    plain = replace(default, neighbour_context=NeighbourContext.NONE, index_groups=1)
    assert sum(estimate_bits(v, default) for v in videos) < 0.97 * sum(estimate_bits(v, plain) for v in videos)


def test_sparse_long_sequence_is_padded_to_the_decoder_bound() -> None:
    tokens = np.zeros((500, 2, 20), dtype=np.float32)
    coder = TokenCoder(TokenCodingConfig(step=0.1))
    enc = coder.encode(tokens)
    assert len(enc.payload) == min_payload_bytes(coded_values(500, 500, 2, 20)) > 0
    _assert_round_trip(coder, tokens)


def test_shape_beyond_payload_bound_raises_before_decoding() -> None:
    coder = TokenCoder(TokenCodingConfig(step=0.1))
    start = time.perf_counter()
    with pytest.raises(BitstreamError, match="token values"):  # beyond the allocation limit
        coder.decode(b"\x12\x34", 100_000, 64, 64)
    with pytest.raises(BitstreamError, match="motion flags"):  # more frames than the payload can flag
        coder.decode(b"\x12\x34", 100_000, 2, 20)
    assert time.perf_counter() - start < 0.1


def test_active_frames_beyond_payload_bound_raise_while_decoding() -> None:
    """A short payload that claims active frames stops at the bound, not after decoding them all."""
    coder = TokenCoder(TokenCodingConfig(step=0.1))
    payload = coder.encode(np.zeros((3000, 2, 20), np.float32)).payload  # zero residuals: padded to the bound
    assert len(payload) == min_payload_bytes(coded_values(3000, 3000, 2, 20))
    coder.decode(payload, 3000, 2, 20)
    unpadded = payload.rstrip(b"\x00")  # decodes the same bins (zeros are read past the end) ...
    with pytest.raises(BitstreamError, match="cannot hold"):  # ... but cannot back 3000 active frames
        coder.decode(unpadded, 3000, 2, 20)


def test_exp_golomb_prefix_is_capped() -> None:
    class AlwaysOne:
        def bin(self, ctx, bit):
            return 1

        def bypass(self, bit):
            return 1

    with pytest.raises(BitstreamError, match="Exp-Golomb prefix"):
        _code_exp_golomb(AlwaysOne(), 0, None)
    assert MAX_EG_PREFIX == 24


def test_corrupt_payloads_decode_to_the_shape_or_raise() -> None:
    rng = np.random.default_rng(9)
    tokens = synthetic_tokens(rng, frames=12)
    coder = TokenCoder(TokenCodingConfig(step=0.05))
    payload = coder.encode(tokens).payload
    candidates = [payload[:k] for k in range(0, len(payload), 7)]
    candidates += [bytes(rng.integers(0, 256, size=n, dtype=np.uint8)) for n in (0, 1, 5, 64, 300)]
    candidates += [b"\xff" * 64, b"\x00" * 64]
    for _ in range(20):
        mutated = bytearray(payload)
        pos = int(rng.integers(len(mutated)))
        mutated[pos] ^= 1 << int(rng.integers(8))
        candidates.append(bytes(mutated))
    for data in candidates:
        start = time.perf_counter()
        try:
            indices, recon, _ = coder.decode(data, *tokens.shape)
        except BitstreamError:
            pass
        else:
            assert indices.shape == tokens.shape and recon.shape == tokens.shape
            assert indices.dtype == np.int32 and np.all(np.isfinite(recon))
        assert time.perf_counter() - start < 1.0


def test_bits_per_frame_split_the_ideal_code_length() -> None:
    from dynamics_codec.entropy import estimate_bits_per_frame

    tokens = synthetic_tokens(np.random.default_rng(8))
    cfg = TokenCodingConfig(step=0.1)
    active = np.ones(tokens.shape[0], bool)
    active[5:9] = False
    per_frame = estimate_bits_per_frame(tokens, cfg, active=active)
    assert per_frame.shape == (tokens.shape[0],)
    assert per_frame.sum() == pytest.approx(estimate_bits(tokens, cfg, active=active))
    # a skipped frame costs its flag only: a few bits for the first switch, then less and less
    assert per_frame[5] < 4.0 and per_frame[6:9].max() <= 1.0 < per_frame[active].min()
