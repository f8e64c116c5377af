"""Generalised divisive normalisation (Ballé, Laparra & Simoncelli 2016), as CompressAI implements it.

    y[i] = x[i] / sqrt(beta[i] + sum_j gamma[j, i] * x[j]^2)

A port of ``compressai.layers.GDN`` (and its ``NonNegativeParametrizer`` / ``LowerBound``)
with the same parameter and buffer names (``beta``, ``gamma``, ``beta_reparam.pedestal``,
``beta_reparam.lower_bound.bound``, ``gamma_reparam.*``), so checkpoints written with either
load into the other, and the same numbers and gradients (``tests/nn/test_gdn.py`` compares
them). It exists because importing the ``compressai`` package costs seconds of start-up (its
package import pulls its dataset registry) for these few lines.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GDN", "LowerBound", "NonNegativeParametrizer"]


class _LowerBoundFunction(torch.autograd.Function):
    """``max(x, bound)`` whose gradient passes where ``x >= bound`` or the gradient pushes ``x`` up."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        x, bound = ctx.saved_tensors
        pass_through = (x >= bound) | (grad_output < 0)
        return pass_through * grad_output, None


class LowerBound(nn.Module):
    """``max(x, bound)`` with CompressAI's gradient (see :class:`_LowerBoundFunction`)."""

    bound: Tensor

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.Tensor([float(bound)]))

    def forward(self, x: Tensor) -> Tensor:
        return _LowerBoundFunction.apply(x, self.bound)


class NonNegativeParametrizer(nn.Module):
    """Stores ``sqrt(value + pedestal)`` and returns ``max(p, sqrt(minimum + pedestal))**2 - pedestal``."""

    pedestal: Tensor

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18) -> None:
        super().__init__()
        self.minimum = float(minimum)
        self.reparam_offset = float(reparam_offset)
        self.register_buffer("pedestal", torch.Tensor([self.reparam_offset**2]))
        self.lower_bound = LowerBound((self.minimum + self.reparam_offset**2) ** 0.5)

    def init(self, x: Tensor) -> Tensor:
        return torch.sqrt(torch.max(x + self.pedestal, self.pedestal))

    def forward(self, x: Tensor) -> Tensor:
        return self.lower_bound(x) ** 2 - self.pedestal


class GDN(nn.Module):
    """GDN over the channels of ``[B, C, H, W]`` (``inverse=True``: IGDN, multiplying instead)."""

    def __init__(self, in_channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegativeParametrizer(minimum=float(beta_min))
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(in_channels)))
        self.gamma_reparam = NonNegativeParametrizer()
        self.gamma = nn.Parameter(self.gamma_reparam.init(float(gamma_init) * torch.eye(in_channels)))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        norm = F.conv2d(x**2, gamma, beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))
