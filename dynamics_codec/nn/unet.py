"""A small configurable U-Net (down-sampling, up-sampling, shortcuts).

Used three times in the paper's motion model: the flow feature extractor of the tokenizer,
the image feature extractor on the key frame, and the dense-flow generator.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int, groups: int) -> nn.Module:
    g = max(1, min(groups, channels))
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels)


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by a normalisation and SiLU, with a residual shortcut.

    ``norm="group"`` (GroupNorm) suits image content; ``norm="none"`` keeps the amplitude of the
    input, which matters wherever amplitude is the message (flow magnitudes, token values):
    a normalisation right after the input would divide it away.
    """

    def __init__(self, in_ch: int, out_ch: int, groups: int = 8, norm: str = "group") -> None:
        super().__init__()
        if norm not in ("group", "none"):
            raise ValueError(f"norm must be 'group' or 'none', got {norm!r}")
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm1 = _norm(out_ch, groups) if norm == "group" else nn.Identity()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.norm2 = _norm(out_ch, groups) if norm == "group" else nn.Identity()
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        return F.silu(h + self.skip(x))


class UNet(nn.Module):
    """U-Net with ``len(channels) - 1`` stride-2 down-samplings and matching up-samplings.

    Args:
        in_channels: input channels.
        out_channels: output channels (a 1x1 projection of the last decoder level).
        channels: width of every level, e.g. ``(16, 32, 64)`` (3 levels, 2 down-samplings).
        groups: GroupNorm groups.
        norm: ``"group"`` or ``"none"`` (see :class:`ConvBlock`).

    ``forward(x [B, in, H, W]) -> [B, out, H, W]``; H and W need not be multiples of
    ``2 ** (levels - 1)`` (the decoder resizes to each skip's size).
    """

    def __init__(
        self, in_channels: int, out_channels: int, channels: Sequence[int], groups: int = 8, norm: str = "group"
    ) -> None:
        super().__init__()
        channels = list(channels)
        if not channels:
            raise ValueError("UNet needs at least one level")
        self.stem = ConvBlock(in_channels, channels[0], groups, norm)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        for c_prev, c in zip(channels[:-1], channels[1:]):
            self.down.append(nn.Conv2d(c_prev, c_prev, 3, stride=2, padding=1))
            self.enc.append(ConvBlock(c_prev, c, groups, norm))
        self.dec = nn.ModuleList()
        for c_deep, c_skip in zip(reversed(channels[1:]), reversed(channels[:-1])):
            self.dec.append(ConvBlock(c_deep + c_skip, c_skip, groups, norm))
        self.head = nn.Conv2d(channels[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = [h]
        for down, enc in zip(self.down, self.enc):
            h = enc(down(h))
            skips.append(h)
        skips.pop()
        for dec in self.dec:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = dec(torch.cat([h, skip], dim=1))
        return self.head(h)


def coordinate_channels(batch: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """``[B, 2, H, W]`` normalised pixel coordinates in [-1, 1] (x then y): position for the
    network to build position-dependent motion bases from (CoordConv)."""
    ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # [2, H, W]
    return grid.unsqueeze(0).expand(batch, -1, -1, -1)
