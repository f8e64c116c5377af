"""Token coder: closed-loop quantisation + context-adaptive binary range coding.

Built on ``constriction``'s range coder (``constriction.stream.queue.RangeEncoder`` /
``RangeDecoder``, 32-bit words, 64-bit state, 24-bit probabilities) with
``Bernoulli(k / 2^15, perfect=False)`` models whose quantisation is exact and known (see
:mod:`.adaptive`). The encoder first runs the adaptive models over all bins (the contexts
only depend on already coded values), then range-codes the whole bin sequence in one call;
the decoder decodes bin by bin through the same :func:`code_indices`.

Payload format: the coder's 32-bit words as **big-endian** bytes, so the payload reads as
one binary fraction (the range coder's point). The decoder zero-pads the payload to whole
words and ``constriction`` reads zeros past the end, hence

* trailing zero bytes are dropped (always safe);
* then the encoder tries to drop 1-4 more bytes by rounding the point up at a byte
  boundary, and keeps the shortest candidate whose decode reproduces every index (so a
  trim is never accepted unless verified);
* finally, zero bytes are appended if needed so that the *coded values* -- one motion flag
  per frame plus ``V*N`` residuals per active frame, ``T + A*V*N`` -- satisfy
  ``T + A*V*N <= VALUES_PER_PAYLOAD_BYTE * (len(payload) + PAYLOAD_SLACK_BYTES)``. The
  decoder checks ``T`` against this bound before decoding anything and the running count
  before each active frame, which bounds its time by the payload size; its memory is bounded
  by ``T*V*N <= MAX_TOKEN_VALUES``. The padding costs nothing unless a stream is below 1/16 bit
  per coded value (nearly all-zero residuals of long sequences); frames without motion cost
  their flag only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import constriction
import numpy as np

from ..errors import BitstreamError, InputError
from .adaptive import COST_OF_ONE, COST_OF_ZERO, PROB_HALF, PROB_ONE, AdaptiveBinaryContexts, ideal_bits
from .binarization import ContextLayout, code_indices
from .config import TokenCodingConfig
from .quantization import dequantize_closed_loop, quantize_closed_loop

VALUES_PER_PAYLOAD_BYTE = 128
PAYLOAD_SLACK_BYTES = 16
MAX_TRIM_BYTES = 4
#: Most token values (T*V*N) a decoder allocates for one stream (64 MiB of int32 indices).
MAX_TOKEN_VALUES = 1 << 24

_queue = constriction.stream.queue
_model = constriction.stream.model


@dataclass(frozen=True)
class EncodedTokens:
    """Result of :meth:`TokenCoder.encode`.

    payload     motion payload bytes
    indices     int32 [T, V, N] quantisation indices (zero rows for frames without motion)
    recon       float32 [T, V, N] decoded tokens (bit-identical to the decoder's)
    active      bool [T] motion flags: false = the frame sends no motion (the decoder shows the key frame)
    ideal_bits  sum of -log2 p over the coded bins, p the exact coder probability
    bits        8 * len(payload)
    num_bins    number of coded bins (context + bypass)
    """

    payload: bytes
    indices: np.ndarray
    recon: np.ndarray
    active: np.ndarray
    ideal_bits: float
    bits: int
    num_bins: int


class DecodedTokens(NamedTuple):
    """Result of :meth:`TokenCoder.decode`: int32 indices and float32 recon ``[T, V, N]``, bool
    motion flags ``[T]``."""

    indices: np.ndarray
    recon: np.ndarray
    active: np.ndarray


class _BinRecorder:
    """Encoder side of :class:`~.binarization.BinCoder`: adapts models, records (bit, k).

    ``frame_ctx``: contexts that start a frame (the motion flags); the recorder notes the bin
    position of each, so the bins can be split by frame (:func:`estimate_bits_per_frame`).
    """

    def __init__(self, contexts: AdaptiveBinaryContexts, frame_ctx: tuple[int, ...] = ()) -> None:
        self.contexts = contexts
        self.bits: list[int] = []
        self.states: list[int] = []
        self.frame_ctx = frame_ctx
        self.frame_starts: list[int] = []

    def bin(self, ctx: int, bit: int | None) -> int:
        bit = int(bit)  # type: ignore[arg-type]
        if ctx in self.frame_ctx:
            self.frame_starts.append(len(self.bits))
        self.bits.append(bit)
        self.states.append(self.contexts.state(ctx))
        self.contexts.update(ctx, bit)
        return bit

    def bypass(self, bit: int | None) -> int:
        bit = int(bit)  # type: ignore[arg-type]
        self.bits.append(bit)
        self.states.append(PROB_HALF)
        return bit


class _BinDecoder:
    """Decoder side of :class:`~.binarization.BinCoder` on a constriction RangeDecoder."""

    def __init__(self, contexts: AdaptiveBinaryContexts, words: np.ndarray) -> None:
        self.contexts = contexts
        self.decoder = _queue.RangeDecoder(words)
        self.models: dict[int, object] = {}

    def _decode(self, k: int) -> int:
        model = self.models.get(k)
        if model is None:
            model = self.models[k] = _model.Bernoulli(k / PROB_ONE, perfect=False)
        return int(self.decoder.decode(model))

    def bin(self, ctx: int, bit: int | None) -> int:
        bit = self._decode(self.contexts.state(ctx))
        self.contexts.update(ctx, bit)
        return bit

    def bypass(self, bit: int | None) -> int:
        return self._decode(PROB_HALF)


def _words_from_payload(payload: bytes) -> np.ndarray:
    padded = bytes(payload) + b"\x00" * (-len(payload) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def min_payload_bytes(num_values: int) -> int:
    """Smallest payload length the decoder accepts for ``num_values`` coded values (one flag
    per frame + ``V*N`` per active frame)."""
    return max(0, math.ceil(num_values / VALUES_PER_PAYLOAD_BYTE) - PAYLOAD_SLACK_BYTES)


def coded_values(t_count: int, active_count: int, v_count: int, n_count: int) -> int:
    """Values a payload codes: a motion flag per frame and ``V*N`` residuals per active frame."""
    return int(t_count) + int(active_count) * int(v_count) * int(n_count)


class TokenCoder:
    """Encode/decode token sequences ``[T, V, N]`` with one :class:`TokenCodingConfig`.

    ``prior`` (float32 [V, N], default zeros) predicts the first inter frame; it is not
    stored in the stream, so a non-zero prior must come from the weights the stream names.
    """

    def __init__(self, config: TokenCodingConfig, prior: np.ndarray | None = None, *, trim: bool = True) -> None:
        self.config = config
        self.prior = None if prior is None else np.asarray(prior, dtype=np.float32)
        self.trim = trim

    # --- encoder -------------------------------------------------------------------------

    def encode(self, tokens: np.ndarray, active: np.ndarray | None = None) -> EncodedTokens:
        """Quantise and entropy-code finite tokens float32 ``[T, V, N]``; ``active`` (bool [T],
        default all true) marks the frames that send motion (see :mod:`.binarization`)."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 3 or min(tokens.shape) < 0:
            raise InputError(f"tokens must be [T, V, N], got shape {tokens.shape}")
        if tokens.size > MAX_TOKEN_VALUES:
            raise InputError(f"{tokens.size} token values exceed the decoders' limit of {MAX_TOKEN_VALUES}")
        cfg = self.config
        t_count = tokens.shape[0]
        flags = np.ones(t_count, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        indices, recon = quantize_closed_loop(tokens, cfg.step, cfg.alpha, self.prior, active=flags)
        layout = ContextLayout(cfg, tokens.shape[1], tokens.shape[2]) if tokens.size else None
        recorder = _BinRecorder(self._contexts(layout))
        if layout is not None:
            code_indices(recorder, layout, indices.shape, indices, flags)
        bits = np.asarray(recorder.bits, dtype=np.int32)
        states = np.asarray(recorder.states, dtype=np.int64)
        encoder = _queue.RangeEncoder()
        if bits.size:
            encoder.encode(bits, _model.Bernoulli(perfect=False), states.astype(np.float64) / PROB_ONE)
        words = np.asarray(encoder.get_compressed(), dtype=np.uint32)
        payload = words.astype(">u4").tobytes().rstrip(b"\x00")
        if self.trim and payload:
            payload = self._trim(payload, indices, flags)
        values = coded_values(t_count, int(flags.sum()), *tokens.shape[1:]) if tokens.size else 0
        payload += b"\x00" * max(0, min_payload_bytes(values) - len(payload))
        return EncodedTokens(
            payload=payload,
            indices=indices,
            recon=recon,
            active=flags.copy(),
            ideal_bits=ideal_bits(bits, states),
            bits=8 * len(payload),
            num_bins=int(bits.size),
        )

    def _trim(self, payload: bytes, indices: np.ndarray, active: np.ndarray) -> bytes:
        """Shortest verified payload obtained by rounding the point up at a byte boundary."""
        t_count, v_count, n_count = indices.shape
        for drop in range(min(MAX_TRIM_BYTES, len(payload) - 1), 0, -1):
            head = bytearray(payload[: len(payload) - drop])
            i = len(head) - 1  # add one unit in the last kept byte, with carry
            while i >= 0 and head[i] == 0xFF:
                head[i] = 0
                i -= 1
            if i < 0:
                continue
            head[i] += 1
            candidate = bytes(head).rstrip(b"\x00")
            try:
                decoded, flags = self._decode_indices(candidate, t_count, v_count, n_count, check_size=False)
            except BitstreamError:
                continue
            if np.array_equal(decoded, indices) and np.array_equal(flags, active):
                return candidate
        return payload

    # --- decoder -------------------------------------------------------------------------

    def decode(self, payload: bytes, t_count: int, v_count: int, n_count: int) -> DecodedTokens:
        """Decode ``(indices int32 [T, V, N], recon float32 [T, V, N], active bool [T])``.

        Raises BitstreamError for a payload that is too short for the shape (see the module
        docstring), a shape beyond :data:`MAX_TOKEN_VALUES`, an over-long Exp-Golomb prefix, an
        index beyond the coder's range, a reconstruction that overflows float32, or any error of
        the range decoder.
        """
        indices, active = self._decode_indices(payload, t_count, v_count, n_count, check_size=True)
        recon = dequantize_closed_loop(indices, self.config.step, self.config.alpha, self.prior)
        return DecodedTokens(indices, recon, active)

    def _decode_indices(self, payload: bytes, t_count: int, v_count: int, n_count: int, *,
                        check_size: bool) -> tuple[np.ndarray, np.ndarray]:
        for name, value in (("T", t_count), ("V", v_count), ("N", n_count)):
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise BitstreamError(f"token shape {name} must be a non-negative integer, got {value!r}")
        shape = (int(t_count), int(v_count), int(n_count))
        num_values = shape[0] * shape[1] * shape[2]
        if num_values > MAX_TOKEN_VALUES:
            raise BitstreamError(
                f"the stream declares {shape[0]} frames x {shape[1]}x{shape[2]} tokens = {num_values} token values, "
                f"more than the decoder's limit of {MAX_TOKEN_VALUES}: the stream is corrupt or hostile"
            )

        def check(active_so_far: int) -> None:
            need = coded_values(shape[0], active_so_far + 1, shape[1], shape[2])
            if check_size and len(payload) < min_payload_bytes(need):
                raise BitstreamError(
                    f"motion payload of {len(payload)} bytes cannot hold {need} coded values (at least "
                    f"{min_payload_bytes(need)} bytes expected): the stream is corrupt"
                )

        if num_values == 0:
            return np.zeros(shape, dtype=np.int32), np.ones(shape[0], dtype=bool)
        if check_size and len(payload) < min_payload_bytes(shape[0]):
            raise BitstreamError(
                f"motion payload of {len(payload)} bytes cannot hold the motion flags of {shape[0]} frames "
                f"(at least {min_payload_bytes(shape[0])} bytes expected): the stream is corrupt"
            )
        layout = ContextLayout(self.config, shape[1], shape[2])
        try:
            decoder = _BinDecoder(self._contexts(layout), _words_from_payload(payload))
            return code_indices(decoder, layout, shape, before_active_frame=check)
        except BitstreamError:
            raise
        except Exception as err:  # constriction reports corrupt data as ValueError/AssertionError
            raise BitstreamError(f"range decoder failed on the motion payload ({type(err).__name__}: {err})") from err

    def _contexts(self, layout: ContextLayout | None) -> AdaptiveBinaryContexts:
        cfg = self.config
        return AdaptiveBinaryContexts(0 if layout is None else layout.count, cfg.fast_shift, cfg.slow_shift,
                                      cfg.warmup)


def estimate_bits(tokens: np.ndarray, config: TokenCodingConfig, prior: np.ndarray | None = None,
                  active: np.ndarray | None = None) -> float:
    """Ideal adaptive code length in bits of ``tokens`` [T, V, N] (no range coding, no trim)."""
    flags = None if active is None else np.asarray(active, dtype=bool)
    indices, _ = quantize_closed_loop(tokens, config.step, config.alpha, prior, active=flags)
    if indices.size == 0:
        return 0.0
    layout = ContextLayout(config, indices.shape[1], indices.shape[2])
    recorder = _BinRecorder(AdaptiveBinaryContexts(layout.count, config.fast_shift, config.slow_shift,
                                                   config.warmup))
    code_indices(recorder, layout, indices.shape, indices, flags)
    return ideal_bits(np.asarray(recorder.bits), np.asarray(recorder.states))


def estimate_bits_per_frame(tokens: np.ndarray, config: TokenCodingConfig, prior: np.ndarray | None = None,
                            active: np.ndarray | None = None) -> np.ndarray:
    """Ideal adaptive code length of each frame of ``tokens`` [T, V, N] (float [T], its flag and
    residual bins; the sum is :func:`estimate_bits`)."""
    flags = None if active is None else np.asarray(active, dtype=bool)
    indices, _ = quantize_closed_loop(tokens, config.step, config.alpha, prior, active=flags)
    if indices.size == 0:
        return np.zeros(indices.shape[0])
    layout = ContextLayout(config, indices.shape[1], indices.shape[2])
    recorder = _BinRecorder(AdaptiveBinaryContexts(layout.count, config.fast_shift, config.slow_shift, config.warmup),
                            frame_ctx=(layout.flag_ctx(False), layout.flag_ctx(True)))
    code_indices(recorder, layout, indices.shape, indices, flags)
    bits = np.asarray(recorder.bits, dtype=bool)
    states = np.asarray(recorder.states, dtype=np.int64)
    cost = np.where(bits, COST_OF_ONE[states], COST_OF_ZERO[states])
    return np.add.reduceat(cost, np.asarray(recorder.frame_starts))
