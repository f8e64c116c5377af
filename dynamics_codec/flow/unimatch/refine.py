"""Local regression refinement of Unimatch (RAFT-like motion encoder + separable ConvGRU + heads)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicMotionEncoder(nn.Module):
    """Encode correlation and flow: ``flow [B, 2, H, W]``, ``corr [B, K, H, W]`` -> ``[B, 128, H, W]``.

    The last two output channels are the input flow itself.
    """

    def __init__(self, corr_channels: int = 81, flow_channels: int = 2) -> None:
        super().__init__()
        self.convc1 = nn.Conv2d(corr_channels, 256, 1)
        self.convc2 = nn.Conv2d(256, 192, 3, padding=1)
        self.convf1 = nn.Conv2d(flow_channels, 128, 7, padding=3)
        self.convf2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv = nn.Conv2d(64 + 192, 128 - flow_channels, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        cor = F.relu(self.convc2(F.relu(self.convc1(corr))))
        flo = F.relu(self.convf2(F.relu(self.convf1(flow))))
        out = F.relu(self.conv(torch.cat((cor, flo), dim=1)))
        return torch.cat((out, flow), dim=1)


class SepConvGRU(nn.Module):
    """ConvGRU with a horizontal (1x5) then a vertical (5x1) update; ``h [B, Ch, H, W]``, ``x [B, Cx, H, W]``."""

    def __init__(self, hidden_dim: int = 128, input_dim: int = 256, kernel_size: int = 5) -> None:
        super().__init__()
        pad = (kernel_size - 1) // 2
        total = hidden_dim + input_dim
        self.convz1 = nn.Conv2d(total, hidden_dim, (1, kernel_size), padding=(0, pad))
        self.convr1 = nn.Conv2d(total, hidden_dim, (1, kernel_size), padding=(0, pad))
        self.convq1 = nn.Conv2d(total, hidden_dim, (1, kernel_size), padding=(0, pad))
        self.convz2 = nn.Conv2d(total, hidden_dim, (kernel_size, 1), padding=(pad, 0))
        self.convr2 = nn.Conv2d(total, hidden_dim, (kernel_size, 1), padding=(pad, 0))
        self.convq2 = nn.Conv2d(total, hidden_dim, (kernel_size, 1), padding=(pad, 0))

    @staticmethod
    def _step(h: torch.Tensor, x: torch.Tensor, conv_z: nn.Conv2d, conv_r: nn.Conv2d, conv_q: nn.Conv2d) -> torch.Tensor:
        hx = torch.cat((h, x), dim=1)
        z = torch.sigmoid(conv_z(hx))
        r = torch.sigmoid(conv_r(hx))
        q = torch.tanh(conv_q(torch.cat((r * h, x), dim=1)))
        return (1 - z) * h + z * q

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self._step(h, x, self.convz1, self.convr1, self.convq1)
        return self._step(h, x, self.convz2, self.convr2, self.convq2)


class FlowHead(nn.Module):
    """``[B, 128, H, W] -> [B, 2, H, W]`` flow residual (3x3 conv, ReLU, 3x3 conv)."""

    def __init__(self, input_dim: int = 128, hidden_dim: int = 256, out_dim: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_dim, hidden_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_dim, out_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class BasicUpdateBlock(nn.Module):
    """One refinement update.

    Inputs: hidden ``net [B, 128, H, W]``, context ``inp [B, 128, H, W]``,
    correlation ``[B, 81, H, W]``, flow ``[B, 2, H, W]`` (feature pixels).
    Outputs: new hidden state, convex-upsampling logits ``[B, 9 * factor**2, H, W]`` and the
    flow residual ``[B, 2, H, W]``.
    """

    def __init__(
        self, corr_channels: int = 81, hidden_dim: int = 128, context_dim: int = 128,
        downsample_factor: int = 4, flow_dim: int = 2,
    ) -> None:
        super().__init__()
        self.encoder = BasicMotionEncoder(corr_channels, flow_dim)
        self.gru = SepConvGRU(hidden_dim, input_dim=context_dim + hidden_dim)
        self.flow_head = FlowHead(hidden_dim, hidden_dim=256, out_dim=flow_dim)
        self.mask = nn.Sequential(
            nn.Conv2d(hidden_dim, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, downsample_factor**2 * 9, 1),
        )

    def forward(
        self, net: torch.Tensor, inp: torch.Tensor, corr: torch.Tensor, flow: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        motion = self.encoder(flow, corr)
        net = self.gru(net, torch.cat((inp, motion), dim=1))
        return net, self.mask(net), self.flow_head(net)
