"""Forward-backward consistency check around any flow backend.

Classical flow (DIS) returns *some* vector everywhere, also where the image has nothing to
match: in flat sky or dark water it reports motion of several pixels that is noise. The
watershed sampler then keeps motion points on that noise, the tokens spend bits on it and the
decoder moves static regions. The standard remedy (Sundaram, Brox and Keutzer, ECCV 2010) is
to compute the flow both ways and trust a pixel only where they agree:

    |F(p) + B(p + F(p))|^2 <= alpha1 * (|F(p)|^2 + |B(p + F(p))|^2) + alpha2

with ``F`` the key -> frame flow and ``B`` the frame -> key flow sampled (bilinearly) where
``p`` lands. Elsewhere the flow is set to zero: the motion the codec sends is the motion the
flow is sure of. Occluded pixels fail the check too, which is fine for a sampler that keeps
points in motion-region interiors.
"""

from __future__ import annotations

import torch

from dynamics_codec.warping import backward_warp
from dynamics_codec.errors import ConfigError
from dynamics_codec.flow.base import FlowBackend, check_flow_inputs


def consistency_mask(forward: torch.Tensor, backward: torch.Tensor, alpha1: float = 0.01,
                     alpha2: float = 0.5) -> torch.Tensor:
    """``[N, 1, H, W]`` bool, True where the key -> frame flow ``forward`` ``[N, 2, H, W]`` and the
    frame -> key flow ``backward`` agree (see the module docstring), both in pixels."""
    returned = backward_warp(backward, forward)  # B(p + F(p))
    mismatch = (forward + returned).square().sum(1, keepdim=True)
    scale = forward.square().sum(1, keepdim=True) + returned.square().sum(1, keepdim=True)
    return mismatch <= alpha1 * scale + alpha2


class ConsistencyCheckedFlow(FlowBackend):
    """``backend``'s flow, zero where the forward and backward flows disagree.

    Costs a second flow computation per frame (frame -> key, batched like the first).

    Args:
        backend: the flow backend to check.
        alpha1: tolerance relative to the squared flow magnitudes.
        alpha2: absolute tolerance in squared pixels.
    """

    def __init__(self, backend: FlowBackend, alpha1: float = 0.01, alpha2: float = 0.5) -> None:
        super().__init__()
        if alpha1 < 0 or alpha2 < 0:
            raise ConfigError(f"flow consistency tolerances must be >= 0; got alpha1={alpha1}, alpha2={alpha2}.")
        self.backend = backend
        self.alpha1 = float(alpha1)
        self.alpha2 = float(alpha2)
        self.name = backend.name

    def identity(self) -> str:
        return f"{self.backend.identity()}+fbcheck[{self.alpha1:g},{self.alpha2:g}]"

    @torch.no_grad()
    def forward(self, key: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        check_flow_inputs(key, frames)
        b, t, _, h, w = frames.shape
        flow, reverse = self.backend.bidirectional(key, frames)  # DIS: one pass over the images
        flow, reverse = flow.reshape(b * t, 2, h, w), reverse.reshape(b * t, 2, h, w)
        keep = consistency_mask(flow.float(), reverse.float(), self.alpha1, self.alpha2)
        return (flow * keep).reshape(b, t, 2, h, w)
