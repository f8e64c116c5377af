"""The CMP network (Conditional Motion Propagation) as configured in MOFA-Video.

MOFA uses the ``semiauto_annot/resnet50_vip+mpii_liteflow`` experiment: image encoder
``resnet50`` (dilated, output stride 8, 256 channels), sparse encoder ``shallownet8x``
(16 channels), ``MotionDecoderSkipLayer`` with skip layers, 198 output channels = 99 flow
bins for x and 99 for y with ``fmax = 50`` (fused by :class:`~dynamics_codec.cmp.fuser.Fuser`).
Submodule names equal the published checkpoint's names without their ``module.`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from dynamics_codec.cmp.decoder import MotionDecoderSkipLayer
from dynamics_codec.cmp.resnet import DilatedResNet50
from dynamics_codec.cmp.shallownet import ShallowNet
from dynamics_codec.errors import ConfigError, InputError


@dataclass(frozen=True)
class CMPConfig:
    """Constructor arguments of MOFA's CMP (``model.module`` in the experiment's config.yaml)."""

    img_enc_dim: int = 256
    sparse_enc_dim: int = 16
    nbins: int = 99
    fmax: float = 50.0

    def __post_init__(self) -> None:
        if min(self.img_enc_dim, self.sparse_enc_dim, self.nbins) <= 0 or self.fmax <= 0:
            raise ConfigError(f"CMPConfig needs positive dimensions, bins and fmax; got {self}.")

    @property
    def output_dim(self) -> int:
        """Logit channels: ``nbins`` for x then ``nbins`` for y (198 for MOFA)."""
        return 2 * self.nbins


class CMP(nn.Module):
    """Sparse-to-dense motion network.

    ``forward(image, sparse)``:
      * ``image`` ``[N, 3, H, W]`` float in [-1, 1] (``rgb01 * 2 - 1``, what MOFA's ``cmp_run``
        feeds; the ImageNet mean/std of CMP's config is never applied in MOFA);
      * ``sparse`` ``[N, 4, H, W]`` = ``[fx*m, fy*m, m, m]``: flow in pixels at this resolution
        (x then y), m the {0,1} sample mask.
    Returns logits ``[N, 2*nbins, H/2, W/2]``. Keep the module in eval mode (BatchNorm running
    statistics): the published weights are meant for it and :func:`load_cmp_checkpoint` sets it.
    """

    SPARSE_CHANNELS = 4

    def __init__(self, config: CMPConfig | None = None) -> None:
        super().__init__()
        self.config = config or CMPConfig()
        c = self.config
        self.image_encoder = DilatedResNet50(c.img_enc_dim)
        self.flow_encoder = ShallowNet(input_dim=self.SPARSE_CHANNELS, output_dim=c.sparse_enc_dim)
        self.flow_decoder = MotionDecoderSkipLayer(input_dim=c.img_enc_dim + c.sparse_enc_dim, output_dim=c.output_dim)

    def encode_image(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``image [N,3,H,W]`` in [-1,1] -> (features ``[N, img_enc_dim, H/8, W/8]``, decoder skips)."""
        return self.image_encoder(image)

    def encode_sparse(self, sparse: torch.Tensor) -> torch.Tensor:
        """``sparse [N,4,H,W]`` -> ``[N, sparse_enc_dim, H/8, W/8]``."""
        return self.flow_encoder(sparse)

    def decode(self, image_features: torch.Tensor, skips: list[torch.Tensor],
               sparse_features: torch.Tensor) -> torch.Tensor:
        """Fuse both encodings and decode to logits ``[N, 2*nbins, H/2, W/2]``."""
        return self.flow_decoder(torch.cat([image_features, sparse_features], dim=1), skips)

    def forward(self, image: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        check_cmp_inputs(image, sparse)
        image_features, skips = self.encode_image(image)
        return self.decode(image_features, skips, self.encode_sparse(sparse))


def check_cmp_inputs(image: torch.Tensor, sparse: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``image [N,3,H,W]`` and ``sparse [N,4,H,W]`` agree."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise InputError(f"CMP expects image [N, 3, H, W] in [-1, 1]; got shape {tuple(image.shape)}.")
    if sparse.ndim != 4 or sparse.shape[1] != CMP.SPARSE_CHANNELS:
        raise InputError(
            f"CMP expects sparse [N, 4, H, W] = [fx*m, fy*m, m, m]; got shape {tuple(sparse.shape)}."
        )
    if image.shape[0] != sparse.shape[0] or image.shape[2:] != sparse.shape[2:]:
        raise InputError(
            f"CMP image {tuple(image.shape)} and sparse {tuple(sparse.shape)} must share batch and size."
        )
