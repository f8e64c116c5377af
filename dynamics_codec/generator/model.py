"""The dense-flow generator of the paper.

A U-Net image feature extractor on the decoded key frame produces ``V * N`` feature channels;
they are multiplied channel-wise by the frame's token vectors (flattened to ``V * N``), and a
U-Net flow generator turns the modulated features into dense flow, output at the full input
resolution in pixels (key -> frame, channel 0 = x).

The key-frame features do not depend on the frame, so :meth:`DenseFlowGenerator.forward`
computes them once and broadcasts them over the T frames of a sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.nn.unet import UNet, coordinate_channels


@dataclass
class GeneratorConfig:
    num_vectors: int = 2
    num_values: int = 20
    image_channels: tuple[int, ...] = (32, 64, 128)
    flow_channels: tuple[int, ...] = (64, 128, 256)
    internal_stride: int = 1  # run both U-Nets at H/stride x W/stride; the flow is upsampled back
    flow_scale: float = 10.0  # network output 1.0 = this many pixels
    use_key_frame_in_flow_unet: bool = True
    coord_channels: bool = False  # append normalised (x, y) to both U-Nets' inputs (CoordConv)
    image_norm: str = "group"  # key-frame feature U-Net normalisation
    flow_norm: str = "none"  # flow U-Net: none keeps the token amplitudes (group would divide them away)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        d = dict(d)
        for k in ("image_channels", "flow_channels"):
            if k in d:
                d[k] = tuple(int(c) for c in d[k])
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"generator: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_channels"] = list(self.image_channels)
        d["flow_channels"] = list(self.flow_channels)
        return d


class DenseFlowGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GeneratorConfig()
        c_tok = cfg.num_vectors * cfg.num_values
        coords = 2 if cfg.coord_channels else 0
        self.image_features = UNet(3 + coords, c_tok, cfg.image_channels, norm=cfg.image_norm)
        self.flow_unet = UNet(
            c_tok + (3 if cfg.use_key_frame_in_flow_unet else 0) + coords, 2, cfg.flow_channels, norm=cfg.flow_norm
        )

    def _key_small(self, key: torch.Tensor) -> torch.Tensor:
        s = self.config.internal_stride
        return F.avg_pool2d(key, s, ceil_mode=True) if s > 1 else key

    def encode_key(self, key: torch.Tensor) -> torch.Tensor:
        """Key-frame features [B, V*N, h, w] (h = ceil(H / internal_stride))."""
        if key.ndim != 4 or key.shape[1] != 3:
            raise InputError(f"generator: key frame must be [B,3,H,W] in [0,1], got {tuple(key.shape)}")
        x = self._key_small(key) * 2 - 1
        if self.config.coord_channels:
            x = torch.cat([x, coordinate_channels(x.shape[0], x.shape[2], x.shape[3], x)], dim=1)
        return self.image_features(x)

    def forward(self, key: torch.Tensor, tokens: torch.Tensor, key_features: torch.Tensor | None = None,
                size: tuple[int, int] | None = None) -> torch.Tensor:
        """Dense flow [B, T, 2, H, W] for key [B,3,H,W] and tokens [B, T, V, N].

        ``size`` (h, w): produce the flow at that size instead, in pixels of that size (what an
        encoder needs to evaluate the decoder cheaply at a lower resolution)."""
        cfg = self.config
        if tokens.ndim != 4 or tokens.shape[-2:] != (cfg.num_vectors, cfg.num_values):
            raise InputError(
                f"generator: tokens must be [B,T,{cfg.num_vectors},{cfg.num_values}], got {tuple(tokens.shape)}"
            )
        b, t = tokens.shape[:2]
        h, w = key.shape[-2:]
        feats = self.encode_key(key) if key_features is None else key_features  # [B, C, h', w']
        c, hs, ws = feats.shape[1:]
        mod = feats[:, None] * tokens.reshape(b, t, c, 1, 1)  # channel-wise multiplication
        x = mod.reshape(b * t, c, hs, ws)
        if cfg.use_key_frame_in_flow_unet:
            k = (self._key_small(key) * 2 - 1)[:, None].expand(b, t, 3, hs, ws).reshape(b * t, 3, hs, ws)
            x = torch.cat([x, k], dim=1)
        if cfg.coord_channels:
            x = torch.cat([x, coordinate_channels(b * t, hs, ws, x)], dim=1)
        flow = self.flow_unet(x) * cfg.flow_scale
        out_h, out_w = (h, w) if size is None else (int(size[0]), int(size[1]))
        if (out_h, out_w) != (h, w):  # flow in pixels of the output size
            flow = flow * torch.tensor([out_w / w, out_h / h], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)
        if (hs, ws) != (out_h, out_w):
            flow = F.interpolate(flow, size=(out_h, out_w), mode="bilinear", align_corners=False)
        return flow.reshape(b, t, 2, out_h, out_w)
