"""The generative decode's GPU memory / FLOP estimate, on the tiny architecture (no GPU, no weights)."""

from __future__ import annotations

import pytest
import torch

from dynamics_codec.decoder.mofa.components import build_random_components
from dynamics_codec.decoder.mofa.memory import PHASES, estimate_decode
from dynamics_codec.errors import ConfigError

OPTIONS = dict(window_size=4, decode_chunk_size=2, max_guidance_scale=3.0)


def _weight_bytes(dtype: torch.dtype) -> int:
    networks = build_random_components("tiny", dtype=dtype).networks().values()
    return sum(t.numel() * t.element_size() for m in networks for t in [*m.parameters(), *m.buffers()])


def test_estimate_runs_the_real_decode_and_counts_the_weights_exactly():
    e = estimate_decode("tiny", frames=7, height=64, width=64, dtype="float16", num_inference_steps=2, **OPTIONS)
    assert e.output_shape == (1, 6, 3, 64, 64)  # one frame per flow, as decode returns them
    assert e.weight_bytes == _weight_bytes(torch.float16)
    assert set(e.phase_peak_bytes) == set(PHASES)
    assert all(e.weight_bytes < e.phase_peak_bytes[p] <= e.peak_bytes for p in PHASES)
    assert e.peak_bytes == max(e.phase_peak_bytes.values())
    assert e.flops > 0


def test_flops_grow_by_the_same_amount_per_denoising_step():
    flops = [estimate_decode("tiny", frames=4, height=64, width=64, num_inference_steps=n, **OPTIONS).flops
             for n in (1, 2, 3)]
    assert flops[2] - flops[1] == flops[1] - flops[0] > 0


def test_memory_follows_the_settings_it_should():
    base = estimate_decode("tiny", frames=7, height=64, width=64, num_inference_steps=1, **OPTIONS)
    fp32 = estimate_decode("tiny", frames=7, height=64, width=64, dtype="float32", num_inference_steps=1, **OPTIONS)
    assert fp32.weight_bytes == _weight_bytes(torch.float32) > 1.99 * base.weight_bytes
    bigger = estimate_decode("tiny", frames=7, height=128, width=128, num_inference_steps=1, **OPTIONS)
    assert bigger.phase_peak_bytes["sample"] - bigger.weight_bytes > 3 * (base.phase_peak_bytes["sample"] - base.weight_bytes)
    steps = estimate_decode("tiny", frames=7, height=64, width=64, num_inference_steps=3, **OPTIONS)
    # each step frees what it allocated (a leaked latent would be 3.5 KB; the timesteps grow by 4 B a step)
    assert 0 <= steps.peak_bytes - base.peak_bytes < 1024


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        estimate_decode("tiny", dtype="int8")
    with pytest.raises(ConfigError):
        estimate_decode("tiny", frames=1)
    assert not torch.cuda.is_initialized()  # nothing touched a real GPU
