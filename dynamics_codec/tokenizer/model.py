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

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from dynamics_codec.nn.gdn import GDN
from torch import nn

from dynamics_codec.errors import InputError
from dynamics_codec.nn.unet import UNet, coordinate_channels


@dataclass
class TokenizerConfig:
    num_vectors: int = 2
    num_values: int = 20
    use_key_frame: bool = False
    input_stride: int = 1  # pool the sparse input by this factor before the U-Net (normalised pooling)
    unet_channels: tuple[int, ...] = (32, 64, 128)
    feature_channels: int = 64
    vectorizer_channels: int = 64
    vectorizer_stages: int = 4
    flow_scale: float = 1.0  # pixels mapped to 1.0 at the network input
    coord_channels: bool = False  # append normalised (x, y) to the U-Net input (CoordConv)
    norm: str = "none"  # U-Net normalisation: none keeps flow amplitudes (group would divide them away)
    densify_sigma: float = 32.0  # > 0: also feed a Gaussian normalised-convolution interpolation of the
    #                             sparse flow (sigma in input pixels) and its sample density

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


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def densify(flow: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Normalised convolution: Gaussian-weighted mean of the sampled vectors around every pixel
    ``[N,2,H,W]`` plus the sample density ``[N,1,H,W]`` (how much support that mean has)."""
    density = _gaussian_blur(mask, sigma)
    dense = _gaussian_blur(flow * mask, sigma) / density.clamp_min(1e-6)
    scale = density.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return torch.cat([dense * (density > 1e-6), density / scale], dim=1)


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
        in_ch = 4 + (3 if cfg.use_key_frame else 0) + (2 if cfg.coord_channels else 0) + (3 if cfg.densify_sigma > 0 else 0)
        self.features = UNet(in_ch, cfg.feature_channels, cfg.unet_channels, norm=cfg.norm)
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
        flow = sparse_flow.reshape(-1, 2, h, w) / cfg.flow_scale
        m = mask.reshape(-1, 2, h, w)
        if cfg.input_stride > 1:
            # normalised pooling: the mean of the sampled vectors in each cell at their own amplitude
            # (plain area pooling would divide a lone sample by stride^2), and whether a cell has one
            s = cfg.input_stride
            flow = F.avg_pool2d(flow * m, s, ceil_mode=True) / F.avg_pool2d(m, s, ceil_mode=True).clamp_min(1e-6)
            m = F.max_pool2d(m, s, ceil_mode=True)
            flow = flow * m
        x = torch.cat([flow, m], dim=1)
        if cfg.densify_sigma > 0:
            x = torch.cat([x, densify(flow, m[:, :1], cfg.densify_sigma / max(cfg.input_stride, 1))], dim=1)
        if cfg.use_key_frame:
            if key is None:
                raise InputError("tokenizer: this configuration uses the key frame (use_key_frame=true); pass key")
            n_frames = x.shape[0] // key.shape[0]
            k = key.repeat_interleave(n_frames, dim=0)
            if cfg.input_stride > 1:
                k = F.avg_pool2d(k, cfg.input_stride, ceil_mode=True)
            x = torch.cat([x, k], dim=1)
        if cfg.coord_channels:
            x = torch.cat([x, coordinate_channels(x.shape[0], x.shape[2], x.shape[3], x)], dim=1)
        feats = self.features(x)
        tokens = torch.stack([v(feats) for v in self.vectorizers], dim=1)  # [B*, V, N]
        return tokens.reshape(*lead, cfg.num_vectors, cfg.num_values)
