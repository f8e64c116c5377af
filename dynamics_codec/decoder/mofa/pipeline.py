"""Sampling one window with SVD + the MOFA flow adaptor (MOFA's ``FlowControlNetPipeline`` semantics).

Steps (``B`` videos, ``F`` frames in the window, latents at 1/8 resolution):

1. :meth:`MofaSVDPipeline.encode_key` (once per sequence): CLIP image embedding of the key frame
   resized to 224 with antialiasing (MOFA feeds [0, 1] pixels without CLIP's mean/std
   normalisation; ``clip_normalize=True`` applies it); VAE latent mode of
   ``2 * key - 1 + noise_aug_strength * noise``; the adaptor's key frame in [-1, 1].
2. :meth:`MofaSVDPipeline.sample` (per window): Euler (EDM, Karras sigmas) from
   ``init_noise_sigma * noise``; each step runs the adaptor and the UNet on
   ``[scaled latents ++ key latents]`` with classifier-free guidance (negative: zero CLIP
   embedding and zero key latents; the adaptor sees the same key frame and flow in both halves)
   and a guidance scale rising linearly over the frames from ``min_guidance_scale`` to
   ``max_guidance_scale``. Added time ids ``[fps_id, motion_bucket_id, noise_aug_strength]``,
   MOFA: ``[6, 128, 0.02]``.
3. :meth:`MofaSVDPipeline.decode_latents`: temporal VAE decode in chunks of
   ``decode_chunk_size`` frames per video, to [0, 1].

Memory: networks run in ``dtype`` (fp16 on CUDA by default), attention through PyTorch SDPA
(diffusers' default processor), VAE decode in chunks, optional CPU offload (each network is moved
to the device only while it runs).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing

from dynamics_codec.decoder.mofa.components import MofaComponents
from dynamics_codec.errors import ConfigError

#: CLIP's image normalisation (OpenAI / OpenCLIP ViT-H preprocessor_config.json).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class SamplingConfig:
    """Sampler settings (defaults: MOFA's inference)."""

    num_inference_steps: int = 25
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0
    fps_id: float = 6.0
    motion_bucket_id: float = 128.0
    noise_aug_strength: float = 0.02
    conditioning_scale: float = 1.0
    decode_chunk_size: int = 8
    clip_normalize: bool = False

    def __post_init__(self) -> None:
        if self.num_inference_steps < 1:
            raise ConfigError(f"num_inference_steps must be >= 1; got {self.num_inference_steps}.")
        if self.decode_chunk_size < 1:
            raise ConfigError(f"decode_chunk_size must be >= 1; got {self.decode_chunk_size}.")
        if self.min_guidance_scale > self.max_guidance_scale:
            raise ConfigError(
                f"min_guidance_scale ({self.min_guidance_scale}) must not exceed max_guidance_scale ({self.max_guidance_scale})."
            )

    @property
    def classifier_free_guidance(self) -> bool:
        return self.max_guidance_scale > 1.0


@dataclass
class KeyConditioning:
    """Per-sequence conditioning from the key frame (CFG halves already stacked when used).

    Attributes:
        image_embeddings: ``[B', 1, D]`` CLIP embeddings (B' = 2B with CFG: negative first).
        image_latents: ``[B', 4, H/8, W/8]`` VAE latents of the noise-augmented key frame.
        controlnet_cond: ``[B', 3, H, W]`` key frame in [-1, 1] for the adaptor.
        added_time_ids: ``[B', 3]``.
    """

    image_embeddings: torch.Tensor
    image_latents: torch.Tensor
    controlnet_cond: torch.Tensor
    added_time_ids: torch.Tensor


def gaussian_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (CPU by default), moved to ``device``."""
    source = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=source, dtype=torch.float32).to(device=device, dtype=dtype)


class MofaSVDPipeline:
    """SVD image-to-video steered by dense flow through the MOFA adaptor; see the module docstring.

    Args:
        components: the networks (moved to ``device``/``dtype`` here unless ``cpu_offload``).
        sampling: sampler settings.
        device: where the networks run.
        dtype: network dtype (float16 on CUDA for memory and speed; float32 on CPU).
        cpu_offload: keep networks on the CPU and move each to ``device`` only while it runs.
    """

    def __init__(
        self,
        components: MofaComponents,
        sampling: SamplingConfig | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        cpu_offload: bool = False,
    ) -> None:
        self.components = components
        self.sampling = sampling or SamplingConfig()
        self.device = torch.device(device)
        self.dtype = dtype
        self.cpu_offload = bool(cpu_offload) and self.device.type != "cpu"
        components.to(device="cpu" if self.cpu_offload else self.device, dtype=dtype)
        self.vae_scale_factor = 2 ** (len(components.vae.config.block_out_channels) - 1)

    @contextlib.contextmanager
    def _on_device(self, module: torch.nn.Module):
        if not self.cpu_offload:
            yield module
            return
        module.to(self.device)
        try:
            yield module
        finally:
            module.to("cpu")

    # ------------------------------------------------------------------ key frame
    @torch.no_grad()
    def encode_key(self, key: torch.Tensor, generator: torch.Generator | None = None) -> KeyConditioning:
        """Conditioning from the key frame ``[B, 3, H, W]`` in [0, 1] (H, W multiples of 64)."""
        s = self.sampling
        key = key.to(self.device, torch.float32)
        b = key.shape[0]
        clip_input = _resize_with_antialiasing(key, (224, 224))
        if s.clip_normalize:
            mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
            clip_input = (clip_input - mean) / std
        with self._on_device(self.components.image_encoder) as encoder:
            embeddings = encoder(clip_input.to(self.dtype)).image_embeds.unsqueeze(1)

        noisy = key * 2 - 1 + s.noise_aug_strength * gaussian_noise(tuple(key.shape), generator, self.device, torch.float32)
        vae = self.components.vae
        upcast = self.dtype == torch.float16 and bool(vae.config.force_upcast)
        with self._on_device(vae):
            if upcast:
                vae.to(torch.float32)
            latents = vae.encode(noisy.to(vae.dtype)).latent_dist.mode().to(self.dtype)
            if upcast:
                vae.to(self.dtype)

        cond = (key * 2 - 1).to(self.dtype)
        ids = torch.tensor([[s.fps_id, s.motion_bucket_id, s.noise_aug_strength]], device=self.device, dtype=self.dtype)
        ids = ids.repeat(b, 1)
        if s.classifier_free_guidance:
            embeddings = torch.cat([torch.zeros_like(embeddings), embeddings])
            latents = torch.cat([torch.zeros_like(latents), latents])
            cond = torch.cat([cond, cond])
            ids = torch.cat([ids, ids])
        return KeyConditioning(embeddings, latents, cond, ids)

    # ------------------------------------------------------------------ denoising
    @torch.no_grad()
    def sample(
        self,
        key_cond: KeyConditioning,
        flow: torch.Tensor,
        num_frames: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Denoise one window.

        Args:
            key_cond: from :meth:`encode_key`.
            flow: ``[B, F-1, 2, H, W]`` key -> frame 1..F-1 (frame 0 = key slot) or ``[B, F, 2, H, W]``
                (every frame a target), pixels.
            num_frames: F.

        Returns:
            ``[B, F, 4, H/8, W/8]`` latents in ``self.dtype``.
        """
        s = self.sampling
        c = self.components
        b = flow.shape[0]
        cfg = s.classifier_free_guidance
        height, width = key_cond.controlnet_cond.shape[-2:]
        latent_shape = (b, num_frames, 4, height // self.vae_scale_factor, width // self.vae_scale_factor)

        scheduler = c.scheduler
        scheduler.set_timesteps(s.num_inference_steps, device=self.device)
        latents = gaussian_noise(latent_shape, generator, self.device, torch.float32) * scheduler.init_noise_sigma
        latents = latents.to(self.dtype)
        image_latents = key_cond.image_latents.unsqueeze(1).expand(-1, num_frames, -1, -1, -1)
        flow = flow.to(self.device, self.dtype)
        if cfg:
            flow = torch.cat([flow, flow])
        guidance = torch.linspace(s.min_guidance_scale, s.max_guidance_scale, num_frames, device=self.device)
        guidance = guidance.view(1, num_frames, 1, 1, 1).to(self.dtype)

        with self._on_device(c.adaptor) as adaptor, self._on_device(c.unet) as unet:
            for t in scheduler.timesteps:
                model_input = torch.cat([latents, latents]) if cfg else latents
                model_input = scheduler.scale_model_input(model_input, t)
                model_input = torch.cat([model_input, image_latents], dim=2)
                residuals = adaptor(
                    model_input, t, key_cond.image_embeddings, key_cond.added_time_ids,
                    controlnet_cond=key_cond.controlnet_cond, controlnet_flow=flow,
                    conditioning_scale=s.conditioning_scale,
                )
                prediction = unet(
                    model_input, t, key_cond.image_embeddings, key_cond.added_time_ids,
                    down_block_additional_residuals=residuals.down_block_res_samples,
                    mid_block_additional_residual=residuals.mid_block_res_sample,
                    return_dict=False,
                )[0]
                if cfg:
                    uncond, cond = prediction.chunk(2)
                    prediction = uncond + guidance * (cond - uncond)
                latents = scheduler.step(prediction, t, latents, generator=generator).prev_sample.to(self.dtype)
        return latents

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, F, 4, h, w]`` -> ``[B, F, 3, 8h, 8w]`` float32 in [0, 1] (temporal VAE, chunked)."""
        vae = self.components.vae
        chunk = self.sampling.decode_chunk_size
        videos = []
        with self._on_device(vae):
            for video in latents:
                video = video.to(vae.dtype) / vae.config.scaling_factor
                parts = [vae.decode(video[i : i + chunk], num_frames=video[i : i + chunk].shape[0]).sample
                         for i in range(0, video.shape[0], chunk)]
                videos.append(torch.cat(parts))
        frames = torch.stack(videos).float()
        return ((frames + 1) / 2).clamp(0, 1)

    def __call__(
        self,
        key_cond: KeyConditioning,
        flow: torch.Tensor,
        num_frames: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One window: :meth:`sample` then :meth:`decode_latents` -> ``[B, F, 3, H, W]`` in [0, 1]."""
        return self.decode_latents(self.sample(key_cond, flow, num_frames, generator))
