import numpy as np
import pytest

from dynamics_codec.errors import InputError
from dynamics_codec.metrics import psnr, psnr_per_frame, psnr_y


def test_known_values():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0] = 1  # MSE 1 in frame 0 -> 48.13 dB
    assert psnr_per_frame(a, b)[0] == pytest.approx(10 * np.log10(255**2), abs=1e-9)
    assert psnr_per_frame(a, b)[1] == np.inf
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 0.5), abs=1e-9)


def test_monotone_in_noise_and_symmetric():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    noisy = [np.clip(x.astype(int) + rng.normal(0, s, x.shape), 0, 255).astype(np.uint8) for s in (1, 4, 16)]
    values = [psnr(x, n) for n in noisy]
    assert values[0] > values[1] > values[2]
    assert psnr(x, noisy[1]) == psnr(noisy[1], x)
    assert np.all(psnr_y(x, noisy[0]) > psnr_y(x, noisy[2]))


def test_rejects_mismatched_or_float_input():
    with pytest.raises(InputError, match="equal shape"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))


def test_8bit_mse_is_the_float64_mean_exactly():
    from dynamics_codec.metrics.psnr import mse

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (5, 384, 384, 3), dtype=np.uint8)
    b = rng.integers(0, 256, a.shape, dtype=np.uint8)
    d = a.astype(np.float64) - b.astype(np.float64)
    assert np.array_equal(mse(a, b, axis=(1, 2, 3)), np.mean(d * d, axis=(1, 2, 3)))
    assert mse(a, b) == np.mean(d * d) and mse(a[0], b[0], axis=-1).shape == (384, 384)
    worst = np.zeros((1, 384, 384, 3), np.uint8)
    assert mse(worst, worst + 255, axis=(1, 2, 3))[0] == 255.0**2  # no integer overflow
