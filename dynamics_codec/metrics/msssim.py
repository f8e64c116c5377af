"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) on float RGB images in [0, 1], through ``pytorch_msssim``.

Definition (the one of the paper and of ``pytorch_msssim``): 11-tap Gaussian window with
sigma 1.5 applied separably *without* padding ("valid"), K1 = 0.01, K2 = 0.03, data range 1,
5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between
scales (zero padding of one pixel on both ends of an odd side, averages counting the pad), negative
contrast-structure terms clamped to 0, ``MS-SSIM = prod_{j<M} cs_j^w_j * ssim_M^w_M`` per
channel, then the mean over channels. Computed in the inputs' floating dtype (float32 for the
codec's frames).

Small images: five scales need the shorter side to exceed ``(11 - 1) * 2**4 = 160`` pixels
(``pytorch_msssim.ms_ssim`` refuses smaller ones). For smaller images the largest number of
scales that fits is used (at least 1) with the first weights renormalised to sum to one, from
the library's per-scale SSIM; :func:`msssim_levels` says how many.
"""

from __future__ import annotations

import pytorch_msssim
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

from dynamics_codec.errors import InputError

__all__ = ["MSSSIM_WEIGHTS", "ms_ssim", "msssim_levels"]

MSSSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN_SIZE, _SIGMA = 11, 1.5


def msssim_levels(height: int, width: int, max_levels: int = len(MSSSIM_WEIGHTS)) -> int:
    """Number of scales used for an ``height`` x ``width`` image (5 when the shorter side > 160)."""
    side = min(height, width)
    if side < _WIN_SIZE:
        raise InputError(f"MS-SSIM needs images of at least {_WIN_SIZE}x{_WIN_SIZE} pixels, got {height}x{width}")
    levels = 1
    while levels < max_levels and side > (_WIN_SIZE - 1) * 2**levels:
        levels += 1
    return levels


def ms_ssim(x: torch.Tensor, y: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """MS-SSIM of float images ``[B, 3, H, W]`` in [0, 1] -> ``[B]`` (1 for identical images).

    ``levels`` defaults to :func:`msssim_levels`; five levels is ``pytorch_msssim.ms_ssim``.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise InputError(f"ms_ssim needs two [B,C,H,W] tensors of equal shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not x.is_floating_point():
        x, y = x.float(), y.float()
    most = msssim_levels(*x.shape[-2:])
    levels = most if levels is None else int(levels)
    if not 1 <= levels <= most:
        raise InputError(f"ms_ssim of {x.shape[-2]}x{x.shape[-1]} images takes 1..{most} scales, got levels={levels}")
    if levels == len(MSSSIM_WEIGHTS):
        return pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False, win_size=_WIN_SIZE,
                                      win_sigma=_SIGMA, weights=list(MSSSIM_WEIGHTS))
    # fewer scales (a side <= 160): the library's loop with the renormalised first weights
    weights = x.new_tensor(MSSSIM_WEIGHTS[:levels])
    weights = weights / weights.sum()
    win = _fspecial_gauss_1d(_WIN_SIZE, _SIGMA).repeat(x.shape[1], 1, 1, 1)
    terms = []
    for level in range(levels):
        ssim, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False)
        terms.append(torch.relu(cs if level < levels - 1 else ssim))
        if level < levels - 1:
            padding = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=padding), F.avg_pool2d(y, 2, padding=padding)
    return torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0).mean(dim=1)
