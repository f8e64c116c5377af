"""The motion tokenizer of the paper.

A U-Net flow feature extractor on ``concat(sparse flow / flow_scale, mask[, key frame])``,
then ``num_vectors`` vectorizers -- cascaded stride-2 convolutions with GDN (CompressAI's
:class:`compressai.layers.GDN`, the maintained implementation of Balle et al.'s generalised
divisive normalisation) -- each reducing the feature map to one token vector of
``num_values`` numbers (global mean over the remaining positions).

Shapes: sparse flow [B,2,H,W] (pixels, key -> frame), mask [B,2,H,W] in {0,1}, key frame
[B,3,H,W] in [0,1] -> tokens [B,V,N]. Leading frame dimensions ([B,T,...]) are folded into
the batch by :meth:`MotionTokenizer.forward`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from compressai.layers import GDN
from torch import nn

from dynamics_codec.errors import InputError
from dynamics_codec.nn.unet import UNet, coordinate_channels


@dataclass
class TokenizerConfig:
    num_vectors: int = 2
    num_values: int = 20
    use_key_frame: bool = False
    input_stride: int = 1  # area-pool the sparse input by this factor before the U-Net
    unet_channels: tuple[int, ...] = (32, 64, 128)
    feature_channels: int = 64
    vectorizer_channels: int = 64
    vectorizer_stages: int = 4
    flow_scale: float = 10.0  # pixels mapped to 1.0 at the network input
    coord_channels: bool = False  # append normalised (x, y) to the U-Net input (CoordConv)

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        d = dict(d)
        if "unet_channels" in d:
            d["unet_channels"] = tuple(int(c) for c in d["unet_channels"])
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            from dynamics_codec.errors import ConfigError

            raise ConfigError(f"tokenizer: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unet_channels"] = list(self.unet_channels)
        return d


class Vectorizer(nn.Module):
    """Cascaded stride-2 convolutions with GDN, then a projection to N values and a global mean."""

    def __init__(self, in_channels: int, channels: int, stages: int, num_values: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(stages):
            layers += [nn.Conv2d(c, channels, 5, stride=2, padding=2), GDN(channels)]
            c = channels
        self.body = nn.Sequential(*layers)
        self.proj = nn.Conv2d(c, num_values, 3, padding=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(self.body(features)).mean(dim=(-2, -1))


class MotionTokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TokenizerConfig()
        in_ch = 4 + (3 if cfg.use_key_frame else 0) + (2 if cfg.coord_channels else 0)
        self.features = UNet(in_ch, cfg.feature_channels, cfg.unet_channels)
        self.vectorizers = nn.ModuleList(
            Vectorizer(cfg.feature_channels, cfg.vectorizer_channels, cfg.vectorizer_stages, cfg.num_values)
            for _ in range(cfg.num_vectors)
        )

    def forward(
        self, sparse_flow: torch.Tensor, mask: torch.Tensor, key: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Tokens [..., V, N] for sparse flow / mask [..., 2, H, W] (leading dims folded)."""
        cfg = self.config
        if sparse_flow.shape[-3] != 2 or mask.shape != sparse_flow.shape:
            raise InputError(
                f"tokenizer: sparse flow and mask must both be [...,2,H,W]; got {tuple(sparse_flow.shape)} "
                f"and {tuple(mask.shape)}"
            )
        lead = sparse_flow.shape[:-3]
        h, w = sparse_flow.shape[-2:]
        x = torch.cat([sparse_flow.reshape(-1, 2, h, w) / cfg.flow_scale, mask.reshape(-1, 2, h, w)], dim=1)
        if cfg.use_key_frame:
            if key is None:
                raise InputError("tokenizer: this configuration uses the key frame (use_key_frame=true); pass key")
            n_frames = x.shape[0] // key.shape[0]
            x = torch.cat([x, key.repeat_interleave(n_frames, dim=0)], dim=1)
        if cfg.input_stride > 1:
            # area pooling keeps sparse samples: pooled flow / pooled mask is the local mean motion
            x = F.avg_pool2d(x, cfg.input_stride, ceil_mode=True)
        if cfg.coord_channels:
            x = torch.cat([x, coordinate_channels(x.shape[0], x.shape[2], x.shape[3], x)], dim=1)
        feats = self.features(x)
        tokens = torch.stack([v(feats) for v in self.vectorizers], dim=1)  # [B*, V, N]
        return tokens.reshape(*lead, cfg.num_vectors, cfg.num_values)
