"""Fuzz: mutated/truncated streams with real motion payloads parse+decode or raise BitstreamError,
quickly, and within the memory the validated sizes permit -- as stored (the checksum catches nearly
all of them) and with the checksum recomputed after the mutation (so the parser's and the entropy
decoder's own checks are exercised too)."""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamics_codec.bitstream import KeyframeCodecId, StreamHeader, pack_stream, parse_stream
from dynamics_codec.bitstream.format import recompute_checksum
from dynamics_codec.entropy import NeighbourContext, TokenCoder, TokenCodingConfig
from dynamics_codec.entropy.synthetic import synthetic_tokens
from dynamics_codec.errors import BitstreamError


def _valid_streams() -> list[bytes]:
    rng = np.random.default_rng(123)
    streams = []
    for frames, vectors, values, cfg in (
        (8, 2, 20, TokenCodingConfig(step=0.1)),
        (5, 1, 7, TokenCodingConfig(step=0.02, alpha=0.9, neighbour_context=NeighbourContext.BOTH,
                                    unary_cutoff=2, eg_order=1)),
        (11, 2, 4, TokenCodingConfig(step=0.5, per_vector_contexts=True, index_groups=2)),
    ):
        tokens = synthetic_tokens(rng, frames=frames - 1, vectors=vectors, values=values)
        motion = TokenCoder(cfg).encode(tokens).payload
        step, alpha, params = cfg.to_header_fields()
        header = StreamHeader(width=384, height=256, frames=frames, fps_num=25, fps_den=1, token_vectors=vectors,
                              token_values=values, step=step, alpha=alpha, entropy_params=params,
                              keyframe_codec=KeyframeCodecId.X265, keyframe_params=(30,),
                              tokenizer_hash=bytes(range(8)))
        streams.append(pack_stream(header, bytes(rng.integers(0, 256, 40, dtype=np.uint8)), motion))
    streams.append(pack_stream(replace(header, tokenizer_hash=None, frames=1), b"", b""))
    return streams


VALID = _valid_streams()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("replace"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
)


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for op, pos, arg in ops:
        if not out and op != "insert":
            continue
        i = pos % max(len(out), 1)
        if op == "flip":
            out[i] ^= 1 << arg
        elif op == "replace":
            out[i] = arg
        elif op == "insert":
            out.insert(pos % (len(out) + 1), arg)
        elif op == "delete":
            del out[i]
        else:
            del out[i:]
    return bytes(out)


def _parse_and_decode(data: bytes) -> None:
    parsed = parse_stream(data)
    header = parsed.header
    cfg = TokenCodingConfig.from_header_fields(header.step, header.alpha, header.entropy_params)
    indices, recon, active = TokenCoder(cfg).decode(parsed.motion_payload, *header.token_shape)
    assert active.shape == header.token_shape[:1] and active.dtype == bool
    assert indices.shape == header.token_shape == recon.shape
    assert indices.dtype == np.int32 and recon.dtype == np.float32 and np.all(np.isfinite(recon))


def test_unmutated_streams_decode() -> None:
    for data in VALID:
        _parse_and_decode(data)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(VALID) - 1), st.lists(mutation, min_size=1, max_size=4), st.booleans())
def test_mutated_streams_parse_and_decode_or_raise(which: int, ops: list[tuple[str, int, int]], reseal: bool) -> None:
    data = _mutate(VALID[which], ops)
    if reseal:
        try:
            data = recompute_checksum(data)
        except BitstreamError:
            pass  # the structure itself is broken: parsing must say so
    tracemalloc.start()
    start = time.perf_counter()
    num_values = 0  # token values the parsed header declares (0 if it does not parse)
    try:
        num_values = int(np.prod(parse_stream(data).header.token_shape))
        _parse_and_decode(data)
    except BitstreamError:
        pass
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < 1.0, f"{elapsed:.2f} s for {len(data)} bytes"
    # memory: a few copies of the input, plus a bounded amount per validated token value
    assert peak <= 256 * 1024 + 8 * len(data) + 200 * num_values, (peak, num_values)
