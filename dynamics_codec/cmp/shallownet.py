"""CMP's sparse-motion encoder ``shallownet8x`` (MOFA-Video ``models/cmp/models/modules/shallownet.py``)."""

from __future__ import annotations

import torch
import torch.nn as nn


class ShallowNet(nn.Module):
    """Two conv-BN-ReLU stages that bring the sparse-motion map to 1/8 resolution.

    ``features`` (names as in the checkpoint): 0 conv 5x5 stride 2 (pad 2), 1 BN, 2 ReLU,
    3 max-pool 2, 4 conv 3x3 (pad 1), 5 BN, 6 ReLU, 7 avg-pool 2.

    Input ``[N, input_dim, H, W]``: CMP's channels are ``[fx*m, fy*m, m, m]`` (flow in pixels,
    m the {0,1} mask). Output ``[N, output_dim, H/8, W/8]``.
    """

    def __init__(self, input_dim: int = 4, output_dim: int = 16, strides: tuple[int, int, int] = (2, 2, 2)) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_dim, 16, kernel_size=5, stride=strides[0], padding=2),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=strides[1], stride=strides[1]),
            nn.Conv2d(16, output_dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(output_dim),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(kernel_size=strides[2], stride=strides[2]),
        )

    def forward(self, sparse: torch.Tensor) -> torch.Tensor:
        return self.features(sparse)
