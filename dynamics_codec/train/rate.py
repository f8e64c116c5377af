"""A differentiable estimate of the tokens' rate (optional training term, off by default).

Each token value ``y`` is modelled as Laplacian with a learned scale per (vector, index); the
bits of its quantised value at step ``s`` are ``-log2(F(y + s/2) - F(y - s/2))`` with ``F``
the Laplace CDF, evaluated at ``y`` plus uniform noise in training (the usual proxy for
quantisation). It models tokens coded *without* prediction, so it is an upper bound on what
the predictive coder spends; the exact bits of the real coder are logged at validation.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TokenRateModel(nn.Module):
    def __init__(self, num_vectors: int, num_values: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(num_vectors, num_values))

    def bits(self, tokens: torch.Tensor, step: float) -> torch.Tensor:
        """Bits per frame for tokens [..., V, N] -> [...]."""
        y = tokens
        if self.training:
            y = y + (torch.rand_like(y) - 0.5) * step
        b = self.log_scale.exp().clamp_min(1e-4)
        upper = _laplace_cdf(y + step / 2, b)
        lower = _laplace_cdf(y - step / 2, b)
        p = (upper - lower).clamp_min(1e-9)
        return (-torch.log2(p)).sum(dim=(-2, -1))


def _laplace_cdf(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / b))


def ideal_bits_reference(y: float, b: float, step: float) -> float:
    """Closed form for one value (used by tests)."""
    cdf = lambda v: 0.5 + 0.5 * math.copysign(1, v) * (1 - math.exp(-abs(v) / b)) if v != 0 else 0.5  # noqa: E731
    return -math.log2(cdf(y + step / 2) - cdf(y - step / 2))
