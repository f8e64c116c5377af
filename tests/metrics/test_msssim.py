"""MS-SSIM: identity, monotonicity, pytorch_msssim itself at five scales, agreement with the former
hand-written float64 implementation (kept here as the oracle), and the small-image scale rule."""

import pytest
import pytorch_msssim
import torch
import torch.nn.functional as F

from dynamics_codec.errors import InputError
from dynamics_codec.metrics import ms_ssim, msssim_levels


def _noisy(x, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_identity_symmetry_and_monotone():
    x = torch.rand(2, 3, 64, 72, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ms_ssim(x, x), torch.ones(2))
    values = [ms_ssim(x, _noisy(x, s, 1)) for s in (0.02, 0.08, 0.3)]
    assert torch.all(values[0] > values[1]) and torch.all(values[1] > values[2])
    y = _noisy(x, 0.05, 2)
    assert torch.allclose(ms_ssim(x, y), ms_ssim(y, x), atol=1e-7)


def _former_ms_ssim(x, y, levels):
    """The project's hand-written implementation before it used pytorch_msssim (float64)."""
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:levels], dtype=torch.float64)
    weights = weights / weights.sum() if levels < 5 else weights
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    x, y = x.double(), y.double()

    def blur(v):
        c = v.shape[1]
        return F.conv2d(F.conv2d(v, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c),
                        g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)

    terms = []
    for level in range(levels):
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        cs = (2 * sxy + 0.03**2) / (sxx + syy + 0.03**2)
        ssim = (2 * mx * my + 0.01**2) / (mx**2 + my**2 + 0.01**2) * cs
        terms.append(torch.relu((cs if level < levels - 1 else ssim).flatten(2).mean(-1)))
        if level < levels - 1:
            pad = (x.shape[-2] % 2, x.shape[-1] % 2)
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    return torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0).mean(dim=1)


def test_five_scales_are_pytorch_msssim():
    x = torch.rand(2, 3, 192, 200, generator=torch.Generator().manual_seed(3))
    y = _noisy(x, 0.1, 4)
    ours = ms_ssim(x, y)
    assert ours.dtype == torch.float32  # the codec's frames are float32: no float64 copy
    assert torch.equal(ours, pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False))


@pytest.mark.parametrize("shape", [(2, 3, 192, 200), (1, 3, 193, 201), (2, 3, 64, 72), (1, 3, 161, 97), (1, 3, 11, 40)])
def test_agrees_with_the_former_implementation(shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(5))
    y = _noisy(x, 0.1, 6)
    levels = msssim_levels(*shape[-2:])
    former = _former_ms_ssim(x, y, levels)
    # float32 (measured <= 2.4e-6 on these noise images); float64 (the library's window is built in float32)
    assert torch.allclose(ms_ssim(x, y).double(), former, rtol=0, atol=5e-6), (ms_ssim(x, y), former)
    assert torch.allclose(ms_ssim(x.double(), y.double()), former, rtol=0, atol=5e-7)
    with pytest.raises(InputError, match="scales"):
        ms_ssim(x, y, levels=levels + 1)


def test_levels_for_small_images():
    assert msssim_levels(384, 384) == 5
    assert msssim_levels(161, 500) == 5 and msssim_levels(160, 500) == 4
    assert msssim_levels(64, 64) == 3
    with pytest.raises(InputError, match="at least 11x11"):
        msssim_levels(8, 64)
