"""CMP's discrete-flow fuser (MOFA-Video ``models/cmp/utils/visualize_utils.py`` ``Fuser``).

CMP predicts, per pixel, ``nbins`` logits for the x component and ``nbins`` for y (channels
``0..nbins-1`` = x, ``nbins..2*nbins-1`` = y). The flow is the softmax-weighted mean of the
bin centres ``mesh[k] = k * step - fmax + step / 2`` with ``step = 2 * fmax / nbins``, in
pixels of the resolution CMP ran at.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from dynamics_codec.errors import InputError


class Fuser(nn.Module):
    """``forward(logits [N, 2*nbins, h, w]) -> flow [N, 2, h, w]`` (pixels, x then y)."""

    def __init__(self, nbins: int = 99, fmax: float = 50.0) -> None:
        super().__init__()
        self.nbins = int(nbins)
        self.fmax = float(fmax)
        step = 2 * self.fmax / self.nbins
        # same float32 operation order as the reference (bin centres differ in the last ulp otherwise)
        mesh = torch.arange(self.nbins).float() * step - self.fmax + step / 2
        self.register_buffer("mesh", mesh.view(1, -1, 1, 1), persistent=False)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 4 or logits.shape[1] != 2 * self.nbins:
            raise InputError(
                f"Fuser expects logits [N, {2 * self.nbins}, h, w] ({self.nbins} x bins then {self.nbins} y bins); "
                f"got shape {tuple(logits.shape)}. Pass CMP's raw output."
            )
        mesh = self.mesh.to(logits.dtype)
        prob_x = torch.softmax(logits[:, : self.nbins], dim=1)
        prob_y = torch.softmax(logits[:, self.nbins :], dim=1)
        return torch.cat([(prob_x * mesh).sum(dim=1, keepdim=True), (prob_y * mesh).sum(dim=1, keepdim=True)], dim=1)
