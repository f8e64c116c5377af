"""Token-coding configuration and its compact header representation.

Everything the decoder needs is three numbers: the quantisation ``step`` (float32), the
prediction ``alpha`` (float32) and one packed integer of entropy-coder parameters
(:meth:`TokenCodingConfig.pack_params`, 20 bits, a 3-byte varint in the ``.dcv`` header).
The prior of the first inter frame is NOT in the header: it is zeros unless the caller
passes one that is itself derivable from the weights the stream names by hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from enum import IntEnum

import numpy as np

from ..errors import BitstreamError, ConfigError


class NeighbourContext(IntEnum):
    """Which already-decoded neighbour selects the context class of a residual's bins.

    NONE            one class.
    PREVIOUS_FRAME  min(|q| of the same (v, n) in the previous frame, 2): 3 classes.
    LEFT            min(|q| of (v, n-1) in the same frame, 2): 3 classes.
    BOTH            sum of the two capped magnitudes: 5 classes.
    """

    NONE = 0
    PREVIOUS_FRAME = 1
    LEFT = 2
    BOTH = 3


# Field widths of the packed parameter integer, least significant first: (name, bits, offset).
_PACKING: tuple[tuple[str, int, int], ...] = (
    ("unary_cutoff", 4, 1),  # stored as cutoff - 1: 1..16
    ("eg_order", 2, 0),  # 0..3
    ("fast_shift", 3, 1),  # 1..8
    ("slow_shift", 4, 1),  # 1..16 (only 1..14 valid, see validation)
    ("warmup", 1, 0),  # bool
    ("neighbour_context", 2, 0),  # NeighbourContext
    ("index_groups", 3, 1),  # 1..8
    ("per_vector_contexts", 1, 0),  # bool
)
PACKED_PARAMS_BITS = sum(bits for _, bits, _ in _PACKING)


@dataclass(frozen=True)
class TokenCodingConfig:
    """Parameters of closed-loop token quantisation and context-adaptive binary coding.

    Quantisation (see :mod:`.quantization`): ``pred_t = alpha * recon_{t-1}`` (the first
    inter frame is predicted from a constant prior vector, zeros by default),
    ``q_t = round((tokens_t - pred_t) / step)``, ``recon_t = pred_t + q_t * step``; all in
    float32. ``step`` and ``alpha`` are rounded to float32 on construction so that what the
    header stores is exactly what the coder used.

    Binarisation (see :mod:`.binarization`): zero flag, sign, truncated-unary prefix of
    ``|q| - 1`` with ``unary_cutoff`` context-coded bins, then an Exp-Golomb suffix of order
    ``eg_order`` in bypass. Probability adaptation (see :mod:`.adaptive`): two-rate average
    of 15-bit states with shifts ``fast_shift`` and ``slow_shift``, optionally with a
    count-based ``warmup`` that starts each context with faster rates.

    Contexts: bin position x neighbour class (``neighbour_context``) x index group
    (``index_groups`` equal groups of the N token indices) x, when ``per_vector_contexts``,
    the token vector. The defaults were picked by measured bits on synthetic token
    sequences (``benchmarks/entropy.py``): previous-frame neighbour classes + 4 index
    groups + shifts (5, 8) + warm-up cost 4-6 % fewer bits than one context class per bin.
    """

    step: float
    alpha: float = 1.0
    unary_cutoff: int = 8
    eg_order: int = 0
    fast_shift: int = 5
    slow_shift: int = 8
    warmup: bool = True
    neighbour_context: NeighbourContext = NeighbourContext.PREVIOUS_FRAME
    index_groups: int = 4
    per_vector_contexts: bool = False

    def __post_init__(self) -> None:
        with np.errstate(over="ignore"):
            step = float(np.float32(self.step)) if _is_real(self.step) else math.nan
            alpha = float(np.float32(self.alpha)) if _is_real(self.alpha) else math.nan
        if not (math.isfinite(step) and step > 0.0):
            raise ConfigError(f"TokenCodingConfig.step must be a finite float32 > 0, got {self.step!r}")
        if not math.isfinite(alpha):
            raise ConfigError(f"TokenCodingConfig.alpha must be a finite float32, got {self.alpha!r}")
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "alpha", alpha)
        try:
            object.__setattr__(self, "neighbour_context", NeighbourContext(self.neighbour_context))
        except ValueError:
            raise ConfigError(
                f"TokenCodingConfig.neighbour_context must be one of {[m.name for m in NeighbourContext]}"
                f" (0..3), got {self.neighbour_context!r}"
            ) from None
        _check_int("unary_cutoff", self.unary_cutoff, 1, 16)
        _check_int("eg_order", self.eg_order, 0, 3)
        _check_int("fast_shift", self.fast_shift, 1, 8)
        _check_int("slow_shift", self.slow_shift, 1, 14)
        _check_int("index_groups", self.index_groups, 1, 8)
        if self.fast_shift > self.slow_shift:
            raise ConfigError(
                f"TokenCodingConfig.fast_shift ({self.fast_shift}) must be <= slow_shift ({self.slow_shift})"
            )
        object.__setattr__(self, "warmup", bool(self.warmup))
        object.__setattr__(self, "per_vector_contexts", bool(self.per_vector_contexts))

    # --- header representation -------------------------------------------------------

    def pack_params(self) -> int:
        """The integer entropy-coder parameters as one non-negative int of 20 bits."""
        packed, shift = 0, 0
        for name, bits, offset in _PACKING:
            packed |= (int(getattr(self, name)) - offset) << shift
            shift += bits
        return packed

    def to_header_fields(self) -> tuple[float, float, int]:
        """``(step, alpha, packed_params)``: what a stream header must store to decode."""
        return self.step, self.alpha, self.pack_params()

    @classmethod
    def from_header_fields(cls, step: float, alpha: float, packed_params: int) -> "TokenCodingConfig":
        """Inverse of :meth:`to_header_fields`; raises BitstreamError on invalid values."""
        if not isinstance(packed_params, int) or not 0 <= packed_params < (1 << PACKED_PARAMS_BITS):
            raise BitstreamError(
                f"entropy-coder parameters must be an integer in [0, 2^{PACKED_PARAMS_BITS}), "
                f"found {packed_params!r}; the stream is corrupt or from a newer encoder"
            )
        values: dict[str, int] = {}
        shift = 0
        for name, bits, offset in _PACKING:
            values[name] = ((packed_params >> shift) & ((1 << bits) - 1)) + offset
            shift += bits
        try:
            return cls(step=step, alpha=alpha, **values)
        except ConfigError as err:
            raise BitstreamError(f"invalid token-coding parameters in the stream header: {err}") from None

    def with_step(self, step: float) -> "TokenCodingConfig":
        """A copy with another quantisation step (the rate knob)."""
        return replace(self, step=step)

    def describe(self) -> dict[str, object]:
        """Plain dict of all fields (for logs and result JSON)."""
        return {f.name: (getattr(self, f.name).name if f.name == "neighbour_context" else getattr(self, f.name))
                for f in fields(self)}


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= int(value) <= high:
        raise ConfigError(f"TokenCodingConfig.{name} must be an integer in [{low}, {high}], got {value!r}")
