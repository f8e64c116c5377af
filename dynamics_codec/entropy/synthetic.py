"""Synthetic token sequences with plausible statistics, for tests and benchmarks.

Tokens follow a per-index random walk whose increments are AR(1)-correlated Laplacian
noise (smooth motion): ``d_t = rho * d_{t-1} + e_t``, ``e_t ~ Laplace(0, increment_scale *
s_n)``, ``tokens_t = tokens_{t-1} + d_t`` starting from ``tokens_0 ~ Laplace(0, first_scale
* s_n)``. The per-index scale ``s_n`` falls geometrically from 1 to ``min_scale`` over the
N indices (as for PCA-like ordered tokens), identical for every vector.
"""

from __future__ import annotations

import numpy as np


def synthetic_tokens(
    rng: np.random.Generator,
    frames: int = 49,
    vectors: int = 2,
    values: int = 20,
    *,
    min_scale: float = 0.1,
    increment_scale: float = 0.15,
    first_scale: float = 0.3,
    rho: float = 0.5,
) -> np.ndarray:
    """Token sequence float32 ``[frames, vectors, values]`` (unit-scale at index 0)."""
    scales = np.geomspace(1.0, min_scale, values) if values > 1 else np.ones(values)
    noise = rng.laplace(0.0, 1.0, size=(frames, vectors, values)) * (increment_scale * scales)
    increments = np.empty_like(noise)
    running = np.zeros((vectors, values))
    for t in range(frames):
        running = rho * running + noise[t]
        increments[t] = running
    start = rng.laplace(0.0, 1.0, size=(vectors, values)) * (first_scale * scales)
    return (start + np.cumsum(increments, axis=0)).astype(np.float32)


def laplacian_tokens(rng: np.random.Generator, frames: int, vectors: int, values: int, scale: float = 1.0
                     ) -> np.ndarray:
    """I.i.d. Laplacian tokens float32 ``[frames, vectors, values]`` (with alpha = 0 the
    residuals are the tokens themselves)."""
    return rng.laplace(0.0, scale, size=(frames, vectors, values)).astype(np.float32)
