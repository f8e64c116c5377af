"""Time / added-time embeddings shared by the SVD UNet and the flow adaptor.

Both networks embed the diffusion timestep and SVD's three "added time ids"
``[fps, motion_bucket_id, noise_aug_strength]`` the same way and run every frame of every
batch element as one image of a ``B * T`` batch (b-major: index ``b * T + t``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps


@dataclass
class FrameConditioning:
    """Per-frame conditioning tensors, flattened to ``B * T`` rows.

    Attributes:
        emb: ``[B*T, time_embed_dim]`` time + added-time embedding, repeated per frame.
        encoder_hidden_states: ``[B*T, L, D]`` cross-attention context repeated per frame.
        image_only_indicator: ``[B, T]`` zeros (every frame is a video frame).
        batch_size: B.
        num_frames: T.
    """

    emb: torch.Tensor
    encoder_hidden_states: torch.Tensor
    image_only_indicator: torch.Tensor
    batch_size: int
    num_frames: int


def timestep_tensor(timestep: torch.Tensor | float | int, batch_size: int, device: torch.device) -> torch.Tensor:
    """``[B]`` timesteps from a python number, a scalar tensor or a ``[B]`` tensor.

    Python floats become float64 (int64 for ints) as diffusers does; the sinusoidal projection
    computes in float32 either way.
    """
    if not torch.is_tensor(timestep):
        if device.type == "mps":
            dtype = torch.float32 if isinstance(timestep, float) else torch.int32
        else:
            dtype = torch.float64 if isinstance(timestep, float) else torch.int64
        timestep = torch.tensor([timestep], dtype=dtype, device=device)
    elif timestep.dim() == 0:
        timestep = timestep[None].to(device)
    return timestep.to(device).expand(batch_size)


def frame_conditioning(
    time_proj: Timesteps,
    time_embedding: TimestepEmbedding,
    add_time_proj: Timesteps,
    add_embedding: TimestepEmbedding,
    sample: torch.Tensor,
    timestep: torch.Tensor | float | int,
    encoder_hidden_states: torch.Tensor,
    added_time_ids: torch.Tensor,
) -> FrameConditioning:
    """Embed timestep and added time ids of ``sample`` ``[B, T, C, h, w]`` and repeat them per frame.

    Args:
        sample: the latent video (only its shape, dtype and device are used).
        timestep: number, scalar tensor or ``[B]`` tensor.
        encoder_hidden_states: ``[B, L, D]`` (SVD: the CLIP image embedding, L = 1).
        added_time_ids: ``[B, 3]``.
    """
    batch_size, num_frames = sample.shape[:2]
    timesteps = timestep_tensor(timestep, batch_size, sample.device)
    t_emb = time_proj(timesteps).to(dtype=sample.dtype)
    emb = time_embedding(t_emb)
    time_embeds = add_time_proj(added_time_ids.flatten()).reshape(batch_size, -1).to(emb.dtype)
    emb = emb + add_embedding(time_embeds)
    return FrameConditioning(
        emb=emb.repeat_interleave(num_frames, dim=0),
        encoder_hidden_states=encoder_hidden_states.repeat_interleave(num_frames, dim=0),
        image_only_indicator=torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device),
        batch_size=batch_size,
        num_frames=num_frames,
    )


def run_block(block: torch.nn.Module, hidden_states: torch.Tensor, cond: FrameConditioning, **kwargs):
    """Call a spatio-temporal block with cross-attention context only when it has cross-attention."""
    if getattr(block, "has_cross_attention", False):
        kwargs["encoder_hidden_states"] = cond.encoder_hidden_states
    return block(hidden_states=hidden_states, temb=cond.emb, image_only_indicator=cond.image_only_indicator, **kwargs)
