"""Unimatch optical-flow backend: key frame -> every frame, at any input size.

Pipeline (as the reference demo ``evaluate_flow.inference_flow``): images to [0, 255];
portrait inputs (H > W) are transposed to landscape; bilinear resize (align_corners=True) to
the inference size; the network; flow resized back (align_corners=True) with x scaled by
``W / W_inf`` and y by ``H / H_inf``; transposed back with x/y swapped. (The reference demo
transposes the flow back *without* swapping its channels; we swap, which is the correct flow.)
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Sequence

import torch
import torch.nn.functional as F

from dynamics_codec.errors import ConfigError, MissingWeightsError
from dynamics_codec.flow.base import FlowBackend, check_flow_inputs

from .checkpoint import CHECKPOINT_FILENAME, CHECKPOINT_URL, load_into, load_unimatch_state_dict
from .model import UniMatchFlowNet

# Size rounding when ``inference_size=None`` (the published demo's padding_factor for this model).
SIZE_MULTIPLE = 32


class UnimatchFlow(FlowBackend):
    """Dense optical flow from a key frame to each frame with Unimatch (gmflow-scale2-regrefine6).

    Weights: ``gmflow-scale2-regrefine6-mixdata-train320x576-4e7b215d.pth`` from the Unimatch
    model zoo, ``https://s3.eu-central-1.amazonaws.com/avg-projects/unimatch/pretrained/`` +
    that name (see third_party/README.md). ``checkpoint=None`` is allowed only with
    ``allow_random_weights=True`` (tests, benchmarks).

    Args:
        checkpoint: path of the ``.pth`` file.
        inference_size: ``(H_inf, W_inf)`` landscape size the network runs at (multiples of 32);
            ``None`` = the (transposed-to-landscape) input size rounded up to a multiple of 32.
        num_reg_refine, attn_splits, corr_radius, prop_radius: the network's call arguments.
        batch_size: image pairs per network call.
        device: where to put the network (default: leave on CPU; ``.to()`` works as usual).
        allow_random_weights: build with random initial weights when ``checkpoint`` is None.

    The network runs on its parameters' device; inputs are moved there and the flow is returned
    on the key frame's device.
    """

    name = "unimatch"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None,
        inference_size: Sequence[int] | None = (384, 512),
        num_reg_refine: int = 6,
        attn_splits: Sequence[int] = (2, 8),
        corr_radius: Sequence[int] = (-1, 4),
        prop_radius: Sequence[int] = (-1, 1),
        batch_size: int = 8,
        device: str | torch.device | None = None,
        *,
        allow_random_weights: bool = False,
    ) -> None:
        super().__init__()
        self.net = UniMatchFlowNet()
        self.call_kwargs = dict(
            attn_type="swin",
            attn_splits_list=tuple(attn_splits),
            corr_radius_list=tuple(corr_radius),
            prop_radius_list=tuple(prop_radius),
            num_reg_refine=int(num_reg_refine),
            task="flow",
        )
        multiple = self.net.size_multiple(self.call_kwargs["attn_splits_list"])
        if inference_size is not None:
            inference_size = (int(inference_size[0]), int(inference_size[1]))
            if inference_size[0] % multiple or inference_size[1] % multiple:
                raise ConfigError(
                    f"inference_size must be multiples of {multiple} for attn_splits={list(attn_splits)}; "
                    f"got {inference_size}. Use e.g. (384, 512) or None (round the input up)."
                )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}.")
        self.inference_size = inference_size
        self.size_multiple = max(SIZE_MULTIPLE, multiple)
        self.batch_size = int(batch_size)

        if checkpoint is not None:
            load_into(self.net, load_unimatch_state_dict(checkpoint), source=str(checkpoint))
        elif not allow_random_weights:
            raise MissingWeightsError(
                f"UnimatchFlow needs the checkpoint {CHECKPOINT_FILENAME} (got checkpoint=None). "
                f"Download it from {CHECKPOINT_URL} and pass its path (see third_party/README.md); "
                f"random weights are only built with allow_random_weights=True."
            )
        self.net.eval()
        self.net.requires_grad_(False)
        self._weights_digest: str | None = None
        if device is not None:
            self.to(device)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs: object) -> "UnimatchFlow":
        """Build from the published checkpoint file at ``path``.

        Download ``gmflow-scale2-regrefine6-mixdata-train320x576-4e7b215d.pth`` from
        https://s3.eu-central-1.amazonaws.com/avg-projects/unimatch/pretrained/gmflow-scale2-regrefine6-mixdata-train320x576-4e7b215d.pth
        (linked from https://github.com/autonomousvision/unimatch, MODEL_ZOO.md).
        """
        return cls(path, **kwargs)

    def weights_digest(self) -> str:
        """First 16 hex digits of a SHA-256 over the network's state dict (names, shapes, values)."""
        if self._weights_digest is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(self.net.state_dict().items()):
                digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
                digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
            self._weights_digest = digest.hexdigest()[:16]
        return self._weights_digest

    def identity(self) -> str:
        """Options and weights hash, for the flow cache key."""
        kw = self.call_kwargs
        size = "auto" if self.inference_size is None else f"{self.inference_size[0]}x{self.inference_size[1]}"
        return (
            f"unimatch[size={size},refine={kw['num_reg_refine']},splits={list(kw['attn_splits_list'])},"
            f"corr={list(kw['corr_radius_list'])},prop={list(kw['prop_radius_list'])};w={self.weights_digest()}]"
        )

    def train(self, mode: bool = True) -> "UnimatchFlow":
        """The backend is inference-only: the network stays in eval mode (final flow only)."""
        super().train(mode)
        self.net.eval()
        return self

    def _network_size(self, height: int, width: int) -> tuple[int, int]:
        if self.inference_size is not None:
            return self.inference_size
        m = self.size_multiple
        return (math.ceil(height / m) * m, math.ceil(width / m) * m)

    def _run_pairs(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        """Network on ``[N, 3, h, w]`` pairs in [0, 255] (multiple-of-32 sizes), chunked -> ``[N, 2, h, w]``."""
        flows = [
            self.net(img0[i:i + self.batch_size], img1[i:i + self.batch_size], **self.call_kwargs)["flow_preds"][-1]
            for i in range(0, img0.shape[0], self.batch_size)
        ]
        return torch.cat(flows, dim=0)

    @torch.no_grad()
    def forward(self, key: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Flow from ``key`` to every frame.

        Args:
            key: ``[B, 3, H, W]`` RGB float in [0, 1].
            frames: ``[B, T, 3, H, W]`` RGB float in [0, 1].

        Returns:
            ``[B, T, 2, H, W]`` float32 pixels, channel 0 = x, 1 = y, key -> frame t
            (where a key-frame pixel goes).
        """
        check_flow_inputs(key, frames)
        b, t, _, h, w = frames.shape
        out_device = key.device
        if t == 0:
            return torch.zeros(b, 0, 2, h, w, device=out_device)
        net_device = next(self.net.parameters()).device
        img0 = (key.to(net_device, torch.float32) * 255.0).unsqueeze(1).expand(b, t, 3, h, w).reshape(b * t, 3, h, w)
        img1 = (frames.to(net_device, torch.float32) * 255.0).reshape(b * t, 3, h, w)

        transpose = h > w
        if transpose:
            img0, img1 = img0.transpose(-2, -1), img1.transpose(-2, -1)
        size = tuple(img0.shape[-2:])
        net_size = self._network_size(*size)
        resize = net_size != size
        if resize:
            img0 = F.interpolate(img0, size=net_size, mode="bilinear", align_corners=True)
            img1 = F.interpolate(img1, size=net_size, mode="bilinear", align_corners=True)

        flow = self._run_pairs(img0, img1)  # [B*T, 2, h_inf, w_inf]

        if resize:
            flow = F.interpolate(flow, size=size, mode="bilinear", align_corners=True)
            scale = torch.tensor([size[1] / net_size[1], size[0] / net_size[0]], device=flow.device)
            flow = flow * scale.view(1, 2, 1, 1)
        if transpose:
            flow = flow.transpose(-2, -1).flip(1)  # back to portrait; (x, y) swap places
        return flow.reshape(b, t, 2, h, w).to(out_device)
