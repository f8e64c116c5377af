"""The order of the temporal cross-attention context for batches of several videos.

Inside each ``TransformerSpatioTemporalModel`` the temporal blocks attend over frames at every
spatial position; their cross-attention context is the first frame's ``encoder_hidden_states``.
The rows of the temporal hidden states are ordered ``(b, position)`` (b-major).

* diffusers >= 0.25 ("diffusers" order) gives row ``b * HW + p`` the context of video ``b``.
* diffusers 0.24, which MOFA-Video ran (training and inference, always with a classifier-free
  guidance batch of 2), built the context ordered ``(position, b)``, so row ``r`` got the context
  of video ``r % B`` ("mofa" order). Identical for ``B = 1``. The parity fixtures with ``B = 2``
  (``svd_unet_controlnet_micro``, ``mofa_flow_controlnet*/case_b2_edm``) reproduce only with it.

:func:`set_temporal_context_order` installs a forward pre-hook on every temporal block that
re-orders the context diffusers passes, without copying diffusers' forward code.
"""

from __future__ import annotations

from typing import Literal

import torch
from diffusers.models.attention import TemporalBasicTransformerBlock

from dynamics_codec.errors import ConfigError

TemporalContextOrder = Literal["mofa", "diffusers"]
_HANDLES_ATTR = "_temporal_context_hooks"


def legacy_context(hidden_states: torch.Tensor, num_frames: int, context: torch.Tensor) -> torch.Tensor:
    """Re-order a b-major per-row context ``[B*HW, L, D]`` the way diffusers 0.24 ordered it.

    Args:
        hidden_states: ``[B*T, HW, C]`` the temporal block's input (gives B and HW).
        num_frames: T.
        context: ``[B*HW, L, D]`` row ``b * HW + p`` holds video b's context.

    Returns:
        ``[B*HW, L, D]`` where row ``r`` holds video ``r % B``'s context.
    """
    batch = hidden_states.shape[0] // num_frames
    positions = hidden_states.shape[1]
    per_video = context.reshape(batch, positions, *context.shape[1:])[:, 0]  # [B, L, D]
    return per_video.unsqueeze(0).expand(positions, *per_video.shape).reshape(positions * batch, *per_video.shape[1:])


def _pre_hook(module: torch.nn.Module, args: tuple, kwargs: dict):
    context = kwargs.get("encoder_hidden_states")
    if context is None:
        return None
    hidden_states = args[0] if args else kwargs["hidden_states"]
    num_frames = args[1] if len(args) > 1 else kwargs["num_frames"]
    if hidden_states.shape[0] == num_frames:  # one video: both orders agree
        return None
    kwargs = dict(kwargs)
    kwargs["encoder_hidden_states"] = legacy_context(hidden_states, num_frames, context)
    return args, kwargs


def set_temporal_context_order(model: torch.nn.Module, order: TemporalContextOrder) -> None:
    """Make every temporal block of ``model`` use ``order`` (idempotent)."""
    if order not in ("mofa", "diffusers"):
        raise ConfigError(f"temporal context order must be 'mofa' or 'diffusers'; got {order!r}.")
    for handle in getattr(model, _HANDLES_ATTR, []):
        handle.remove()
    handles = []
    if order == "mofa":
        for module in model.modules():
            if isinstance(module, TemporalBasicTransformerBlock):
                handles.append(module.register_forward_pre_hook(_pre_hook, with_kwargs=True))
    object.__setattr__(model, _HANDLES_ATTR, handles)
    object.__setattr__(model, "_temporal_context_order", order)


def temporal_context_order(model: torch.nn.Module) -> TemporalContextOrder | None:
    """The order installed on ``model`` (None when never set)."""
    return getattr(model, "_temporal_context_order", None)
