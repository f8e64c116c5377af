"""The optical-flow interface every backend keeps.

``backend(key [B,3,H,W], frames [B,T,3,H,W]) -> flow [B,T,2,H,W]``

Images are float RGB in [0, 1]. Flow is float32 in pixels of the input size, channel 0 = x
(width), channel 1 = y (height), direction key frame -> frame t: a key-frame pixel at (x, y)
moves to (x + u, y + v) in frame t. Backends accept any H and W and map the flow back to the
input size themselves (resizing and scaling the vectors).
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from dynamics_codec.errors import ConfigError, InputError


class FlowBackend(nn.Module):
    """Base class: dense flow from the key frame to every frame."""

    #: short name used in configs and caches ("dis", "unimatch", ...)
    name: str = "flow"

    def identity(self) -> str:
        """A string that changes whenever the flow this backend computes can change.

        Used as part of the flow-cache key. Backends include their options and, for networks,
        the content hash of their weights.
        """
        return self.name

    def forward(self, key: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def bidirectional(self, key: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(key -> frame, frame -> key)`` flows, each ``[B, T, 2, H, W]`` (the forward-backward
        consistency check needs both). Here two calls, the second with every frame as a key and the
        key frame as its one frame; a backend that can share work between them overrides this."""
        check_flow_inputs(key, frames)
        b, t, _, h, w = frames.shape
        reverse = self(frames.reshape(b * t, 3, h, w), key.repeat_interleave(t, dim=0)[:, None])
        return self(key, frames), reverse.reshape(b, t, 2, h, w)


def check_flow_inputs(key: torch.Tensor, frames: torch.Tensor) -> None:
    """Validate the shapes of a flow call; raise :class:`InputError` with what was found."""
    if key.ndim != 4 or key.shape[1] != 3:
        raise InputError(f"flow: key frame must be [B,3,H,W] RGB in [0,1], got shape {tuple(key.shape)}")
    if frames.ndim != 5 or frames.shape[2] != 3:
        raise InputError(f"flow: frames must be [B,T,3,H,W] RGB in [0,1], got shape {tuple(frames.shape)}")
    if frames.shape[0] != key.shape[0] or frames.shape[-2:] != key.shape[-2:]:
        raise InputError(
            f"flow: key {tuple(key.shape)} and frames {tuple(frames.shape)} must share batch size and H, W"
        )
    if not key.is_floating_point() or not frames.is_floating_point():
        raise InputError("flow: images must be floating point in [0,1] (convert uint8 with x.float() / 255)")


#: built-in backends, imported on first use so that ``import dynamics_codec.flow`` stays light
_BACKENDS = {
    "dis": "dynamics_codec.flow.dis:DISFlow",
    "unimatch": "dynamics_codec.flow.unimatch:UnimatchFlow",
}


def build_flow_backend(name: str, consistency_check: bool = False, consistency_alpha: tuple[float, float] = (0.01, 0.5),
                       **options) -> FlowBackend:
    """Build a flow backend by config name (``dis``, ``unimatch``) with its options.

    ``consistency_check``: wrap it in :class:`~dynamics_codec.flow.consistency.ConsistencyCheckedFlow`
    (flow zeroed where key -> frame and frame -> key disagree) with tolerances ``consistency_alpha``.
    """
    if name not in _BACKENDS:
        raise ConfigError(f"unknown flow backend '{name}'; known: {sorted(_BACKENDS)}")
    module_name, cls_name = _BACKENDS[name].split(":")
    module = importlib.import_module(module_name)
    backend = getattr(module, cls_name)(**options)
    if consistency_check:
        from dynamics_codec.flow.consistency import ConsistencyCheckedFlow

        if len(consistency_alpha) != 2:
            raise ConfigError(f"flow.consistency_alpha must be [alpha1, alpha2]; got {list(consistency_alpha)}.")
        backend = ConsistencyCheckedFlow(backend, *consistency_alpha)
    return backend
