"""Unimatch / GMFlow optical-flow network (task='flow'), state-dict compatible with the published checkpoints.

The default configuration is ``gmflow-scale2-regrefine6-mixdata-train320x576-4e7b215d.pth``:
two scales (1/8 global matching, 1/4 local matching), 6 transformer blocks, 6 regression
refinement steps and convex upsampling x4.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from dynamics_codec.errors import ConfigError, InputError

from .backbone import CNNEncoder
from .geometry import convex_upsample, flow_warp, upsample_flow_bilinear
from .matching import global_correlation_softmax, local_correlation_softmax, local_correlation_with_flow
from .propagation import SelfAttnPropagation
from .refine import BasicUpdateBlock
from .transformer import FeatureTransformer, add_window_position

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Window radius of the correlation fed to the refinement (fixed in the published models).
REFINE_CORR_RADIUS = 4


class UniMatchFlowNet(nn.Module):
    """Unimatch flow network.

    ``forward(img0, img1, ...)`` takes RGB float images in [0, 255], ``[B, 3, H, W]`` with
    ``H, W`` multiples of 32 (for the default windows), and returns ``{"flow_preds": [...]}``:
    flows ``[B, 2, H, W]`` in pixels from img0 to img1 (``[2B, ...]``: forward then backward
    with ``pred_bidir_flow``). In eval mode the list holds only the final flow; in train mode
    it also holds every intermediate prediction upsampled to full resolution (2 per scale,
    then one per refinement step).
    """

    def __init__(
        self,
        feature_channels: int = 128,
        num_scales: int = 2,
        upsample_factor: int = 4,
        num_head: int = 1,
        ffn_dim_expansion: int = 4,
        num_transformer_layers: int = 6,
        reg_refine: bool = True,
        task: str = "flow",
    ) -> None:
        super().__init__()
        if task != "flow":
            raise ConfigError(f"UniMatchFlowNet implements task='flow' only; got task={task!r}.")
        if not reg_refine:
            raise ConfigError(
                "UniMatchFlowNet implements the regression-refinement models (reg_refine=True, e.g. "
                "gmflow-scale2-regrefine6-*); got reg_refine=False."
            )
        if num_scales not in (1, 2, 3, 4):
            raise ConfigError(f"num_scales must be 1..4 (the encoder's trident strides); got {num_scales}.")
        self.feature_channels = feature_channels
        self.num_scales = num_scales
        self.upsample_factor = upsample_factor
        self.backbone = CNNEncoder(output_dim=feature_channels, num_scales=num_scales)
        self.transformer = FeatureTransformer(num_transformer_layers, feature_channels, num_head, ffn_dim_expansion)
        self.feature_flow_attn = SelfAttnPropagation(feature_channels)
        self.refine_proj = nn.Conv2d(feature_channels, 256, 1)
        self.refine = BasicUpdateBlock(
            corr_channels=(2 * REFINE_CORR_RADIUS + 1) ** 2, downsample_factor=upsample_factor, flow_dim=2
        )
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def size_multiple(self, attn_splits_list: Sequence[int]) -> int:
        """The factor ``H`` and ``W`` must be multiples of for these window splits."""
        multiple = 1
        for scale, splits in enumerate(attn_splits_list):
            stride = self.upsample_factor * 2 ** (self.num_scales - 1 - scale)
            multiple = max(multiple, stride * splits)
        return multiple

    def _check_inputs(self, img0: torch.Tensor, img1: torch.Tensor, attn_splits_list: Sequence[int]) -> None:
        if img0.dim() != 4 or img0.shape[1] != 3 or img0.shape != img1.shape:
            raise InputError(
                f"UniMatchFlowNet expects two RGB batches [B, 3, H, W] of equal shape; got "
                f"{tuple(img0.shape)} and {tuple(img1.shape)}."
            )
        multiple = self.size_multiple(attn_splits_list)
        h, w = img0.shape[-2:]
        if h % multiple or w % multiple:
            raise InputError(
                f"UniMatchFlowNet needs H and W divisible by {multiple} for attn_splits_list="
                f"{list(attn_splits_list)}; got {h}x{w}. Resize or pad first (UnimatchFlow does)."
            )

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        attn_type: str = "swin",
        attn_splits_list: Sequence[int] = (2, 8),
        corr_radius_list: Sequence[int] = (-1, 4),
        prop_radius_list: Sequence[int] = (-1, 1),
        num_reg_refine: int = 6,
        pred_bidir_flow: bool = False,
        task: str = "flow",
    ) -> dict[str, list[torch.Tensor]]:
        """Predict flow img0 -> img1 (see the class docstring for shapes, ranges and outputs).

        Args:
            attn_type: only ``"swin"`` (window attention; ``splits == 1`` is global attention).
            attn_splits_list: windows per side of the transformer, one per scale (coarse first).
            corr_radius_list: ``-1`` = global matching, ``r`` = local matching radius, per scale.
            prop_radius_list: ``-1`` = global propagation, ``r`` = local window radius, per scale.
            num_reg_refine: refinement steps at the finest scale (> 0).
            pred_bidir_flow: also predict the backward flow (batch doubles).
        """
        if task != "flow" or attn_type != "swin":
            raise ConfigError(f"UniMatchFlowNet supports task='flow', attn_type='swin'; got {task!r}, {attn_type!r}.")
        if not len(attn_splits_list) == len(corr_radius_list) == len(prop_radius_list) == self.num_scales:
            raise ConfigError(
                f"attn_splits_list, corr_radius_list and prop_radius_list need one entry per scale "
                f"({self.num_scales}); got {list(attn_splits_list)}, {list(corr_radius_list)}, {list(prop_radius_list)}."
            )
        if num_reg_refine < 1:
            raise ConfigError(f"num_reg_refine must be >= 1 for a reg_refine model; got {num_reg_refine}.")
        self._check_inputs(img0, img1, attn_splits_list)

        img0 = (img0 / 255.0 - self._mean) / self._std
        img1 = (img1 / 255.0 - self._mean) / self._std
        features = self.backbone(torch.cat((img0, img1), dim=0))[::-1]  # low to high resolution
        features0 = [f.chunk(2, dim=0)[0] for f in features]
        features1 = [f.chunk(2, dim=0)[1] for f in features]

        flow_preds: list[torch.Tensor] = []
        flow: torch.Tensor | None = None
        for scale in range(self.num_scales):
            feature0, feature1 = features0[scale], features1[scale]
            if pred_bidir_flow and scale > 0:
                feature0, feature1 = torch.cat((feature0, feature1), dim=0), torch.cat((feature1, feature0), dim=0)
            cnn_feature0, cnn_feature1 = feature0, feature1
            factor = self.upsample_factor * 2 ** (self.num_scales - 1 - scale)

            if flow is not None:
                flow = upsample_flow_bilinear(flow, 2).detach()
                feature1 = flow_warp(feature1, flow)

            splits = attn_splits_list[scale]
            feature0, feature1 = add_window_position(feature0, feature1, splits)
            feature0, feature1 = self.transformer(feature0, feature1, num_splits=splits)

            radius = corr_radius_list[scale]
            if radius == -1:
                flow_pred = global_correlation_softmax(feature0, feature1, pred_bidir_flow)
            else:
                flow_pred = local_correlation_softmax(feature0, feature1, radius)
            flow = flow_pred if flow is None else flow + flow_pred
            if self.training:
                flow_preds.append(upsample_flow_bilinear(flow, factor))

            if pred_bidir_flow and scale == 0:
                feature0 = torch.cat((feature0, feature1), dim=0)
            flow = self.feature_flow_attn(feature0, flow.detach(), radius=prop_radius_list[scale])
            if self.training:
                flow_preds.append(upsample_flow_bilinear(flow, factor))

        flow_preds += self._refine(flow, feature0, cnn_feature0, cnn_feature1, num_reg_refine)
        return {"flow_preds": flow_preds}

    def _refine(
        self,
        flow: torch.Tensor,
        feature0: torch.Tensor,
        cnn_feature0: torch.Tensor,
        cnn_feature1: torch.Tensor,
        num_steps: int,
    ) -> list[torch.Tensor]:
        """Regression refinement at the finest scale; returns the convex-upsampled flows to report.

        ``feature0`` (after the transformer) gives the GRU state and context, the CNN features
        (before position/transformer, image 1 not warped) the correlation. As in the reference,
        the GRU state is re-initialised from ``feature0`` at every step (not carried over).
        """
        hidden, context = torch.chunk(self.refine_proj(feature0), chunks=2, dim=1)
        hidden, context = torch.tanh(hidden), torch.relu(context)
        outputs = []
        for step in range(num_steps):
            flow = flow.detach()
            correlation = local_correlation_with_flow(cnn_feature0, cnn_feature1, flow, REFINE_CORR_RADIUS)
            _, mask_logits, residual = self.refine(hidden, context, correlation, flow)
            flow = flow + residual
            if self.training or step == num_steps - 1:
                outputs.append(convex_upsample(flow, mask_logits, self.upsample_factor))
        return outputs
