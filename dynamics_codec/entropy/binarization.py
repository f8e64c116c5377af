"""Binarisation of int32 residual indices and context selection, shared by encoder and decoder.

Every frame t starts with its **motion flag** (context coded; the context is the previous
frame's flag): 1 = the frame's residuals follow, 0 = the frame sends no motion (the decoder shows
the key frame for it, and its residuals are all zero, so the token prediction carries over). A
sequence whose frames all take the same choice spends a small fraction of a bit per frame on it.

Each index q of a ``[T, V, N]`` sequence (raster order t, v, n) becomes the bins

1. zero flag ``q != 0``                                   (context coded)
2. sign ``q < 0``                                         (context coded)
3. truncated unary prefix of ``m = |q| - 1``: bin i (i < cutoff) is ``m > i``, stopping
   at the first 0                                          (context coded, one context per i)
4. if ``m >= cutoff``: Exp-Golomb code of order k of ``m - cutoff``: prefix of ones
   (at most :data:`MAX_EG_PREFIX`, a longer one is a BitstreamError), a zero, then the
   suffix bits, most significant first                     (bypass, p = 1/2)

Context of the zero flag and prefix bins: bin position x neighbour class x index group
(x token vector when configured). Neighbour classes (:class:`NeighbourContext`) use the
already coded ``|q|`` of the same (v, n) in the previous frame (the first frame counts as
"large", its residual being against the prior) and/or of (v, n - 1). The sign context is
the sign of that same neighbour (previous frame for PREVIOUS_FRAME/BOTH, left for LEFT).

The one function :func:`code_indices` walks the sequence for both directions through the
:class:`BinCoder` protocol: the encoder passes the indices and records bins, the decoder
passes ``None`` and gets the bins from the range decoder, so both derive every context
from the same code.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import BitstreamError
from .config import NeighbourContext, TokenCodingConfig
from .quantization import MAX_ABS_INDEX

#: Longest Exp-Golomb prefix (ones) a decoder accepts; longer means a corrupt payload.
MAX_EG_PREFIX = 24
_CLASS_CAP = 2  # neighbour magnitudes are capped at 2 -> classes {0, 1, 2}


class BinCoder(Protocol):
    """One direction of binary coding: ``bit`` is given when encoding, None when decoding."""

    def bin(self, ctx: int, bit: int | None) -> int:
        """Code one context-modelled bin and return its value (0 or 1)."""

    def bypass(self, bit: int | None) -> int:
        """Code one equiprobable bin and return its value (0 or 1)."""


class ContextLayout:
    """Flat context numbering for a config and token shape ``(V, N)``."""

    def __init__(self, config: TokenCodingConfig, v_count: int, n_count: int) -> None:
        self.mode = config.neighbour_context
        self.cutoff = config.unary_cutoff
        self.eg_order = config.eg_order
        self.num_classes = {NeighbourContext.NONE: 1, NeighbourContext.BOTH: 2 * _CLASS_CAP + 1}.get(
            self.mode, _CLASS_CAP + 1
        )
        groups = config.index_groups
        vectors = v_count if config.per_vector_contexts else 1
        #: slot of each (v, n): (vector part * groups + group), shape [V, N] as nested lists
        self.slot = [
            [(v if config.per_vector_contexts else 0) * groups + (n * groups) // n_count for n in range(n_count)]
            for v in range(v_count)
        ]
        num_slots = vectors * groups
        self.zero_base = 0
        self.mag_base = num_slots * self.num_classes
        self.sign_base = self.mag_base + num_slots * self.num_classes * self.cutoff
        self.flag_base = self.sign_base + num_slots * 3
        self.count = self.flag_base + 2

    def flag_ctx(self, previous_active: bool) -> int:
        """Context of a frame's motion flag, selected by the previous frame's flag."""
        return self.flag_base + int(previous_active)

    def zero_ctx(self, slot: int, cls: int) -> int:
        return self.zero_base + slot * self.num_classes + cls

    def mag_ctx(self, slot: int, cls: int) -> int:
        """Context of prefix bin 0; bin i uses ``mag_ctx + i``."""
        return self.mag_base + (slot * self.num_classes + cls) * self.cutoff

    def sign_ctx(self, slot: int, neighbour: int) -> int:
        return self.sign_base + slot * 3 + (0 if neighbour == 0 else (1 if neighbour > 0 else 2))


def _code_exp_golomb(coder: BinCoder, order: int, value: int | None) -> int:
    """Exp-Golomb code of order ``order`` of a non-negative int in bypass bins."""
    k = order
    base = 0
    if value is not None:
        while value - base >= (1 << k):
            coder.bypass(1)
            base += 1 << k
            k += 1
        coder.bypass(0)
    else:
        while coder.bypass(None):
            base += 1 << k
            k += 1
            if k - order > MAX_EG_PREFIX:
                raise BitstreamError(
                    f"Exp-Golomb prefix longer than {MAX_EG_PREFIX} bins: the motion payload is corrupt"
                )
    rest = 0
    for i in range(k - 1, -1, -1):
        bit = None if value is None else ((value - base) >> i) & 1
        rest = (rest << 1) | coder.bypass(bit)
    return base + rest


def _code_one(coder: BinCoder, layout: ContextLayout, zero_ctx: int, sign_ctx: int, mag_ctx: int,
              q: int | None) -> int:
    encoding = q is not None
    if not coder.bin(zero_ctx, (q != 0) if encoding else None):
        return 0
    negative = coder.bin(sign_ctx, (q < 0) if encoding else None)
    m = abs(q) - 1 if encoding else 0
    cutoff = layout.cutoff
    i = 0
    while i < cutoff and coder.bin(mag_ctx + i, (m > i) if encoding else None):
        i += 1
    magnitude = i
    if i == cutoff:
        magnitude += _code_exp_golomb(coder, layout.eg_order, (m - cutoff) if encoding else None)
    if magnitude >= MAX_ABS_INDEX:
        raise BitstreamError(f"decoded index magnitude {magnitude + 1} exceeds {MAX_ABS_INDEX}: corrupt payload")
    return -(magnitude + 1) if negative else magnitude + 1


def code_indices(coder: BinCoder, layout: ContextLayout, shape: tuple[int, int, int],
                 indices: np.ndarray | None = None, active: np.ndarray | None = None,
                 before_active_frame=None) -> tuple[np.ndarray, np.ndarray]:
    """Code (``indices`` and ``active`` given) or decode (both None) a sequence of frames.

    ``indices`` int32 ``[T, V, N]`` (rows of inactive frames must be zero), ``active`` bool
    ``[T]`` (the motion flags; encoding only, default all true). Returns ``(indices, active)``
    (the inputs when encoding). ``before_active_frame(count)`` is called with the number of
    active frames so far before the residuals of each active frame are coded (the decoder's
    payload-size check). The caller must have validated ``shape`` against its limits: the
    output is allocated here.
    """
    t_count, v_count, n_count = shape
    out = np.zeros(shape, dtype=np.int32)
    flags = np.ones(t_count, dtype=bool)
    values = indices.tolist() if indices is not None else None
    encoding = values is not None
    if encoding and active is not None:
        flags = np.asarray(active, dtype=bool).copy()
        if flags.shape != (t_count,) or np.any(np.asarray(indices)[~flags] != 0):
            raise ValueError("active must be bool [T] and inactive frames must have zero indices")
    mode = layout.mode
    use_prev = mode in (NeighbourContext.PREVIOUS_FRAME, NeighbourContext.BOTH)
    use_left = mode in (NeighbourContext.LEFT, NeighbourContext.BOTH)
    cap = _CLASS_CAP
    prev_frame: list[list[int]] | None = None
    prev_active = True
    num_active = 0
    for t in range(t_count):
        is_active = bool(coder.bin(layout.flag_ctx(prev_active), int(flags[t]) if encoding else None))
        flags[t] = prev_active = is_active
        if not is_active:
            continue  # zero residuals; the neighbour contexts keep the last coded frame
        if before_active_frame is not None:
            before_active_frame(num_active)
        num_active += 1
        frame: list[list[int]] = []
        for v in range(v_count):
            row: list[int] = []
            prev_row = prev_frame[v] if prev_frame is not None else None
            slots = layout.slot[v]
            left = 0
            for n in range(n_count):
                cls = 0
                sign_neighbour = 0
                if use_prev:
                    if prev_row is None:
                        cls = cap
                    else:
                        above = prev_row[n]
                        sign_neighbour = above
                        cls = min(abs(above), cap)
                if use_left:
                    cls += min(abs(left), cap)
                    if not use_prev:
                        sign_neighbour = left
                slot = slots[n]
                q = _code_one(
                    coder,
                    layout,
                    layout.zero_ctx(slot, cls),
                    layout.sign_ctx(slot, sign_neighbour),
                    layout.mag_ctx(slot, cls),
                    values[t][v][n] if values is not None else None,
                )
                row.append(q)
                left = q
            frame.append(row)
        out[t] = frame
        prev_frame = frame
    return out, flags
