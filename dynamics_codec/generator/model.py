"""The dense-flow generator of the paper.

A U-Net image feature extractor on the decoded key frame produces ``V * N`` feature channels;
they are multiplied channel-wise by the frame's token vectors (flattened to ``V * N``), and a
flow head turns the modulated features into dense flow, output at the full input resolution in
pixels (key -> frame, channel 0 = x). Two flow heads (``flow_head``):

* ``"unet"`` (the paper): a U-Net flow generator on the modulated features (+ the key frame);
* ``"linear"``: the image U-Net produces ``V * N`` two-channel **motion bases** ``B_k`` (each
  normalised to an RMS of one pixel) and the flow is ``flow_scale * sum_k token_k * B_k``: a
  key-frame-conditioned motion basis (a sky region that drifts, a branch that sways). The
  encoder can then find the tokens of a dense flow by least squares (:meth:`project`), and
  refine them on pixels cheaply (the flow is linear in the tokens).

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
    flow_head: str = "unet"  # unet (the paper's flow U-Net) | linear (flow = sum of token x key-frame motion basis)

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
        if d.get("flow_head", "unet") not in ("unet", "linear"):
            raise ConfigError(f"generator.flow_head must be 'unet' or 'linear', got {d['flow_head']!r}")
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
        if cfg.flow_head == "linear":
            self.image_features = UNet(3 + coords, 2 * c_tok, cfg.image_channels, norm=cfg.image_norm)
            self.flow_unet = None
        else:
            self.image_features = UNet(3 + coords, c_tok, cfg.image_channels, norm=cfg.image_norm)
            self.flow_unet = UNet(
                c_tok + (3 if cfg.use_key_frame_in_flow_unet else 0) + coords, 2, cfg.flow_channels, norm=cfg.flow_norm
            )

    def _key_small(self, key: torch.Tensor) -> torch.Tensor:
        s = self.config.internal_stride
        return F.avg_pool2d(key, s, ceil_mode=True) if s > 1 else key

    @property
    def is_linear(self) -> bool:
        return self.config.flow_head == "linear"

    def encode_key(self, key: torch.Tensor) -> torch.Tensor:
        """Key-frame features [B, V*N, h, w] (h = ceil(H / internal_stride)); for the linear head
        the motion bases [B, 2*V*N, h, w] (basis k in channels 2k, 2k+1; RMS one pixel each)."""
        if key.ndim != 4 or key.shape[1] != 3:
            raise InputError(f"generator: key frame must be [B,3,H,W] in [0,1], got {tuple(key.shape)}")
        x = self._key_small(key) * 2 - 1
        if self.config.coord_channels:
            x = torch.cat([x, coordinate_channels(x.shape[0], x.shape[2], x.shape[3], x)], dim=1)
        feats = self.image_features(x)
        if self.is_linear:
            b, c2, h, w = feats.shape
            bases = feats.reshape(b, c2 // 2, 2 * h * w)
            rms = bases.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()
            feats = (bases / rms).reshape(b, c2, h, w)
        return feats

    def project(self, key_features: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor | None = None,
                ridge: float = 1e-3) -> torch.Tensor:
        """Tokens [B, T, V, N] whose flow is closest (weighted least squares, ridge-regularised) to
        the dense flow [B, T, 2, H, W] (linear head only). ``weight`` [B, T, 1, H, W] (e.g. where
        the flow is reliable); ``ridge`` relative to the mean energy of a basis."""
        if not self.is_linear:
            raise ConfigError("generator.project needs generator.flow_head=linear (the paper's U-Net head has no "
                              "linear tokens); use the tokenizer (encoder.analysis=tokenizer)")
        cfg = self.config
        b, t, _, h, w = flow.shape
        hs, ws = key_features.shape[-2:]
        c = cfg.num_vectors * cfg.num_values
        f = flow.reshape(b * t, 2, h, w)
        if (h, w) != (hs, ws):
            f = F.adaptive_avg_pool2d(f, (hs, ws))
        f = f.reshape(b, t, 2 * hs * ws) / cfg.flow_scale
        bases = key_features.reshape(b, c, 2 * hs * ws)
        if weight is None:
            gram = bases @ bases.transpose(1, 2)  # [B, C, C]
            rhs = f @ bases.transpose(1, 2)  # [B, T, C]
            reg = ridge * gram.diagonal(dim1=1, dim2=2).mean(-1).view(b, 1, 1)
            eye = torch.eye(c, device=flow.device, dtype=flow.dtype)
            z = torch.linalg.solve((gram + reg * eye)[:, None].expand(b, t, c, c), rhs.unsqueeze(-1))[..., 0]
        else:
            wgt = weight.reshape(b * t, 1, h, w)
            if (h, w) != (hs, ws):
                wgt = F.adaptive_avg_pool2d(wgt, (hs, ws))
            wgt = wgt.reshape(b, t, 1, hs * ws).expand(b, t, 2, hs * ws).reshape(b, t, 1, 2 * hs * ws)
            weighted = bases[:, None] * wgt  # [B, T, C, P]
            gram = weighted @ bases[:, None].transpose(2, 3)  # [B, T, C, C]
            rhs = (weighted @ f.unsqueeze(-1))[..., 0]
            reg = ridge * (bases.pow(2).sum(-1).mean(-1)).view(b, 1, 1, 1)
            eye = torch.eye(c, device=flow.device, dtype=flow.dtype)
            z = torch.linalg.solve(gram + reg * eye, rhs.unsqueeze(-1))[..., 0]
        return z.reshape(b, t, cfg.num_vectors, cfg.num_values)

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
        if self.is_linear:  # flow = flow_scale * sum_k token_k * basis_k
            bases = feats.reshape(b, c // 2, 2 * hs * ws)
            flow = (tokens.reshape(b, t, c // 2) @ bases).reshape(b * t, 2, hs, ws) * cfg.flow_scale
        else:
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
