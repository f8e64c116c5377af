"""CNN feature encoder of Unimatch/GMFlow (parameter names as the published checkpoints)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    """Two 3x3 convs with parameter-free InstanceNorm and a (strided 1x1 conv + norm) shortcut.

    ``[B, in_planes, H, W] -> [B, planes, H/stride, W/stride]``.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.norm1 = nn.InstanceNorm2d(planes)
        self.norm2 = nn.InstanceNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride), nn.InstanceNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y)


class MultiScaleTridentConv(nn.Module):
    """One 3x3 kernel (no bias) applied at several strides: ``[B, C, H, W] -> [[B, C, H/s, W/s] for s]``."""

    def __init__(self, channels: int, strides: tuple[int, ...]) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [F.conv2d(x, self.weight, None, stride, 1) for stride in self.strides]


class CNNEncoder(nn.Module):
    """ResNet-style encoder to ``num_scales`` feature maps.

    Input ``[B, 3, H, W]`` (ImageNet-normalised). Output: list of ``[B, output_dim, H/s, W/s]``
    from high to low resolution; with 2 scales ``s = 4, 8``, with 1 scale ``s = 8``.
    """

    def __init__(self, output_dim: int = 128, num_scales: int = 2) -> None:
        super().__init__()
        dims = (64, 96, 128)
        self.conv1 = nn.Conv2d(3, dims[0], kernel_size=7, stride=2, padding=3, bias=False)  # 1/2
        self.norm1 = nn.InstanceNorm2d(dims[0])
        self.layer1 = self._make_layer(dims[0], dims[0], stride=1)  # 1/2
        self.layer2 = self._make_layer(dims[0], dims[1], stride=2)  # 1/4
        self.layer3 = self._make_layer(dims[1], dims[2], stride=2 if num_scales == 1 else 1)  # 1/8 or 1/4
        self.conv2 = nn.Conv2d(dims[2], output_dim, kernel_size=1)
        self.trident_conv: MultiScaleTridentConv | None = None
        if num_scales > 1:
            self.trident_conv = MultiScaleTridentConv(output_dim, tuple(2**i for i in range(num_scales)))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _make_layer(in_planes: int, planes: int, stride: int) -> nn.Sequential:
        return nn.Sequential(ResidualBlock(in_planes, planes, stride), ResidualBlock(planes, planes, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu(self.norm1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.conv2(x)
        if self.trident_conv is None:
            return [x]
        return self.trident_conv(x)
