"""CMP's flow decoder ``MotionDecoderSkipLayer`` (MOFA-Video ``models/cmp/models/modules/decoder.py``).

A multi-scale context module at 1/8 resolution (four branches after max-pooling by 1, 2, 4, 8,
each three conv-BN-ReLU, resized back bilinearly with ``align_corners=True`` and fused), then
two skip-connected upsampling steps to 1/4 (ResNet ``layer1``) and 1/2 (ResNet ``conv1``) and a
1x1 head. Parameter names follow the checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

BRANCH_CHANNELS = 128
POOL_FACTORS = (1, 2, 4, 8)


def conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """3x3 conv (pad 1, with bias) + BatchNorm + ReLU, as a flat list of modules."""
    return [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def context_branch(in_channels: int, pool: int) -> nn.Sequential:
    """Optional max-pool (kernel = stride = ``pool``) then three conv-BN-ReLU of 128 channels."""
    layers: list[nn.Module] = [nn.MaxPool2d(kernel_size=pool, stride=pool)] if pool > 1 else []
    layers += conv_bn_relu(in_channels, BRANCH_CHANNELS)
    layers += conv_bn_relu(BRANCH_CHANNELS, BRANCH_CHANNELS)
    layers += conv_bn_relu(BRANCH_CHANNELS, BRANCH_CHANNELS)
    return nn.Sequential(*layers)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class MotionDecoderSkipLayer(nn.Module):
    """Decode fused image + sparse features at 1/8 to ``output_dim`` logits at 1/2 resolution.

    ``forward(x, skips)``: ``x [N, input_dim, H/8, W/8]``; ``skips = [image, conv1, layer1]``
    from :class:`~dynamics_codec.cmp.resnet.DilatedResNet50` (conv1 ``[N, 64, H/2, W/2]``,
    layer1 ``[N, 256, H/4, W/4]``; the image itself is unused). Returns
    ``[N, output_dim, H/2, W/2]``.
    """

    def __init__(self, input_dim: int = 272, output_dim: int = 198) -> None:
        super().__init__()
        for pool in POOL_FACTORS:
            self.add_module(f"decoder{pool}", context_branch(input_dim, pool))
        self.fusion8 = nn.Sequential(*conv_bn_relu(BRANCH_CHANNELS * len(POOL_FACTORS), 256))
        self.skipconv4 = nn.Sequential(*conv_bn_relu(256, 128))
        self.fusion4 = nn.Sequential(*conv_bn_relu(256 + 128, 128))
        self.skipconv2 = nn.Sequential(*conv_bn_relu(64, 32))
        self.fusion2 = nn.Sequential(*conv_bn_relu(128 + 32, 64))
        self.head = nn.Conv2d(64, output_dim, kernel_size=1)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        _, conv1, layer1 = skips
        x1 = self.decoder1(x)
        size8 = (x1.shape[2], x1.shape[3])
        context = [x1] + [resize_bilinear(getattr(self, f"decoder{p}")(x), size8) for p in POOL_FACTORS[1:]]
        f8 = self.fusion8(torch.cat(context, dim=1))
        f4_in = resize_bilinear(f8, (layer1.shape[2], layer1.shape[3]))
        f4 = self.fusion4(torch.cat([f4_in, self.skipconv4(layer1)], dim=1))
        f2_in = resize_bilinear(f4, (conv1.shape[2], conv1.shape[3]))
        f2 = self.fusion2(torch.cat([f2_in, self.skipconv2(conv1)], dim=1))
        return self.head(f2)
