"""CMP's image encoder: a ResNet-50 dilated to output stride 8 (not torchvision's).

Structure as in MOFA-Video's ``models/cmp/models/backbone/resnet.py`` (parameter names kept so
the published checkpoint loads): conv1 7x7/2 (no bias) + BN + ReLU, max-pool 3/2 (pad 1), four
stages of Bottleneck blocks [3, 4, 6, 3] with the stride on the 3x3 conv; stages 3 and 4 do not
downsample, their 3x3 convs are dilated by 2 and 4 instead; a 1x1 ``conv5`` (with bias) maps the
2048 channels to ``output_dim``. No classifier.
"""

from __future__ import annotations

import torch
import torch.nn as nn

BOTTLENECK_EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride, dilation) -> 1x1 residual block, BN after every conv, ReLU."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        out_channels = planes * BOTTLENECK_EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class DilatedResNet50(nn.Module):
    """ResNet-50 with output stride 8 and a 1x1 projection to ``output_dim`` channels.

    ``forward(image)`` with image ``[N, 3, H, W]`` (CMP feeds it in [-1, 1]) returns
    ``(features [N, output_dim, H/8, W/8], skips)`` where ``skips`` is
    ``[image, conv1 [N, 64, H/2, W/2] (after ReLU), layer1 [N, 256, H/4, W/4]]``, the skip
    inputs of :class:`~dynamics_codec.cmp.decoder.MotionDecoderSkipLayer`. Spatial sizes
    round up (``ceil``) for sizes that are not multiples of 8.
    """

    STAGE_BLOCKS = (3, 4, 6, 3)

    def __init__(self, output_dim: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._in_channels = 64
        self.layer1 = self._make_stage(64, self.STAGE_BLOCKS[0], stride=1, dilation=1)
        self.layer2 = self._make_stage(128, self.STAGE_BLOCKS[1], stride=2, dilation=1)
        self.layer3 = self._make_stage(256, self.STAGE_BLOCKS[2], stride=1, dilation=2)
        self.layer4 = self._make_stage(512, self.STAGE_BLOCKS[3], stride=1, dilation=4)
        self.conv5 = nn.Conv2d(512 * BOTTLENECK_EXPANSION, output_dim, kernel_size=1)

    def _make_stage(self, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
        out_channels = planes * BOTTLENECK_EXPANSION
        downsample = None
        if stride != 1 or self._in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self._in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        layers = [Bottleneck(self._in_channels, planes, stride=stride, dilation=dilation, downsample=downsample)]
        self._in_channels = out_channels
        layers += [Bottleneck(out_channels, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        conv1 = self.relu(self.bn1(self.conv1(image)))          # 1/2
        layer1 = self.layer1(self.maxpool(conv1))               # 1/4
        layer4 = self.layer4(self.layer3(self.layer2(layer1)))  # 1/8
        return self.conv5(layer4), [image, conv1, layer1]
