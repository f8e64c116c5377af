"""MS-SSIM: identity, monotonicity, the pytorch_msssim reference, and the small-image scale rule."""

import pytest
import torch

from dynamics_codec.errors import InputError
from dynamics_codec.metrics import ms_ssim, msssim_levels


def _noisy(x, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_identity_symmetry_and_monotone():
    x = torch.rand(2, 3, 64, 72, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ms_ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)
    values = [ms_ssim(x, _noisy(x, s, 1)) for s in (0.02, 0.08, 0.3)]
    assert torch.all(values[0] > values[1]) and torch.all(values[1] > values[2])
    y = _noisy(x, 0.05, 2)
    assert torch.allclose(ms_ssim(x, y), ms_ssim(y, x), atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 192, 200), (1, 3, 193, 201)])
def test_matches_pytorch_msssim(shape):
    reference = pytest.importorskip("pytorch_msssim")
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(3))
    y = _noisy(x, 0.1, 4)
    ours = ms_ssim(x, y)
    ref = reference.ms_ssim(x.double(), y.double(), data_range=1.0, size_average=False)
    assert torch.allclose(ours, ref, atol=1e-6), (ours, ref)


def test_levels_for_small_images():
    assert msssim_levels(384, 384) == 5
    assert msssim_levels(161, 500) == 5 and msssim_levels(160, 500) == 4
    assert msssim_levels(64, 64) == 3
    with pytest.raises(InputError, match="at least 11x11"):
        msssim_levels(8, 64)
