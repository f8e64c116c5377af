"""MetricSuite: per-frame arrays, means, FVD windows, and allow_missing."""

import numpy as np
import pytest
import torch

from dynamics_codec.errors import MissingWeightsError
from dynamics_codec.metrics import PSNR_CAP_DB, I3DFeatureExtractor, MetricSuite

from test_fvd import _TinyI3D  # the scripted I3D stand-in (pytest puts this folder on sys.path)


def _video(seed, t=8, h=48, w=40):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _missing():
    raise MissingWeightsError("no file here")


def test_identity_and_distortion():
    torch.manual_seed(0)
    factories = {"fvd": lambda: I3DFeatureExtractor(model=torch.jit.script(_TinyI3D())), "dists": _missing}
    suite = MetricSuite(["psnr", "ms_ssim", "fvd", "dists"], batch_size=3, allow_missing=True, factories=factories,
                        fvd_window=4, fvd_stride=2, progress=False)
    x = _video(0)
    same = suite.evaluate(x, x)
    assert set(same.per_frame) == {"psnr", "psnr_y", "ms_ssim"}
    assert same.per_frame["ms_ssim"].shape == (8,)
    assert same.mean["psnr"] == PSNR_CAP_DB and same.mean["ms_ssim"] == pytest.approx(1.0, abs=1e-12)
    assert same.fvd.num_windows == 3 and same.fvd.window == 4 and same.fvd.stride == 2
    assert abs(same.fvd.value) < 1e-6
    assert "dists" in same.skipped and "no file here" in same.skipped["dists"]
    noisy = np.clip(x.astype(int) + np.random.default_rng(1).normal(0, 20, x.shape), 0, 255).astype(np.uint8)
    worse = suite.evaluate(x, noisy)
    assert worse.mean["psnr"] < 30 and worse.mean["ms_ssim"] < 0.99
    assert worse.fvd.value > 0
    summary = worse.summary()
    assert set(summary) == {"psnr", "psnr_y", "ms_ssim", "fvd"}


def test_missing_weights_raise_without_allow_missing():
    suite = MetricSuite(["psnr", "lpips"], factories={"lpips": _missing}, progress=False)
    with pytest.raises(MissingWeightsError):
        suite.evaluate(_video(0, t=2), _video(1, t=2))


def test_too_short_for_fvd_gives_undefined_value():
    suite = MetricSuite(["fvd"], factories={"fvd": lambda: I3DFeatureExtractor(model=torch.jit.script(_TinyI3D()))},
                        fvd_window=16, progress=False)
    r = suite.evaluate(_video(0, t=5), _video(1, t=5))
    assert r.fvd.num_windows == 0 and np.isnan(r.fvd.value) and r.summary()["fvd"] is None
