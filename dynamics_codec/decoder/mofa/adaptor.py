"""The MOFA flow adaptor: a ControlNet for Stable Video Diffusion steered by dense flow.

Our implementation of MOFA-Video's ``FlowControlNet`` (Training/models/
svdxt_featureflow_forward_controlnet_s2d_fixcmp_norefine.py, on top of its
``ControlNetSDVModel``), built from diffusers' spatio-temporal blocks; parameter names equal
the published checkpoint's (``ckpts/controlnet/diffusion_pytorch_model.safetensors``, no prefix),
checked against ``shared/parity/mofa_flow_controlnet*``.

Data flow (``B`` videos of ``T`` frames, latents ``h = H/8``):

1. time + added-time embedding as the SVD UNet (:mod:`.embedding`); ``x = conv_in(sample)``.
2. ``E0 = controlnet_cond_embedding(key)`` ``[B, C0, H/8, W/8]``; ``E1..E3 = flow_encoder(E0)``
   at ``H/16, H/32, H/64`` with ``C0, C1, C2`` channels (stride-2 3x3 conv + SiLU, chained, each
   read out through a 1x1 zero-conv).
3. Flow at scale ``s = 8, 16, 32, 64``: ``flow[..., ::s, ::s] / s`` (nearest subsampling).
4. ``Wj``: frame 0 = ``Ej`` un-warped, frame k >= 1 = ``softsplat(Ej, flow_k, 'avg')``
   (float32). When the flow has ``T`` entries (no key-frame slot) every frame is warped.
5. ``x = x + W0``; after down block i: ``x = x + W[min(i + 1, 3)]``; before the mid block
   ``x = x + W3`` once more (the reference's order: W3 enters three times). Skip tensors are
   not modified except ``skips[0]`` which includes ``W0``.
6. Residuals: 1x1 zero-convs of every skip and of the mid-block output, times
   ``conditioning_scale``.

Reference quirk kept on purpose: its ``__init__`` ignores the config and always builds the
SVD-xt default structure; :func:`dynamics_codec.decoder.mofa.loading.load_flow_adaptor`
does the same for the published folder. Our class honours its arguments (tiny test models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_blocks import UNetMidBlockSpatioTemporal, get_down_block

from dynamics_codec.decoder.mofa.embedding import frame_conditioning, run_block
from dynamics_codec.decoder.mofa.temporal_context import set_temporal_context_order, temporal_context_order
from dynamics_codec.warping import softsplat
from dynamics_codec.errors import ConfigError, InputError

#: The SVD-xt down path (and the published adaptor's structure).
SVD_DOWN_BLOCKS: tuple[str, ...] = (
    "CrossAttnDownBlockSpatioTemporal",
    "CrossAttnDownBlockSpatioTemporal",
    "CrossAttnDownBlockSpatioTemporal",
    "DownBlockSpatioTemporal",
)
SVD_UP_BLOCKS: tuple[str, ...] = (
    "UpBlockSpatioTemporal",
    "CrossAttnUpBlockSpatioTemporal",
    "CrossAttnUpBlockSpatioTemporal",
    "CrossAttnUpBlockSpatioTemporal",
)


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of ``module`` to 0 (ControlNet's zero-convs) and return it."""
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


class KeyFrameConditioningEmbedding(nn.Module):
    """Key frame ``[B, 3, H, W]`` -> features ``[B, C, H/8, W/8]``.

    ``conv_in`` 3x3 + SiLU, then per stage a 3x3 conv and a stride-2 3x3 conv (each + SiLU),
    then a zero-initialised 3x3 ``conv_out`` (no activation). Names match MOFA's
    ``FlowControlNetConditioningEmbeddingSVD``.
    """

    def __init__(self, out_channels: int, in_channels: int = 3, channels: Sequence[int] = (16, 32, 96, 256)) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.conv_out = zero_module(nn.Conv2d(channels[-1], out_channels, kernel_size=3, padding=1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.conv_in(image))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(x)


class KeyFrameEncoderLayer(nn.Module):
    """Stride-2 3x3 conv + SiLU (MOFA's ``FlowControlNetFirstFrameEncoderLayer``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.conv_in(x))


class KeyFrameFeatureEncoder(nn.Module):
    """``E0`` ``[B, C_in, h, w]`` -> ``[E1, E2, ...]`` at ``h/2, h/4, ...`` (MOFA's ``FlowControlNetFirstFrameEncoder``).

    Layers are chained on the activations; each output is read through a zero-init 1x1 conv.
    """

    def __init__(self, in_channels: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.encoders = nn.ModuleList()
        self.zeroconvs = nn.ModuleList()
        for channel in channels:
            self.encoders.append(KeyFrameEncoderLayer(in_channels, channel))
            self.zeroconvs.append(zero_module(nn.Conv2d(channel, channel, kernel_size=1)))
            in_channels = channel

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for encoder, zeroconv in zip(self.encoders, self.zeroconvs):
            features = encoder(features)
            outputs.append(zeroconv(features))
        return outputs


def scaled_flow(flow: torch.Tensor, scale: int) -> torch.Tensor:
    """``[B, N, 2, H, W]`` pixels -> ``[B, N, 2, H/scale, W/scale]`` in pixels of the smaller grid.

    Nearest subsampling (``flow[..., ::s, ::s]``, what ``F.interpolate(scale_factor=1/s)`` does
    for sizes divisible by ``s``) divided by ``s``.
    """
    return flow[..., ::scale, ::scale] / scale


def warp_features(features: torch.Tensor, flow: torch.Tensor, warp_first: bool) -> torch.Tensor:
    """Per-frame copies of key-frame ``features`` forward-splatted along ``flow``.

    Args:
        features: ``[B, C, h, w]`` key-frame features.
        flow: ``[B, N, 2, h, w]`` key -> frame displacement in pixels of the ``h x w`` grid.
        warp_first: False: frame 0 is ``features`` as is and frames 1..N are warped by flow
            0..N-1 (MOFA, output has N + 1 frames). True: the N frames are all warped.

    Returns:
        ``[B * T, C, h, w]`` (b-major), T = N + 1 or N. Splatting runs in float32, the result is
        cast back to ``features.dtype``.
    """
    b, n = flow.shape[:2]
    c, h, w = features.shape[1:]
    values = features.float().unsqueeze(1).expand(b, n, c, h, w).reshape(b * n, c, h, w)
    warped = softsplat(values, flow.float().reshape(b * n, 2, h, w), mode="avg").to(features.dtype)
    warped = warped.reshape(b, n, c, h, w)
    if not warp_first:
        warped = torch.cat([features.unsqueeze(1), warped], dim=1)
    return warped.flatten(0, 1)


@dataclass
class FlowAdaptorOutput:
    """Residuals for :class:`~dynamics_codec.decoder.mofa.unet.UNetSpatioTemporalWithResiduals`.

    Attributes:
        down_block_res_samples: one ``[B*T, C_k, h_k, w_k]`` tensor per UNet skip connection.
        mid_block_res_sample: ``[B*T, C_last, h_min, w_min]``.
    """

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


class FlowAdaptor(ModelMixin, ConfigMixin):
    """MOFA's flow ControlNet for SVD (see the module docstring); config keys as the reference's.

    ``up_block_types`` and ``out_channels`` are accepted for config compatibility and unused
    (the adaptor is the UNet's encoder half). The key-frame feature encoder has
    ``len(block_out_channels) - 1`` levels with ``block_out_channels[:-1]`` channels (MOFA
    hard-codes 320/640/1280, the same for the SVD-xt widths); the last two widths must be equal.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = SVD_DOWN_BLOCKS,
        up_block_types: tuple[str, ...] = SVD_UP_BLOCKS,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int, ...] = 2,
        cross_attention_dim: int | tuple[int, ...] = 1024,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 10, 20),
        num_frames: int = 25,
        conditioning_channels: int = 3,
        conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256),
    ) -> None:
        super().__init__()
        levels = len(down_block_types)
        if len(block_out_channels) != levels or levels < 2:
            raise ConfigError(
                f"flow adaptor needs one block_out_channels entry per down block (>= 2); got "
                f"{list(block_out_channels)} for {levels} blocks."
            )
        if block_out_channels[-1] != block_out_channels[-2]:
            raise ConfigError(
                "flow adaptor adds the deepest key-frame feature after the last two down blocks, so their widths "
                f"must be equal; got block_out_channels={list(block_out_channels)}."
            )
        heads = (num_attention_heads,) * levels if isinstance(num_attention_heads, int) else tuple(num_attention_heads)
        cross = (cross_attention_dim,) * levels if isinstance(cross_attention_dim, int) else tuple(cross_attention_dim)
        layers = (layers_per_block,) * levels if isinstance(layers_per_block, int) else tuple(layers_per_block)
        tlayers = (
            (transformer_layers_per_block,) * levels
            if isinstance(transformer_layers_per_block, int)
            else tuple(transformer_layers_per_block)
        )
        time_embed_dim = block_out_channels[0] * 4

        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(block_out_channels[0], True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim)
        self.add_time_proj = Timesteps(addition_time_embed_dim, True, downscale_freq_shift=0)
        self.add_embedding = TimestepEmbedding(projection_class_embeddings_input_dim, time_embed_dim)

        self.down_blocks = nn.ModuleList()
        self.controlnet_down_blocks = nn.ModuleList()
        self.controlnet_down_blocks.append(zero_module(nn.Conv2d(block_out_channels[0], block_out_channels[0], 1)))
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel, output_channel = output_channel, block_out_channels[i]
            is_final = i == levels - 1
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers[i],
                    transformer_layers_per_block=tlayers[i],
                    in_channels=input_channel,
                    out_channels=output_channel,
                    temb_channels=time_embed_dim,
                    add_downsample=not is_final,
                    resnet_eps=1e-5,
                    cross_attention_dim=cross[i],
                    num_attention_heads=heads[i],
                    resnet_act_fn="silu",
                )
            )
            for _ in range(layers[i] + (0 if is_final else 1)):
                self.controlnet_down_blocks.append(zero_module(nn.Conv2d(output_channel, output_channel, 1)))

        self.mid_block = UNetMidBlockSpatioTemporal(
            block_out_channels[-1],
            temb_channels=time_embed_dim,
            transformer_layers_per_block=tlayers[-1],
            cross_attention_dim=cross[-1],
            num_attention_heads=heads[-1],
        )
        self.controlnet_mid_block = zero_module(nn.Conv2d(block_out_channels[-1], block_out_channels[-1], 1))

        self.controlnet_cond_embedding = KeyFrameConditioningEmbedding(
            block_out_channels[0], conditioning_channels, conditioning_embedding_out_channels
        )
        self.flow_encoder = KeyFrameFeatureEncoder(block_out_channels[0], block_out_channels[:-1])

    # ------------------------------------------------------------------ pieces (also used by tests)
    @property
    def feature_scales(self) -> tuple[int, ...]:
        """Downscale factor of each key-frame feature level w.r.t. the pixel grid: 8, 16, 32, 64."""
        return tuple(8 * 2**j for j in range(len(self.config.block_out_channels)))

    def key_frame_features(self, controlnet_cond: torch.Tensor) -> list[torch.Tensor]:
        """``[B, 3, H, W]`` -> ``[E0, E1, ...]``: ``E_j`` ``[B, C_j, H / 8 / 2^j, W / 8 / 2^j]``."""
        embedding = self.controlnet_cond_embedding(controlnet_cond)
        return [embedding, *self.flow_encoder(embedding)]

    def warped_features(self, features: Sequence[torch.Tensor], flow: torch.Tensor, num_frames: int) -> list[torch.Tensor]:
        """Each key-frame feature level warped per frame: ``[B*T, C_j, h_j, w_j]``; see :func:`warp_features`."""
        warp_first = flow.shape[1] == num_frames
        return [warp_features(f, scaled_flow(flow, s), warp_first) for f, s in zip(features, self.feature_scales)]

    def _check_inputs(self, sample: torch.Tensor, controlnet_cond: torch.Tensor, flow: torch.Tensor) -> None:
        if sample.dim() != 5:
            raise InputError(f"flow adaptor expects sample [B, T, C, h, w]; got {tuple(sample.shape)}.")
        b, t = sample.shape[:2]
        if controlnet_cond.dim() != 4 or controlnet_cond.shape[0] != b:
            raise InputError(f"flow adaptor expects controlnet_cond [B={b}, 3, H, W]; got {tuple(controlnet_cond.shape)}.")
        height, width = controlnet_cond.shape[-2:]
        multiple = self.feature_scales[-1]
        if height % multiple or width % multiple:
            raise InputError(
                f"flow adaptor needs H and W divisible by {multiple} (deepest flow scale); got {height}x{width}. "
                "Resize the key frame and the flow first (the decoder does this)."
            )
        if flow.dim() != 5 or flow.shape[0] != b or flow.shape[1] not in (t - 1, t) or tuple(flow.shape[2:]) != (2, height, width):
            raise InputError(
                f"flow adaptor expects controlnet_flow [B={b}, T-1={t - 1} (or T), 2, {height}, {width}]; "
                f"got {tuple(flow.shape)}."
            )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        controlnet_cond: torch.Tensor,
        controlnet_flow: torch.Tensor,
        conditioning_scale: float = 1.0,
    ) -> FlowAdaptorOutput:
        """Residuals for the UNet.

        Args:
            sample: ``[B, T, in_channels, H/8, W/8]`` the UNet's input (noisy latents ++ key latents).
            timestep: number, scalar or ``[B]`` tensor (SVD: EDM ``c_noise = 0.25 ln(sigma)``).
            encoder_hidden_states: ``[B, 1, cross_attention_dim]``.
            added_time_ids: ``[B, 3]`` ``[fps, motion_bucket_id, noise_aug]``.
            controlnet_cond: ``[B, 3, H, W]`` the key frame (MOFA's inference feeds [-1, 1]).
            controlnet_flow: ``[B, T-1, 2, H, W]`` key -> frame k+1 in pixels (or ``[B, T, ...]``
                to warp frame 0 too).
            conditioning_scale: multiplies every residual.
        """
        self._check_inputs(sample, controlnet_cond, controlnet_flow)
        if temporal_context_order(self) is None:  # MOFA's (diffusers 0.24) order unless set otherwise
            set_temporal_context_order(self, "mofa")
        cond = frame_conditioning(
            self.time_proj, self.time_embedding, self.add_time_proj, self.add_embedding,
            sample, timestep, encoder_hidden_states, added_time_ids,
        )
        x = self.conv_in(sample.flatten(0, 1))
        warped = self.warped_features(self.key_frame_features(controlnet_cond), controlnet_flow, cond.num_frames)
        last = len(warped) - 1

        x = x + warped[0]
        skips: tuple[torch.Tensor, ...] = (x,)
        for i, block in enumerate(self.down_blocks):
            x, res = run_block(block, x, cond)
            x = x + warped[min(i + 1, last)]
            skips += res
        x = x + warped[last]
        x = run_block(self.mid_block, x, cond)

        down = tuple(conv(skip) * conditioning_scale for skip, conv in zip(skips, self.controlnet_down_blocks))
        mid = self.controlnet_mid_block(x) * conditioning_scale
        return FlowAdaptorOutput(down_block_res_samples=down, mid_block_res_sample=mid)

    # ------------------------------------------------------------------ initialisation from the UNet
    def load_unet_encoder_weights(self, unet_state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Copy the SVD UNet's encoder half (conv_in, embeddings, down blocks, mid block) into the adaptor.

        How a ControlNet is initialised for training. Returns the adaptor keys that were copied.

        Raises:
            ConfigError: a shared key has a different shape (the UNet's config differs).
        """
        prefixes = ("conv_in.", "time_embedding.", "add_embedding.", "down_blocks.", "mid_block.")
        own = self.state_dict()
        copied = {}
        for key, value in unet_state_dict.items():
            if key.startswith(prefixes) and key in own:
                if tuple(own[key].shape) != tuple(value.shape):
                    raise ConfigError(
                        f"UNet weight {key} has shape {tuple(value.shape)} but the adaptor expects "
                        f"{tuple(own[key].shape)}; build the adaptor with the UNet's config."
                    )
                copied[key] = value
        self.load_state_dict(copied, strict=False)
        return sorted(copied)
