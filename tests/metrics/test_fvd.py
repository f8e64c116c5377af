"""FVD: the Fréchet distance against a float64 scipy reference, windowing, and the I3D plumbing."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dynamics_codec.errors import InputError, MissingWeightsError
from dynamics_codec.metrics import I3DFeatureExtractor, frechet_distance, fvd_from_features, fvd_windows, gaussian_stats


def _scipy_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1.dot(s2)).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n,d", [(200, 16), (50, 8), (6, 32)])  # the last one rank-deficient, as for few windows
def test_frechet_distance_matches_scipy(n, d):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    b = 0.7 * rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 0.3
    ours = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    ref = _scipy_frechet(*gaussian_stats(a), *gaussian_stats(b))
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_frechet_identity_symmetry_and_shift():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(40, 5))
    mu, s = gaussian_stats(f)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8
    g = rng.normal(size=(40, 5)) * 2
    assert frechet_distance(*gaussian_stats(f), *gaussian_stats(g)) == pytest.approx(
        frechet_distance(*gaussian_stats(g), *gaussian_stats(f)), rel=1e-9)
    # a pure mean shift adds exactly |shift|^2
    assert fvd_from_features(f, f + 3.0) == pytest.approx(5 * 9.0, rel=1e-9)
    assert math.isnan(fvd_from_features(f[:1], f[:1]))


def test_windows():
    assert fvd_windows(50, 16) == [(0, 16), (16, 32), (32, 48)]
    assert fvd_windows(50, 16, 8)[-1] == (32, 48) and len(fvd_windows(50, 16, 8)) == 5
    assert fvd_windows(10, 16) == []
    with pytest.raises(InputError):
        fvd_windows(10, 0)


class _TinyI3D(torch.nn.Module):
    """A stand-in with the I3D TorchScript call signature: [N,3,T,224,224] in [-1,1] -> [N,400]."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(6, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = True) -> torch.Tensor:
        assert x.shape[1] == 3 and x.shape[-1] == 224 and x.shape[-2] == 224
        stats = torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1)
        return self.proj(stats)


def test_i3d_plumbing_with_a_scripted_stand_in(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_TinyI3D()).save(str(path))
    extractor = I3DFeatureExtractor(path=path, batch_size=2)
    videos = torch.rand(3, 4, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    feats = extractor(videos)
    assert feats.shape == (3, 400) and feats.dtype == np.float64
    pre = I3DFeatureExtractor.preprocess(videos)
    assert pre.shape == (3, 3, 4, 224, 224) and pre.min() >= -1 and pre.max() <= 1
    # a constant [0,1] video maps to a constant in [-1,1]: 0.75 -> 0.5
    const = I3DFeatureExtractor.preprocess(torch.full((1, 2, 3, 8, 8), 0.75))
    assert torch.allclose(const, torch.full_like(const, 0.5))
    with pytest.raises(MissingWeightsError, match="i3d_torchscript.pt"):
        I3DFeatureExtractor(path=tmp_path / "missing" / "i3d_torchscript.pt")


def test_i3d_file_is_checked_against_a_pinned_sha256(tmp_path, caplog):
    from dynamics_codec.utils.files import sha256_file

    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_TinyI3D()).save(str(path))
    digest = sha256_file(path)
    with caplog.at_level("WARNING"):
        unchecked = I3DFeatureExtractor(path=path)
    assert "unchecked" in caplog.text and "metrics.fvd.i3d_sha256" in caplog.text
    assert unchecked.describe()["model_sha256"] == digest
    assert I3DFeatureExtractor(path=path, sha256=digest.upper()).sha256 == digest
    with pytest.raises(MissingWeightsError, match="metrics.fvd.i3d_sha256 expects 00"):
        I3DFeatureExtractor(path=path, sha256="00" * 32)
