"""The weightless warping decoder: each frame is the decoded key frame warped by the dense flow.

Two ways to warp with a key -> frame t flow ``F`` (``F(q)``: where key-frame pixel ``q`` goes):

* ``"softsplat"`` (forward, default, as MOFA warps): splat the key frame along ``F`` with
  softmax splatting in 'avg' mode (:mod:`dynamics_codec.warping.softsplat`). Target pixels that
  receive little or no weight (disocclusions, expanding motion, the image border the content
  moved away from) are *holes*; they are filled from the backward-warped frame (below), the best
  cheap estimate of what is there, by a soft blend
  ``alpha * splat + (1 - alpha) * fill`` with ``alpha = clamp(weight / hole_threshold, 0, 1)``,
  so a pixel whose splatted weight reaches ``hole_threshold`` is the pure splat result and the
  transition to the fill has no seam. ``hole_fill="key"`` fills from the key-frame pixel at the
  same position instead (no flow inversion), ``"none"`` leaves the splat result (zeros in holes).

* ``"backward"``: sample the key frame (bilinear, border padding) at ``p + G(p)`` where ``G`` is
  the frame t -> key flow, the inverse of ``F``. ``G`` is estimated from ``F`` by fixed-point
  iteration of ``q = p - F(q)`` (the key-frame point ``q`` that lands on ``p``):
  ``q_0 = p - F(p)`` (first order, ``inverse_iterations=0``) and ``q_{k+1} = p - F(q_k)`` with
  ``F`` sampled bilinearly. It converges where the flow's Jacobian has norm < 1 (smooth natural
  motion) and is exact in a few steps for translations; where ``F`` folds (occlusion) it picks one
  of the preimages (:func:`dynamics_codec.warping.invert_flow`).

The warping primitives live in :mod:`dynamics_codec.warping`, shared with flow analysis and
training data; ``backward_warp`` and ``invert_flow`` stay importable from here.
"""

from __future__ import annotations

from typing import Literal

import torch

from dynamics_codec.decoder.base import FrameDecoder, check_decoder_inputs, register_decoder
from dynamics_codec.errors import ConfigError
from dynamics_codec.warping import accumulation_dtype, backward_warp, invert_flow, softsplat_with_weight

WarpMode = Literal["softsplat", "backward"]
HoleFill = Literal["backward", "key", "none"]
WARP_MODES: tuple[str, ...] = ("softsplat", "backward")
HOLE_FILLS: tuple[str, ...] = ("backward", "key", "none")
__all__ = ["WarpDecoder", "WARP_MODES", "HOLE_FILLS", "backward_warp", "invert_flow"]


@register_decoder("warp")
class WarpDecoder(FrameDecoder):
    """Frames = the key frame warped by the dense key -> frame flow (no learned weights).

    Args:
        mode: ``"softsplat"`` (forward splatting, default) or ``"backward"`` (backward sampling
            with the iteratively inverted flow); see the module docstring.
        hole_fill: softsplat mode only: ``"backward"`` (default) fills holes from the
            backward-warped frame, ``"key"`` from the key-frame pixel at the same position,
            ``"none"`` leaves the splat result (0 where nothing lands).
        hole_threshold: splatted weight at and above which a pixel is purely the splat result;
            below it the fill is blended in linearly (weight 0 = pure fill). A translation gives
            weight 1 everywhere inside; zooming in by ``s`` gives about ``1 / s**2``.
        inverse_iterations: fixed-point steps of the flow inversion (backward mode and the
            'backward' hole fill); 0 = first-order ``-F(p)``.
    """

    def __init__(
        self,
        mode: WarpMode = "softsplat",
        hole_fill: HoleFill = "backward",
        hole_threshold: float = 0.5,
        inverse_iterations: int = 5,
    ) -> None:
        super().__init__()
        if mode not in WARP_MODES:
            raise ConfigError(f"warp decoder mode must be one of {WARP_MODES}; got {mode!r}.")
        if hole_fill not in HOLE_FILLS:
            raise ConfigError(f"warp decoder hole_fill must be one of {HOLE_FILLS}; got {hole_fill!r}.")
        if not hole_threshold > 0:
            raise ConfigError(f"warp decoder hole_threshold must be > 0; got {hole_threshold}.")
        if int(inverse_iterations) != inverse_iterations or inverse_iterations < 0:
            raise ConfigError(f"warp decoder inverse_iterations must be an integer >= 0; got {inverse_iterations}.")
        self.mode = mode
        self.hole_fill = hole_fill
        self.hole_threshold = float(hole_threshold)
        self.inverse_iterations = int(inverse_iterations)

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, hole_fill={self.hole_fill!r}, hole_threshold={self.hole_threshold}, "
            f"inverse_iterations={self.inverse_iterations}"
        )

    def warp_backward(self, key: torch.Tensor, flow_key_to_frame: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` key frames backward-warped with the inverse of ``flow_key_to_frame`` ``[N, 2, H, W]``."""
        flow_frame_to_key = invert_flow(flow_key_to_frame, self.inverse_iterations)
        return backward_warp(key, flow_frame_to_key)

    def warp_softsplat(self, key: torch.Tensor, flow_key_to_frame: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` key frames forward-splatted along ``flow_key_to_frame``, holes filled."""
        splatted, weight = softsplat_with_weight(key, flow_key_to_frame, mode="avg")
        if self.hole_fill == "none":
            return splatted
        if self.hole_fill == "key":
            fill = key
        else:
            fill = self.warp_backward(key, flow_key_to_frame)
        alpha = (weight / self.hole_threshold).clamp(0.0, 1.0).to(splatted.dtype)
        return alpha * splatted + (1 - alpha) * fill

    def decode(
        self,
        key: torch.Tensor,
        flow: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Warp ``key`` ``[B, 3, H, W]`` by ``flow`` ``[B, T, 2, H, W]`` (key -> frame t, pixels).

        ``generator`` is ignored (the decoder is deterministic). Returns ``[B, T, 3, H, W]`` in
        [0, 1], ``key``'s dtype and device; half-precision inputs are computed in float32.
        """
        check_decoder_inputs(key, flow)
        b, t, _, h, w = flow.shape
        compute = accumulation_dtype(key.dtype, flow.dtype)
        keys = key.to(compute).unsqueeze(1).expand(b, t, 3, h, w).reshape(b * t, 3, h, w)
        flows = flow.to(compute).reshape(b * t, 2, h, w)
        if self.mode == "backward":
            frames = self.warp_backward(keys, flows)
        else:
            frames = self.warp_softsplat(keys, flows)
        return frames.clamp(0.0, 1.0).reshape(b, t, 3, h, w).to(key.dtype)
