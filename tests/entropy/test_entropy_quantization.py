"""Closed-loop quantisation: bit-exact encoder/decoder agreement and error bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynamics_codec.entropy import MAX_ABS_INDEX, dequantize_closed_loop, quantize_closed_loop
from dynamics_codec.entropy.synthetic import synthetic_tokens
from dynamics_codec.errors import BitstreamError, InputError


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(4))
def test_decoder_reconstruction_is_bit_identical(threads: int, seed: int) -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rng = np.random.default_rng(seed)
        tokens = synthetic_tokens(rng, frames=30, vectors=2, values=20) * rng.uniform(0.1, 10.0)
        step = float(rng.uniform(0.01, 0.7))
        alpha = float(rng.choice([1.0, 0.9, 0.0, 1.1]))
        prior = rng.normal(size=(2, 20)).astype(np.float32) if seed % 2 else None
        indices, recon = quantize_closed_loop(tokens, step, alpha, prior)
        decoded = dequantize_closed_loop(indices, step, alpha, prior)
        assert indices.dtype == np.int32 and recon.dtype == np.float32 and decoded.dtype == np.float32
        assert np.array_equal(decoded.view(np.int32), recon.view(np.int32))  # raw float32 bits
    finally:
        torch.set_num_threads(previous)


def test_error_is_bounded_by_half_a_step_and_does_not_accumulate() -> None:
    tokens = synthetic_tokens(np.random.default_rng(7), frames=49)
    step = 0.2
    indices, recon = quantize_closed_loop(tokens, step, 1.0)
    err = np.abs(recon - tokens)
    assert err.max() <= step / 2 * (1 + 1e-4) + 1e-5
    assert err[-10:].max() <= step / 2 * (1 + 1e-4) + 1e-5  # closed loop: no drift at the end


def test_first_frame_is_predicted_from_the_prior_and_later_from_alpha_times_recon() -> None:
    tokens = np.array([[[1.0, -2.0]], [[1.5, -2.0]]], dtype=np.float32)  # T=2, V=1, N=2
    indices, recon = quantize_closed_loop(tokens, 0.5, 1.0)
    assert indices[0].tolist() == [[2, -4]] and indices[1].tolist() == [[1, 0]]
    prior = np.array([[1.0, -2.0]], dtype=np.float32)
    indices, _ = quantize_closed_loop(tokens, 0.5, 1.0, prior)
    assert indices[0].tolist() == [[0, 0]]
    indices, _ = quantize_closed_loop(tokens, 0.5, 0.0)
    assert indices[1].tolist() == [[3, -4]]


def test_invalid_inputs_raise() -> None:
    with pytest.raises(InputError, match="NaN"):
        quantize_closed_loop(np.full((2, 1, 3), np.nan, dtype=np.float32), 0.1)
    with pytest.raises(InputError, match="steps"):
        quantize_closed_loop(np.full((1, 1, 1), 1e9, dtype=np.float32), 1e-3)
    with pytest.raises(InputError, match=r"\[T, V, N\]"):
        quantize_closed_loop(np.zeros((2, 3), dtype=np.float32), 0.1)
    with pytest.raises(InputError, match="prior"):
        quantize_closed_loop(np.zeros((2, 1, 3), dtype=np.float32), 0.1, prior=np.zeros((1, 2)))
    assert MAX_ABS_INDEX == 1 << 24


def test_overflowing_decode_raises_bitstream_error() -> None:
    indices = np.full((3, 1, 1), MAX_ABS_INDEX, dtype=np.int32)
    with pytest.raises(BitstreamError, match="overflow"):
        dequantize_closed_loop(indices, 3e38, 1.0)
