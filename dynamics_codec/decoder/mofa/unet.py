"""SVD's spatio-temporal UNet taking ControlNet residuals (MOFA's variant).

:class:`UNetSpatioTemporalWithResiduals` extends diffusers' ``UNetSpatioTemporalConditionModel``
(same constructor, same parameters, so SVD's ``unet/`` folder loads with ``from_pretrained``)
with the two inputs of MOFA's ``UNetSpatioTemporalConditionControlNetModel``:
``down_block_additional_residuals`` and ``mid_block_additional_residual``.

Residual accumulation (``residual_accumulation``):

* ``"mofa"`` (default; what the published adaptor was trained with): after *every* down block
  the residual list is added to all skip tensors accumulated so far (``zip`` truncates), so
  residual k enters once per remaining down block (SVD-xt: multiplicities
  ``[4,4,4,4,3,3,3,2,2,2,1,1]``). Checked against ``shared/parity/svd_unet_controlnet*``.
* ``"once"``: the usual diffusers ControlNet addition, each residual added once after the down path.

The mid residual is added once after the mid block in both modes.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from diffusers.models.unets.unet_spatio_temporal_condition import (
    UNetSpatioTemporalConditionModel,
    UNetSpatioTemporalConditionOutput,
)

from dynamics_codec.decoder.mofa.embedding import frame_conditioning, run_block
from dynamics_codec.decoder.mofa.temporal_context import set_temporal_context_order, temporal_context_order
from dynamics_codec.errors import ConfigError, InputError

ResidualAccumulation = Literal["mofa", "once"]


def residual_multiplicities(blocks_skip_counts: Sequence[int]) -> list[int]:
    """How often MOFA's UNet adds each residual, from the number of skips each stage contributes.

    ``blocks_skip_counts[0]`` is conv_in's single skip, then one entry per down block
    (layers + downsampler). Residual k is added once per down block from the one that produced
    skip k to the last: e.g. ``[1, 3, 3, 3, 2] -> [4,4,4,4,3,3,3,2,2,2,1,1]``.
    """
    counts = list(blocks_skip_counts)
    num_blocks = len(counts) - 1
    out: list[int] = [num_blocks] * counts[0]
    for i, c in enumerate(counts[1:], start=1):
        out += [num_blocks - i + 1] * c
    return out


class UNetSpatioTemporalWithResiduals(UNetSpatioTemporalConditionModel):
    """diffusers' SVD UNet + ControlNet residual inputs; see the module docstring."""

    residual_accumulation: ResidualAccumulation = "mofa"

    def set_residual_accumulation(self, mode: ResidualAccumulation) -> None:
        """Choose how down residuals are added: ``"mofa"`` (reference, default) or ``"once"``."""
        if mode not in ("mofa", "once"):
            raise ConfigError(f"residual_accumulation must be 'mofa' or 'once'; got {mode!r}.")
        self.residual_accumulation = mode

    @property
    def num_skip_connections(self) -> int:
        """Number of down residuals the UNet takes (SVD-xt: 12)."""
        return 1 + sum(len(b.resnets) + (0 if b.downsamplers is None else len(b.downsamplers)) for b in self.down_blocks)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        down_block_additional_residuals: Sequence[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> UNetSpatioTemporalConditionOutput | tuple[torch.Tensor]:
        """Predict the denoiser output.

        Args:
            sample: ``[B, T, in_channels, h, w]``.
            timestep: number, scalar or ``[B]`` tensor.
            encoder_hidden_states: ``[B, 1, cross_attention_dim]``.
            added_time_ids: ``[B, 3]``.
            down_block_additional_residuals: ``num_skip_connections`` tensors ``[B*T, C_k, h_k, w_k]``.
            mid_block_additional_residual: ``[B*T, C_last, h_min, w_min]``.

        Returns:
            ``[B, T, out_channels, h, w]`` (in a dataclass unless ``return_dict=False``).
        """
        residuals = None if down_block_additional_residuals is None else tuple(down_block_additional_residuals)
        if residuals is not None and len(residuals) != self.num_skip_connections:
            raise InputError(
                f"UNet expects {self.num_skip_connections} down residuals (one per skip connection); got {len(residuals)}."
            )
        up_factor = 2**self.num_upsamplers
        forward_upsample_size = any(s % up_factor != 0 for s in sample.shape[-2:])

        if temporal_context_order(self) is None:  # MOFA's (diffusers 0.24) order unless set otherwise
            set_temporal_context_order(self, "mofa")
        cond = frame_conditioning(
            self.time_proj, self.time_embedding, self.add_time_proj, self.add_embedding,
            sample, timestep, encoder_hidden_states, added_time_ids,
        )
        x = self.conv_in(sample.flatten(0, 1))
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in self.down_blocks:
            x, res = run_block(block, x, cond)
            skips += res
            if residuals is not None and self.residual_accumulation == "mofa":
                skips = tuple(s + r for s, r in zip(skips, residuals))
        if residuals is not None and self.residual_accumulation == "once":
            skips = tuple(s + r for s, r in zip(skips, residuals))

        x = run_block(self.mid_block, x, cond)
        if mid_block_additional_residual is not None:
            x = x + mid_block_additional_residual

        upsample_size = None
        for i, block in enumerate(self.up_blocks):
            n = len(block.resnets)
            res, skips = skips[-n:], skips[:-n]
            if i < len(self.up_blocks) - 1 and forward_upsample_size:
                upsample_size = skips[-1].shape[2:]
            x = run_block(block, x, cond, res_hidden_states_tuple=res, upsample_size=upsample_size)

        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))
        x = x.reshape(cond.batch_size, cond.num_frames, *x.shape[1:])
        if not return_dict:
            return (x,)
        return UNetSpatioTemporalConditionOutput(sample=x)
