"""Feature transformer of Unimatch/GMFlow: self-, cross-attention and FFN in (shifted) local windows.

Tokens are ``[B, L, C]`` with ``L = H * W`` in row-major order. A feature map is split into
``K x K`` windows (``K = num_splits``); ``K = 1`` is full global attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from dynamics_codec.errors import ConfigError

# Logit added to pairs of tokens that lie in different regions of a shifted window (Swin).
SHIFTED_WINDOW_MASK_VALUE = -100.0


def sine_position_embedding(
    height: int, width: int, channels: int, device: torch.device | None = None
) -> torch.Tensor:
    """DETR sine position embedding of an ``height x width`` map, positions normalised to (0, 2*pi].

    Returns:
        ``[channels, height, width]`` float32: the first ``channels/2`` encode y, the rest x,
        each as interleaved ``sin(p / t_i), cos(p / t_i)`` with ``t_i = 10000 ** (2 * (i // 2) / (channels/2))``.
    """
    num_feats = channels // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, height + 1, device=device, dtype=torch.float32)
    x = torch.arange(1, width + 1, device=device, dtype=torch.float32)
    y = y / (y[-1:] + eps) * scale
    x = x / (x[-1:] + eps) * scale
    dim_t = torch.arange(num_feats, device=device, dtype=torch.float32)
    dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)

    def encode(positions: torch.Tensor) -> torch.Tensor:  # [N] -> [N, num_feats]
        angles = positions[:, None] / dim_t
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = encode(y)[:, None, :].expand(height, width, num_feats)
    pos_x = encode(x)[None, :, :].expand(height, width, num_feats)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)


def add_window_position(
    feature0: torch.Tensor, feature1: torch.Tensor, num_splits: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add the same sine embedding to both maps, restarted in every one of the ``K x K`` windows.

    Args:
        feature0, feature1: ``[B, C, H, W]`` with ``H, W`` divisible by ``num_splits``.

    Returns:
        Both maps plus the embedding, ``[B, C, H, W]``.
    """
    _, c, h, w = feature0.shape
    position = sine_position_embedding(h // num_splits, w // num_splits, c, device=feature0.device)
    position = position.repeat(1, num_splits, num_splits)  # tile over the windows
    return feature0 + position, feature1 + position


def split_windows(x: torch.Tensor, num_splits: int) -> torch.Tensor:
    """``[B, H, W, C] -> [B*K*K, H/K * W/K, C]`` (windows ordered row-major inside each batch item)."""
    b, h, w, c = x.shape
    k = num_splits
    x = x.view(b, k, h // k, k, w // k, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b * k * k, (h // k) * (w // k), c)


def merge_windows(x: torch.Tensor, num_splits: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`split_windows`: ``[B*K*K, H/K * W/K, C] -> [B, H, W, C]``."""
    k = num_splits
    c = x.shape[-1]
    b = x.shape[0] // (k * k)
    x = x.view(b, k, k, height // k, width // k, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, height, width, c)


def _shift_regions(length: int, window: int, shift: int, device: torch.device | None) -> torch.Tensor:
    """Region label (0, 1, 2) of every row/column after a cyclic shift by ``shift`` (Swin's three slices).

    A zero shift makes the whole axis one region (the reference's last slice then covers it all).
    """
    index = torch.arange(length, device=device)
    if shift == 0:
        return torch.zeros_like(index)
    return (index >= length - window).long() + (index >= length - shift).long()


def shifted_window_attention_mask(
    height: int, width: int, num_splits: int, device: torch.device | None = None
) -> torch.Tensor:
    """Additive mask for shifted-window attention.

    Tokens that share a window only because of the cyclic roll (they come from different
    regions) get ``SHIFTED_WINDOW_MASK_VALUE``; others 0.

    Returns:
        ``[K*K, L_w, L_w]`` float32 with ``L_w = (H/K) * (W/K)``.
    """
    win_h, win_w = height // num_splits, width // num_splits
    rows = _shift_regions(height, win_h, win_h // 2, device)
    cols = _shift_regions(width, win_w, win_w // 2, device)
    labels = (rows[:, None] * 3 + cols[None, :]).float()  # [H, W]
    windows = split_windows(labels[None, :, :, None], num_splits).squeeze(-1)  # [K*K, L_w]
    different = (windows[:, None, :] - windows[:, :, None]) != 0
    zeros = torch.zeros((), device=device, dtype=torch.float32)
    return torch.where(different, zeros + SHIFTED_WINDOW_MASK_VALUE, zeros)


def window_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    height: int,
    width: int,
    num_splits: int,
    shift: bool = False,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Single-head softmax attention inside ``K x K`` windows (optionally shifted by half a window).

    Args:
        query, key, value: ``[B, H*W, C]``.
        mask: the :func:`shifted_window_attention_mask`, required when ``shift``.

    Returns:
        ``[B, H*W, C]``.
    """
    b, _, c = query.shape
    win_h, win_w = height // num_splits, width // num_splits
    shifts = (-(win_h // 2), -(win_w // 2))

    def to_windows(x: torch.Tensor) -> torch.Tensor:
        x = x.view(b, height, width, c)
        if shift:
            x = torch.roll(x, shifts=shifts, dims=(1, 2))
        return split_windows(x, num_splits)

    q, k, v = to_windows(query), to_windows(key), to_windows(value)
    scores = torch.matmul(q, k.transpose(1, 2)) / (c**0.5)  # [B*K*K, L_w, L_w]
    if shift:
        if mask is None:
            raise ValueError("window_attention(shift=True) needs the shifted-window mask")
        scores = scores + mask.repeat(b, 1, 1)
    out = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B*K*K, L_w, C]
    out = merge_windows(out, num_splits, height, width)
    if shift:
        out = torch.roll(out, shifts=(-shifts[0], -shifts[1]), dims=(1, 2))
    return out.reshape(b, height * width, c)


class TransformerLayer(nn.Module):
    """Attention (source attends to target) + merge + LayerNorm, optionally followed by an FFN.

    ``out = source + norm1(merge(attn))`` without FFN, or
    ``out = source + norm2(mlp([source, norm1(merge(attn))]))`` with it. Shapes ``[B, L, C]``.
    """

    def __init__(self, d_model: int = 128, with_ffn: bool = True, ffn_dim_expansion: int = 4) -> None:
        super().__init__()
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.merge = nn.Linear(d_model, d_model, bias=False)
        self.norm1 = nn.LayerNorm(d_model)
        self.with_ffn = with_ffn
        if with_ffn:
            hidden = 2 * d_model * ffn_dim_expansion
            self.mlp = nn.Sequential(
                nn.Linear(2 * d_model, hidden, bias=False), nn.GELU(), nn.Linear(hidden, d_model, bias=False)
            )
            self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        source: torch.Tensor,
        target: torch.Tensor,
        height: int,
        width: int,
        num_splits: int,
        shift: bool = False,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        message = window_attention(
            self.q_proj(source), self.k_proj(target), self.v_proj(target), height, width, num_splits, shift, mask
        )
        message = self.norm1(self.merge(message))
        if self.with_ffn:
            message = self.norm2(self.mlp(torch.cat((source, message), dim=-1)))
        return source + message


class TransformerBlock(nn.Module):
    """Self-attention (no FFN) then cross-attention with FFN; ``[B, L, C] -> [B, L, C]``."""

    def __init__(self, d_model: int = 128, ffn_dim_expansion: int = 4) -> None:
        super().__init__()
        self.self_attn = TransformerLayer(d_model, with_ffn=False, ffn_dim_expansion=ffn_dim_expansion)
        self.cross_attn_ffn = TransformerLayer(d_model, with_ffn=True, ffn_dim_expansion=ffn_dim_expansion)

    def forward(self, source: torch.Tensor, target: torch.Tensor, **window: object) -> torch.Tensor:
        source = self.self_attn(source, source, **window)
        return self.cross_attn_ffn(source, target, **window)


class FeatureTransformer(nn.Module):
    """Stack of :class:`TransformerBlock` updating both images' features symmetrically.

    Both images run as one batch ``[f0; f1]`` attending to ``[f1; f0]``; odd layers use windows
    shifted by half a window when ``num_splits > 1``.
    """

    def __init__(
        self, num_layers: int = 6, d_model: int = 128, num_head: int = 1, ffn_dim_expansion: int = 4
    ) -> None:
        super().__init__()
        if num_head != 1:
            raise ConfigError(
                f"FeatureTransformer supports single-head attention only (as every published Unimatch "
                f"checkpoint); got num_head={num_head}. Use num_head=1."
            )
        self.d_model = d_model
        self.layers = nn.ModuleList(TransformerBlock(d_model, ffn_dim_expansion) for _ in range(num_layers))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(
        self, feature0: torch.Tensor, feature1: torch.Tensor, num_splits: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, H, W]`` x 2 (H, W divisible by ``num_splits``) -> updated ``[B, C, H, W]`` x 2."""
        b, c, h, w = feature0.shape
        mask = shifted_window_attention_mask(h, w, num_splits, feature0.device) if num_splits > 1 else None
        tokens0 = feature0.flatten(-2).permute(0, 2, 1)  # [B, H*W, C]
        tokens1 = feature1.flatten(-2).permute(0, 2, 1)
        source = torch.cat((tokens0, tokens1), dim=0)  # [2B, H*W, C]
        target = torch.cat((tokens1, tokens0), dim=0)
        for index, layer in enumerate(self.layers):
            source = layer(
                source, target, height=h, width=w, num_splits=num_splits,
                shift=num_splits > 1 and index % 2 == 1, mask=mask,
            )
            target = torch.cat(source.chunk(2, dim=0)[::-1], dim=0)
        out0, out1 = source.chunk(2, dim=0)
        out0 = out0.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
        out1 = out1.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
        return out0, out1
