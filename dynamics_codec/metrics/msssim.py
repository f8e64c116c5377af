"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) on float RGB images in [0, 1].

Definition (the one of the paper and of ``pytorch_msssim``): 11-tap Gaussian window with
sigma 1.5 applied separably *without* padding ("valid"), K1 = 0.01, K2 = 0.03, data range 1,
5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between
scales (zero padding of one pixel on both ends of an odd side, averages counting the pad), negative contrast-structure terms clamped to 0,
``MS-SSIM = prod_{j<M} cs_j^w_j * ssim_M^w_M`` per channel, then the mean over channels.

Small images: five scales need the shorter side to exceed ``(11 - 1) * 2**4 = 160`` pixels.
For smaller images the largest number of scales that fits is used (at least 1) and the
first weights are renormalised to sum to one; :func:`msssim_levels` says how many.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dynamics_codec.errors import InputError

__all__ = ["MSSSIM_WEIGHTS", "ms_ssim", "msssim_levels", "gaussian_window"]

MSSSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN_SIZE, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03


def gaussian_window(size: int = _WIN_SIZE, sigma: float = _SIGMA, dtype=torch.float32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``[size]``."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def msssim_levels(height: int, width: int, max_levels: int = len(MSSSIM_WEIGHTS)) -> int:
    """Number of scales used for an ``height`` x ``width`` image (5 when the shorter side > 160)."""
    side = min(height, width)
    if side < _WIN_SIZE:
        raise InputError(f"MS-SSIM needs images of at least {_WIN_SIZE}x{_WIN_SIZE} pixels, got {height}x{width}")
    levels = 1
    while levels < max_levels and side > (_WIN_SIZE - 1) * 2**levels:
        levels += 1
    return levels


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filter of ``[B, C, H, W]`` per channel."""
    c = x.shape[1]
    kh = window.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = window.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    return F.conv2d(F.conv2d(x, kh, groups=c), kw, groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and contrast-structure term -> two ``[B, C]`` tensors."""
    c1, c2 = _K1**2, _K2**2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    sxx = _blur(x * x, window) - mu_x**2
    syy = _blur(y * y, window) - mu_y**2
    sxy = _blur(x * y, window) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """MS-SSIM of float images ``[B, 3, H, W]`` in [0, 1] -> ``[B]`` (1 for identical images).

    Computed in float64 on the inputs' device. ``levels`` defaults to :func:`msssim_levels`.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise InputError(f"ms_ssim needs two [B,C,H,W] tensors of equal shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    levels = msssim_levels(*x.shape[-2:]) if levels is None else int(levels)
    weights = torch.tensor(MSSSIM_WEIGHTS[:levels], dtype=torch.float64, device=x.device)
    if levels < len(MSSSIM_WEIGHTS):
        weights = weights / weights.sum()
    window = gaussian_window(dtype=torch.float64, device=x.device)
    x, y = x.double(), y.double()
    terms = []
    for level in range(levels):
        ssim, cs = _ssim_cs(x, y, window)
        terms.append(torch.relu(cs) if level < levels - 1 else torch.relu(ssim))
        if level < levels - 1:
            padding = (x.shape[-2] % 2, x.shape[-1] % 2)
            x = F.avg_pool2d(x, 2, padding=padding)
            y = F.avg_pool2d(y, 2, padding=padding)
    stacked = torch.stack(terms, dim=0)  # [L, B, C]
    per_channel = torch.prod(stacked ** weights.view(-1, 1, 1), dim=0)
    return per_channel.mean(dim=1)
