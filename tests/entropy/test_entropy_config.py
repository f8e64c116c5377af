"""TokenCodingConfig validation and its header round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics_codec.entropy import NeighbourContext, TokenCodingConfig
from dynamics_codec.entropy.config import PACKED_PARAMS_BITS
from dynamics_codec.errors import BitstreamError, ConfigError

configs = st.builds(
    lambda step, alpha, cutoff, order, fast, extra, warmup, mode, groups, per_vector: TokenCodingConfig(
        step=step, alpha=alpha, unary_cutoff=cutoff, eg_order=order, fast_shift=fast,
        slow_shift=min(14, fast + extra), warmup=warmup, neighbour_context=mode, index_groups=groups,
        per_vector_contexts=per_vector),
    st.floats(1e-6, 1e3), st.floats(-2, 2), st.integers(1, 16), st.integers(0, 3), st.integers(1, 8),
    st.integers(0, 8), st.booleans(), st.sampled_from(list(NeighbourContext)), st.integers(1, 8), st.booleans(),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(configs)
def test_header_fields_round_trip(cfg: TokenCodingConfig) -> None:
    step, alpha, packed = cfg.to_header_fields()
    assert 0 <= packed < 1 << PACKED_PARAMS_BITS
    assert np.float32(step) == step and np.float32(alpha) == alpha
    assert TokenCodingConfig.from_header_fields(step, alpha, packed) == cfg


def test_step_is_rounded_to_float32() -> None:
    cfg = TokenCodingConfig(step=0.1)
    assert cfg.step == float(np.float32(0.1)) and cfg.step != 0.1


@pytest.mark.parametrize("kwargs,match", [
    (dict(step=0.0), "step"), (dict(step=-1.0), "step"), (dict(step=math.inf), "step"), (dict(step=1e39), "step"),
    (dict(step=0.1, alpha=math.nan), "alpha"), (dict(step=0.1, unary_cutoff=0), "unary_cutoff"),
    (dict(step=0.1, eg_order=4), "eg_order"), (dict(step=0.1, fast_shift=9), "fast_shift"),
    (dict(step=0.1, fast_shift=6, slow_shift=5), "fast_shift"), (dict(step=0.1, index_groups=0), "index_groups"),
    (dict(step=0.1, neighbour_context=7), "neighbour_context"),
])
def test_invalid_config_raises(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TokenCodingConfig(**kwargs)


def test_invalid_header_fields_raise_bitstream_error() -> None:
    with pytest.raises(BitstreamError, match="entropy-coder parameters"):
        TokenCodingConfig.from_header_fields(0.1, 1.0, 1 << PACKED_PARAMS_BITS)
    bad_shifts = TokenCodingConfig(step=0.1, fast_shift=8, slow_shift=8).pack_params()
    # slow_shift field (4 bits at offset 9) set to 16 > 14
    with pytest.raises(BitstreamError, match="slow_shift"):
        TokenCodingConfig.from_header_fields(0.1, 1.0, bad_shifts | (0xF << 9))
    with pytest.raises(BitstreamError, match="step"):
        TokenCodingConfig.from_header_fields(-0.5, 1.0, 0)
