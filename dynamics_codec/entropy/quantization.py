"""Closed-loop (DPCM) quantisation of token sequences, bit-identical in encoder and decoder.

For frame t of T inter frames (tokens float32 ``[T, V, N]``)::

    pred_0  = prior                         (constant vector [V, N], zeros by default)
    pred_t  = alpha * recon_{t-1}           (t >= 1)
    q_t     = round_half_even((tokens_t - pred_t) / step)        int32
    recon_t = pred_t + q_t * step

All arithmetic is float32 numpy on CPU, element-wise IEEE operations only (no reductions,
no fused multiply-add, no threads), and the reconstruction goes through the single function
:func:`reconstruct_frame` in both :func:`quantize_closed_loop` (encoder) and
:func:`dequantize_closed_loop` (decoder), so both hold bit-identical token values whatever
the platform's torch threading.
"""

from __future__ import annotations

import numpy as np

from ..errors import BitstreamError, InputError

#: Largest |q| the binarisation can represent; the encoder refuses larger residuals.
MAX_ABS_INDEX = 1 << 24


def _prior_array(prior: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if prior is None:
        return np.zeros(shape, dtype=np.float32)
    arr = np.asarray(prior)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise InputError(f"prior must be a finite array of shape {shape} (V, N), got shape {arr.shape}")
    return arr.astype(np.float32, copy=True)


def predict_frame(prev_recon: np.ndarray | None, alpha: float, prior: np.ndarray) -> np.ndarray:
    """Prediction of one frame: ``prior`` if there is no previous frame, else
    ``float32(alpha) * prev_recon``; float32 ``[V, N]``."""
    if prev_recon is None:
        return prior
    return np.multiply(np.float32(alpha), prev_recon, dtype=np.float32)


def reconstruct_frame(pred: np.ndarray, indices: np.ndarray, step: float) -> np.ndarray:
    """``pred + float32(indices) * float32(step)`` in float32: the one reconstruction rule."""
    scaled = np.multiply(indices.astype(np.float32), np.float32(step), dtype=np.float32)
    return np.add(pred, scaled, dtype=np.float32)


def quantize_closed_loop(
    tokens: np.ndarray, step: float, alpha: float = 1.0, prior: np.ndarray | None = None,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantise tokens ``[T, V, N]`` (finite floats) against the decoded past.

    ``active`` (bool ``[T]``, default all true): frames marked false send no residual (index 0,
    so their reconstruction is the prediction, and the next frame is predicted from it).
    Returns ``(indices int32 [T, V, N], recon float32 [T, V, N])``. Raises InputError for
    non-finite tokens or residuals whose index would exceed :data:`MAX_ABS_INDEX`.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 3:
        raise InputError(f"tokens must be [T, V, N], got shape {tokens.shape}")
    if not np.all(np.isfinite(tokens)):
        raise InputError("tokens contain NaN or infinity; the tokenizer output must be finite")
    tokens = tokens.astype(np.float32, copy=False)
    t_count, v_count, n_count = tokens.shape
    prior_arr = _prior_array(prior, (v_count, n_count))
    step32 = np.float32(step)
    flags = np.ones(t_count, dtype=bool) if active is None else np.asarray(active, dtype=bool)
    if flags.shape != (t_count,):
        raise InputError(f"active must be a bool array of shape ({t_count},), got {flags.shape}")
    indices = np.empty(tokens.shape, dtype=np.int32)
    recon = np.empty(tokens.shape, dtype=np.float32)
    prev: np.ndarray | None = None
    for t in range(t_count):
        with np.errstate(over="ignore", invalid="ignore"):
            pred = predict_frame(prev, alpha, prior_arr)
            residual = np.subtract(tokens[t], pred, dtype=np.float32)
            q = np.rint(np.divide(residual, step32, dtype=np.float32))
        if not flags[t]:
            q = np.zeros_like(q)
        if not np.all(np.abs(q) <= MAX_ABS_INDEX):
            raise InputError(
                f"frame {t}: a residual is {float(np.max(np.abs(q)))} steps (step {float(step32)}); at most "
                f"{MAX_ABS_INDEX} steps can be coded: use a larger step or check the token scale"
            )
        indices[t] = q.astype(np.int32)
        with np.errstate(over="ignore", invalid="ignore"):
            recon[t] = reconstruct_frame(pred, indices[t], step)
        if not np.all(np.isfinite(recon[t])):
            raise InputError(f"frame {t}: the reconstruction overflows float32 (step {float(step32)}, alpha {alpha})")
        prev = recon[t]
    return indices, recon


def dequantize_closed_loop(
    indices: np.ndarray, step: float, alpha: float = 1.0, prior: np.ndarray | None = None
) -> np.ndarray:
    """Decoder side of :func:`quantize_closed_loop`: recon float32 ``[T, V, N]`` from int32
    indices. Raises BitstreamError if the reconstruction overflows float32 (corrupt data)."""
    indices = np.asarray(indices)
    if indices.ndim != 3:
        raise InputError(f"indices must be [T, V, N], got shape {indices.shape}")
    t_count, v_count, n_count = indices.shape
    prior_arr = _prior_array(prior, (v_count, n_count))
    recon = np.empty(indices.shape, dtype=np.float32)
    prev: np.ndarray | None = None
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(t_count):
            recon[t] = reconstruct_frame(predict_frame(prev, alpha, prior_arr), indices[t], step)
            prev = recon[t]
    if not np.all(np.isfinite(recon)):
        raise BitstreamError("decoded tokens overflow float32: the motion payload is corrupt")
    return recon
