"""What MOFA-Video does around CMP: ``cmp_run`` and the 384x384 resizing of ``get_cmp_flow``.

``run_cmp`` is MOFA's ``train_stage2.cmp_run``: image ``*2-1``, CMP on
``[sparse, mask]``, fused flow at half resolution, bilinear (``align_corners=True``) resize
to the input size without rescaling (the bins are already input-resolution pixels).

:class:`CMPMotionPredictor` adds MOFA's resolution handling: CMP always runs at
``size x size`` (384); inputs of another size are resized with ``mode='nearest'`` and the
flow's x / y components scaled by ``size/W`` / ``size/H``; the dense result is resized back
with ``mode='nearest'`` and scaled by ``W/size`` / ``H/size``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from dynamics_codec.cmp.checkpoint import load_cmp_checkpoint
from dynamics_codec.cmp.fuser import Fuser
from dynamics_codec.cmp.init import build_cmp
from dynamics_codec.cmp.model import CMP, CMPConfig
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.warping import resize_flow

MIN_SIZE = 64


@dataclass
class CMPRun:
    """Outputs of :func:`run_cmp` (all float32).

    flow: ``[N, 2, H, W]`` pixels, x then y, at the input size.
    logits: CMP's raw output ``[N, 2*nbins, H/2, W/2]``.
    flow_half_res: fused flow before the resize, ``[N, 2, H/2, W/2]``.
    image_features / sparse_features: encoder outputs at 1/8 (``[N, 256|16, H/8, W/8]``).
    """

    flow: torch.Tensor
    logits: torch.Tensor
    flow_half_res: torch.Tensor
    image_features: torch.Tensor
    sparse_features: torch.Tensor


def cmp_sparse_input(sparse_flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CMP's 4-channel sparse input ``[fx*m, fy*m, m, m]`` from flow ``[N,2,H,W]`` and mask ``[N,1|2,H,W]``."""
    mask2 = mask.expand(-1, 2, -1, -1) if mask.shape[1] == 1 else mask
    return torch.cat([sparse_flow * mask2, mask2], dim=1).float()


def run_cmp(model: CMP, fuser: Fuser, image: torch.Tensor, sparse_flow: torch.Tensor, mask: torch.Tensor) -> CMPRun:
    """One CMP call at the inputs' own resolution (MOFA's ``cmp_run``).

    image ``[N,3,H,W]`` in [0,1]; sparse_flow ``[N,2,H,W]`` pixels (multiplied by the mask
    here, a no-op for an already sparse field); mask ``[N,1|2,H,W]`` in {0,1}.
    """
    net_image = image.float() * 2 - 1
    image_features, skips = model.encode_image(net_image)
    sparse_features = model.encode_sparse(cmp_sparse_input(sparse_flow, mask))
    logits = model.decode(image_features, skips, sparse_features)
    flow_half = fuser(logits)
    flow = flow_half
    if flow.shape[2:] != image.shape[2:]:
        flow = F.interpolate(flow, size=image.shape[2:], mode="bilinear", align_corners=True)
    return CMPRun(flow, logits, flow_half, image_features, sparse_features)


class CMPMotionPredictor(nn.Module):
    """Dense motion from sparse motion with MOFA's CMP, the training issue's target.

    Args:
        checkpoint: path of ``ckpt_iter_42000.pth.tar``; ``None`` only with ``allow_random_weights``.
        size: the square resolution CMP runs at (MOFA: 384).
        device: where the network lives at first; afterwards it follows its inputs' device.
        allow_random_weights: build random weights (from ``generator``) when ``checkpoint`` is
            None; for tests and benchmarks. A missing checkpoint *file* always raises.
        generator: the torch.Generator for random weights (default: seeded with 0).
        chunk_size: frames per CMP call (bounds memory); None = all at once.
        config: network hyper-parameters (defaults are MOFA's).

    The network is frozen and always in eval mode (``train()`` does not change that);
    ``forward`` runs without gradients.
    """

    def __init__(self, checkpoint: str | os.PathLike | None, size: int = 384, device: str | torch.device | None = None,
                 allow_random_weights: bool = False, generator: torch.Generator | None = None,
                 chunk_size: int | None = None, config: CMPConfig | None = None) -> None:
        super().__init__()
        if size < MIN_SIZE or size % 8:
            raise ConfigError(
                f"CMP size must be a multiple of 8 and at least {MIN_SIZE} (its decoder max-pools the 1/8 "
                f"features by 8; MOFA uses 384); got {size}."
            )
        if chunk_size is not None and chunk_size <= 0:
            raise ConfigError(f"chunk_size must be positive or None; got {chunk_size}.")
        if checkpoint is None:
            if not allow_random_weights:
                raise ConfigError(
                    "CMPMotionPredictor needs a checkpoint path (ckpt_iter_42000.pth.tar, see third_party/README.md); "
                    "got None. Pass allow_random_weights=True only for tests/benchmarks, or use target=flow."
                )
            self.cmp = build_cmp(config, generator if generator is not None else torch.Generator().manual_seed(0))
        else:
            self.cmp = load_cmp_checkpoint(checkpoint, config)
        self.fuser = Fuser(self.cmp.config.nbins, self.cmp.config.fmax)
        self.size = int(size)
        self.chunk_size = chunk_size
        self.requires_grad_(False)
        if device is not None:
            self.to(device)
        self.train(False)

    def train(self, mode: bool = True) -> "CMPMotionPredictor":
        """CMP is frozen: always eval mode (BatchNorm running statistics), whatever ``mode`` says."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, image: torch.Tensor, sparse_flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Dense flow from sparse motion, key frame -> frame t.

        Args:
            image: key frame ``[B,3,H,W]`` (shared by every frame t) or ``[B,T,3,H,W]``, float in [0,1].
            sparse_flow: ``[B,2,H,W]`` or ``[B,T,2,H,W]`` pixels (x, y) at the points, key -> t.
            mask: like ``sparse_flow`` with 1 or 2 channels, {0,1}.

        Returns:
            dense flow, float32 pixels, the shape of ``sparse_flow``, on the inputs' device.
        """
        flows, masks, keys, lead_shape = self._fold(image, sparse_flow, mask)
        self._follow(keys.device)
        height, width = flows.shape[2:]
        work = (self.size, self.size)
        keys_w = F.interpolate(keys.float(), size=work, mode="nearest") if (height, width) != work else keys.float()
        flows_w = resize_flow(flows.float(), work, mode="nearest")
        masks_w = F.interpolate(masks.float(), size=work, mode="nearest") if (height, width) != work else masks.float()
        if keys.shape[0] == flows.shape[0]:  # a key frame per frame (training batches): nothing to share
            dense = torch.cat([self._run_chunk(keys_w[s], None, flows_w[s], masks_w[s])
                               for s in self._chunks(flows.shape[0])], dim=0)
        else:
            key_index = torch.arange(keys.shape[0], device=keys.device).repeat_interleave(flows.shape[0] // keys.shape[0])
            dense = torch.cat([self._run_chunk(keys_w, key_index[s], flows_w[s], masks_w[s])
                               for s in self._chunks(flows.shape[0])], dim=0)
        return resize_flow(dense, (height, width), mode="nearest").reshape(*lead_shape, 2, height, width)

    def _run_chunk(self, keys: torch.Tensor, key_index: torch.Tensor | None, flows: torch.Tensor,
                   masks: torch.Tensor) -> torch.Tensor:
        """CMP on one chunk of frames at the working size; ``keys[key_index[i]]`` is frame i's key
        image (each key image encoded once), or ``keys[i]`` when ``key_index`` is None."""
        if key_index is None:
            image_features, skips = self.cmp.encode_image(keys * 2 - 1)
        else:
            used = torch.unique(key_index)
            image_features, skips = self.cmp.encode_image(keys[used] * 2 - 1)
            local = torch.searchsorted(used, key_index)
            image_features = image_features[local]
            skips = [s[local] for s in skips]
        logits = self.cmp.decode(image_features, skips, self.cmp.encode_sparse(cmp_sparse_input(flows, masks)))
        flow = self.fuser(logits)
        return F.interpolate(flow, size=flows.shape[2:], mode="bilinear", align_corners=True)

    def _chunks(self, total: int) -> list[slice]:
        step = self.chunk_size or total
        return [slice(i, min(i + step, total)) for i in range(0, total, step)]

    def _follow(self, device: torch.device) -> None:
        if self.fuser.mesh.device != device:
            self.to(device)

    @staticmethod
    def _fold(image: torch.Tensor, sparse_flow: torch.Tensor, mask: torch.Tensor):
        """Flatten to frames: flows ``[N,2,H,W]``, masks ``[N,1|2,H,W]``, key images ``[K,3,H,W]``, N = K*r."""
        if sparse_flow.ndim not in (4, 5) or sparse_flow.shape[-3] != 2:
            raise InputError(f"sparse_flow must be [B,2,H,W] or [B,T,2,H,W] pixels; got {tuple(sparse_flow.shape)}.")
        lead_shape = sparse_flow.shape[:-3]
        size = sparse_flow.shape[-2:]
        if mask.shape[:-3] != lead_shape or mask.shape[-2:] != size or mask.shape[-3] not in (1, 2):
            raise InputError(f"mask must match sparse_flow {tuple(sparse_flow.shape)} with 1 or 2 channels; "
                             f"got {tuple(mask.shape)}.")
        if image.shape[-3] != 3 or image.shape[-2:] != size or image.shape[:-3] not in (lead_shape, lead_shape[:1]):
            raise InputError(f"image must be [B,3,H,W] or [B,T,3,H,W] in [0,1] matching sparse_flow "
                             f"{tuple(sparse_flow.shape)}; got {tuple(image.shape)}.")
        flows = sparse_flow.reshape(-1, 2, *size)
        masks = mask.reshape(-1, mask.shape[-3], *size).to(flows.device)
        keys = image.reshape(-1, 3, *size).to(flows.device)
        return flows, masks, keys, lead_shape
