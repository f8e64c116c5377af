"""Flow propagation by self-attention on image-0 features (Unimatch's ``feature_flow_attn``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttnPropagation(nn.Module):
    """Smooth a flow field with attention weights computed from image-0 features.

    Query and key come from the features, the value is the flow. Global mode attends over
    all positions; local mode over a ``(2r+1)^2`` window (zero padding at the border, which
    takes part in the softmax with logit 0 and flow 0, as in the reference).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.q_proj = nn.Linear(in_channels, in_channels)
        self.k_proj = nn.Linear(in_channels, in_channels)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, feature0: torch.Tensor, flow: torch.Tensor, radius: int = -1) -> torch.Tensor:
        """``feature0 [B, C, H, W]``, ``flow [B, 2, H, W]`` -> propagated flow ``[B, 2, H, W]``.

        ``radius > 0`` selects local window attention, otherwise global attention.
        """
        if radius > 0:
            return self._local(feature0, flow, radius)
        return self._global(feature0, flow)

    def _global(self, feature0: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feature0.shape
        query = self.q_proj(feature0.view(b, c, h * w).permute(0, 2, 1))  # [B, H*W, C]
        # The published weights were trained with the key projected from the *projected* query
        # (k_proj(q_proj(x)), noted as a harmless quirk by the authors); keep it.
        key = self.k_proj(query)
        value = flow.view(b, flow.shape[1], h * w).permute(0, 2, 1)  # [B, H*W, 2]
        prob = torch.softmax(torch.matmul(query, key.permute(0, 2, 1)) / (c**0.5), dim=-1)
        out = torch.matmul(prob, value)
        return out.view(b, h, w, value.shape[-1]).permute(0, 3, 1, 2)

    def _local(self, feature0: torch.Tensor, flow: torch.Tensor, radius: int) -> torch.Tensor:
        b, c, h, w = feature0.shape
        channels = flow.shape[1]
        size = 2 * radius + 1
        tokens = feature0.view(b, c, -1).permute(0, 2, 1)  # [B, H*W, C]
        query = self.q_proj(tokens).reshape(b * h * w, 1, c)
        key_map = self.k_proj(tokens).permute(0, 2, 1).reshape(b, c, h, w)
        key_window = F.unfold(key_map, kernel_size=size, padding=radius).view(b, c, size**2, h, w)
        key_window = key_window.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, size**2)
        flow_window = F.unfold(flow, kernel_size=size, padding=radius).view(b, channels, size**2, h, w)
        flow_window = flow_window.permute(0, 3, 4, 2, 1).reshape(b * h * w, size**2, channels)
        prob = torch.softmax(torch.matmul(query, key_window) / (c**0.5), dim=-1)  # [B*H*W, 1, K]
        out = torch.matmul(prob, flow_window)  # [B*H*W, 1, 2]
        return out.view(b, h, w, channels).permute(0, 3, 1, 2).contiguous()
