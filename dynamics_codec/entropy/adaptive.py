"""Adaptive binary probability models (CABAC-style) and the exact probabilities the coder uses.

Precision and update rule (identical in encoder and decoder, integer arithmetic only):

* Each context keeps two 15-bit states ``s_fast``, ``s_slow`` in ``[0, 2^15]`` estimating
  P(bin = 1) * 2^15, both starting at 2^14 (p = 1/2), and a small observation counter.
* After coding bit ``b``: ``s += ((b << 15) - s) >> shift`` for each state, with Python's
  floor (arithmetic) right shift; ``shift`` is ``fast_shift`` resp. ``slow_shift``. With
  ``warmup`` the shift used for the c-th observation of a context (c = 0, 1, ...) is
  ``min(shift, bit_length(c + 1))`` (1, 2, 2, 3, 3, 3, 3, 4, ...): a fresh context first
  averages like a counting estimator, then settles to the exponential-decay rates
  (VVC-like two-rate average, AV1-like fast start).
* The probability given to the coder is ``k / 2^15`` with
  ``k = clip((s_fast + s_slow) >> 1, P_MIN, 2^15 - P_MIN)``, ``P_MIN = 2^15 / 256``, so no
  bin costs more than 8 bits and none less than 0.0056 bits.

``constriction``'s ``Bernoulli(p, perfect=False)`` quantises ``[1 - p, p]`` to 24-bit
integer weights with ``w0 = floor((1 - p) * (2^24 - 2)) + 1`` and ``w1 = 2^24 - w0``
(``from_floating_point_probabilities_fast``); for the dyadic ``p = k / 2^15`` this is exact
in float64, so :data:`COST_OF_ZERO` / :data:`COST_OF_ONE` give the exact ideal code length
of each coded bin. Bypass bins use ``k = 2^14``, which quantises to exactly 1/2.
"""

from __future__ import annotations

import numpy as np

PROB_BITS = 15
PROB_ONE = 1 << PROB_BITS
PROB_HALF = 1 << (PROB_BITS - 1)
P_MIN = PROB_ONE >> 8
CODER_PRECISION = 24
_WARMUP_COUNT_CAP = 1 << 14


def coder_weights(k: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """24-bit weights ``(w0, w1)`` constriction uses for ``Bernoulli(k / 2^15, perfect=False)``."""
    k_arr = np.asarray(k, dtype=np.int64)
    w0 = (((PROB_ONE - k_arr) * ((1 << CODER_PRECISION) - 2)) >> PROB_BITS) + 1
    return w0, (1 << CODER_PRECISION) - w0


def _cost_tables() -> tuple[np.ndarray, np.ndarray]:
    w0, w1 = coder_weights(np.arange(PROB_ONE + 1))
    return CODER_PRECISION - np.log2(w0.astype(np.float64)), CODER_PRECISION - np.log2(w1.astype(np.float64))


#: Ideal bits of coding a 0 / a 1 with probability state k (index 0..2^15).
COST_OF_ZERO, COST_OF_ONE = _cost_tables()


def ideal_bits(bits: np.ndarray, states: np.ndarray) -> float:
    """Sum of -log2 p over coded bins: ``bits`` 0/1, ``states`` the k each was coded with."""
    bits = np.asarray(bits, dtype=bool)
    states = np.asarray(states, dtype=np.int64)
    return float(np.sum(np.where(bits, COST_OF_ONE[states], COST_OF_ZERO[states])))


class AdaptiveBinaryContexts:
    """Probability states of ``count`` binary contexts, updated after every coded bin.

    Plain Python ints (scalar numpy arithmetic would be slower); see the module docstring
    for the exact rule.
    """

    __slots__ = ("_fast", "_slow", "_seen", "_fast_shift", "_slow_shift", "_warmup")

    def __init__(self, count: int, fast_shift: int, slow_shift: int, warmup: bool) -> None:
        self._fast = [PROB_HALF] * count
        self._slow = [PROB_HALF] * count
        self._seen = [0] * count
        self._fast_shift = fast_shift
        self._slow_shift = slow_shift
        self._warmup = warmup

    def state(self, ctx: int) -> int:
        """Probability state k of a 1 (coder probability ``k / 2^15``)."""
        k = (self._fast[ctx] + self._slow[ctx]) >> 1
        return P_MIN if k < P_MIN else (PROB_ONE - P_MIN if k > PROB_ONE - P_MIN else k)

    def update(self, ctx: int, bit: int) -> None:
        """Move both states of ``ctx`` toward the observed ``bit`` (0 or 1)."""
        target = bit << PROB_BITS
        fast_shift, slow_shift = self._fast_shift, self._slow_shift
        if self._warmup:
            seen = self._seen[ctx]
            warm = (seen + 1).bit_length()
            fast_shift = min(fast_shift, warm)
            slow_shift = min(slow_shift, warm)
            if seen < _WARMUP_COUNT_CAP:
                self._seen[ctx] = seen + 1
        fast, slow = self._fast[ctx], self._slow[ctx]
        self._fast[ctx] = fast + ((target - fast) >> fast_shift)
        self._slow[ctx] = slow + ((target - slow) >> slow_shift)
