"""The networks of the generative decoder, and random-weight builders for tests and benchmarks.

:class:`MofaComponents` holds SVD's UNet (with residual inputs), MOFA's flow adaptor, SVD's
temporal VAE, the CLIP image encoder and the Euler scheduler. Real weights come from
:mod:`dynamics_codec.decoder.mofa.loading`; :func:`build_random_components` builds the same
architecture from configs with random weights drawn from an explicit generator:

* ``"tiny"``: a few MB, for CPU tests (no download);
* ``"full"``: SVD-xt / MOFA sizes (about 1.5B + 0.7B + 0.1B + 0.6B parameters), for benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

import torch
from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from dynamics_codec.decoder.mofa.adaptor import FlowAdaptor
from dynamics_codec.decoder.mofa.unet import UNetSpatioTemporalWithResiduals
from dynamics_codec.errors import ConfigError

#: ``scheduler/scheduler_config.json`` of stable-video-diffusion-img2vid-xt(-1-1): EDM-style Euler
#: with Karras sigmas in [0.002, 700], v-prediction and continuous timesteps 0.25 ln(sigma).
SVD_SCHEDULER_CONFIG: dict = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "trained_betas": None,
    "use_karras_sigmas": True,
}

#: SVD-xt's UNet (``unet/config.json``); the adaptor's published structure shares the encoder half.
SVD_UNET_CONFIG: dict = dict(
    in_channels=8, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
    cross_attention_dim=1024, addition_time_embed_dim=256, projection_class_embeddings_input_dim=768,
    num_attention_heads=(5, 10, 20, 20), num_frames=25, sample_size=96,
)
#: MOFA's published adaptor = ``FlowAdaptor()`` defaults.
MOFA_ADAPTOR_CONFIG: dict = {}
#: SVD's ``vae/config.json`` (AutoencoderKLTemporalDecoder).
SVD_VAE_CONFIG: dict = dict(
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
    sample_size=768, scaling_factor=0.18215, force_upcast=True,
)
#: SVD's ``image_encoder/config.json`` (OpenCLIP ViT-H/14 vision tower with projection).
SVD_CLIP_CONFIG: dict = dict(
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
    image_size=224, patch_size=14, projection_dim=1024, hidden_act="gelu", layer_norm_eps=1e-5,
)

TINY_UNET_CONFIG: dict = dict(
    in_channels=8, out_channels=4, block_out_channels=(32, 64, 64, 64), layers_per_block=1,
    cross_attention_dim=32, addition_time_embed_dim=8, projection_class_embeddings_input_dim=24,
    num_attention_heads=(1, 2, 2, 2), num_frames=4,
)
TINY_ADAPTOR_CONFIG: dict = dict(
    block_out_channels=(32, 64, 64, 64), layers_per_block=1, cross_attention_dim=32, addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=24, num_attention_heads=(1, 2, 2, 2), num_frames=4,
    conditioning_embedding_out_channels=(8, 16, 16, 32),
)
TINY_VAE_CONFIG: dict = dict(
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
    block_out_channels=(32, 32, 32, 32), layers_per_block=1, latent_channels=4, sample_size=64,
    scaling_factor=0.18215, force_upcast=True,
)
TINY_CLIP_CONFIG: dict = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
    image_size=224, patch_size=32, projection_dim=32, hidden_act="gelu",
)

ComponentSize = Literal["tiny", "full"]


@dataclass
class MofaComponents:
    """The decoder's networks (all ``eval()``); see the module docstring."""

    unet: UNetSpatioTemporalWithResiduals
    adaptor: FlowAdaptor
    vae: AutoencoderKLTemporalDecoder
    image_encoder: CLIPVisionModelWithProjection
    scheduler: EulerDiscreteScheduler

    def networks(self) -> dict[str, torch.nn.Module]:
        """The ``nn.Module`` components by name (everything but the scheduler)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), torch.nn.Module)}

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "MofaComponents":
        """Move/cast every network in place; returns self."""
        for module in self.networks().values():
            cast_module(module, device=device, dtype=dtype)
        return self

    def num_parameters(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.networks().items()}


def cast_module(
    module: torch.nn.Module, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> torch.nn.Module:
    """``module.to(device, dtype)`` skipping no-op moves (diffusers logs a warning on every dtype cast)."""
    first = next(module.parameters(), None)
    if first is None:
        return module
    if device is not None and first.device != torch.device(device):
        module.to(device=device)
    if dtype is not None and first.dtype != dtype:
        module.to(dtype=dtype)
    return module


@torch.no_grad()
def randomize_parameters(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Overwrite every parameter of ``module`` from ``generator`` (no global RNG).

    Matrices / kernels: uniform(-1, 1) / sqrt(fan_in); 1-D ``*weight`` (norm scales): 1 + 0.1 u;
    other 1-D entries (biases, mix factors): 0.1 u. Zero-initialised ControlNet convs become
    non-zero, so random adaptors have an effect.
    """
    for name, parameter in module.named_parameters():
        u = torch.rand(parameter.shape, generator=generator, device=generator.device, dtype=torch.float32) * 2 - 1
        if parameter.dim() >= 2:
            value = u / math.sqrt(parameter[0].numel())
        elif name.endswith("weight"):
            value = 1 + 0.1 * u
        else:
            value = 0.1 * u
        parameter.copy_(value.to(parameter.device, parameter.dtype))


COMPONENT_CONFIGS: dict[str, tuple[dict, dict, dict, dict]] = {
    "tiny": (TINY_UNET_CONFIG, TINY_ADAPTOR_CONFIG, TINY_VAE_CONFIG, TINY_CLIP_CONFIG),
    "full": (SVD_UNET_CONFIG, MOFA_ADAPTOR_CONFIG, SVD_VAE_CONFIG, SVD_CLIP_CONFIG),
}


def construct_components(size: ComponentSize = "tiny", scheduler: object | None = None, **vae_overrides) -> MofaComponents:
    """The decoder's architecture at ``size``, initialised as the classes do, on the current
    default device and dtype (``with torch.device(...)``; also works on the meta device and
    under ``FakeTensorMode``, given a ``scheduler`` built outside it). ``scheduler``: default
    SVD's Euler scheduler; ``vae_overrides`` change entries of the VAE config."""
    if size not in COMPONENT_CONFIGS:
        raise ConfigError(f"component size must be one of {sorted(COMPONENT_CONFIGS)}; got {size!r}.")
    unet_cfg, adaptor_cfg, vae_cfg, clip_cfg = COMPONENT_CONFIGS[size]
    return MofaComponents(
        unet=UNetSpatioTemporalWithResiduals(**unet_cfg),
        adaptor=FlowAdaptor(**adaptor_cfg),
        vae=AutoencoderKLTemporalDecoder(**{**vae_cfg, **vae_overrides}),
        image_encoder=CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_cfg)),
        scheduler=scheduler if scheduler is not None else EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG),
    )


def build_random_components(
    size: ComponentSize = "tiny",
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> MofaComponents:
    """The decoder's architecture at ``size`` with random weights (seeded by ``seed``)."""
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    with torch.device(device):
        components = construct_components(size)
    for module in components.networks().values():
        randomize_parameters(module, generator)
        cast_module(module, dtype=dtype).eval().requires_grad_(False)
    return components
