"""LPIPS and DISTS built without downloads: injected random backbones, file discovery, clear errors."""

import pytest
import torch
import torchvision

from dynamics_codec.errors import MissingWeightsError
from dynamics_codec.metrics import DistsMetric, LpipsMetric
from dynamics_codec.metrics.perceptual import vgg16_features_only


def _alexnet_features(seed):
    torch.manual_seed(seed)  # torchvision initialises with the global generator; tests only
    return {k: v for k, v in torchvision.models.alexnet(weights=None).state_dict().items() if k.startswith("features.")}


def _vgg_features(seed):
    torch.manual_seed(seed)
    return {f"features.{k}": v for k, v in vgg16_features_only().features.state_dict().items()}


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 64, 64, generator=g)
    noisy = [(x + s * torch.randn(x.shape, generator=g)).clamp(0, 1) for s in (0.02, 0.08, 0.3)]
    return x, noisy


@pytest.fixture(scope="module")
def lpips_metric():
    return LpipsMetric(net="alex", backbone_state_dict=_alexnet_features(0))


@pytest.fixture(scope="module")
def dists_metric():
    return DistsMetric(backbone_state_dict=_vgg_features(0))


@pytest.mark.parametrize("which", ["lpips_metric", "dists_metric"])
def test_identity_symmetry_monotone(which, request, images):
    metric = request.getfixturevalue(which)
    x, noisy = images
    assert metric(x, x).shape == (3,)
    assert torch.allclose(metric(x, x), torch.zeros(3), atol=1e-6)
    d = [metric(x, n) for n in noisy]
    assert torch.all(d[0] < d[1]) and torch.all(d[1] < d[2]), d
    assert torch.allclose(metric(x, noisy[1]), metric(noisy[1], x), rtol=1e-5, atol=1e-7)


def test_lpips_arithmetic_matches_the_package_on_the_same_weights(lpips_metric, images):
    """Our loading path gives the lpips package's own number for the same backbone and heads."""
    import lpips

    x, noisy = images
    reference = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, verbose=False)
    reference.net.load_state_dict(lpips_metric.model.net.state_dict())
    expected = reference(x, noisy[1], normalize=True).reshape(-1)
    assert torch.allclose(lpips_metric(x, noisy[1]), expected, atol=1e-6)
    # the shipped v0.1 heads were loaded (not left at random init)
    shipped = torch.load(lpips.__file__.replace("__init__.py", "weights/v0.1/alex.pth"), map_location="cpu",
                         weights_only=True)
    assert torch.equal(lpips_metric.model.lin0.model[1].weight, shipped["lin0.model.1.weight"])


def test_backbone_file_is_found_and_loaded(tmp_path, images):
    sd = _alexnet_features(5)
    torch.save(sd, tmp_path / "alexnet-owt-7be5be79.pth")
    metric = LpipsMetric(net="alex", weights_dir=tmp_path)
    assert metric.describe()["backbone_file"] == str(tmp_path / "alexnet-owt-7be5be79.pth")
    assert torch.equal(getattr(metric.model.net.slice1, "0").weight, sd["features.0.weight"])
    assert torch.equal(getattr(metric.model.net.slice5, "10").weight, sd["features.10.weight"])


def test_missing_weights_name_the_file_and_the_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(MissingWeightsError) as err:
        LpipsMetric(net="vgg", weights_dir=tmp_path / "w")
    msg = str(err.value)
    assert "vgg16-397923af.pth" in msg and str(tmp_path / "w") in msg and "download.pytorch.org" in msg
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        DistsMetric(weights_dir=tmp_path / "w")


def test_wrong_backbone_file_is_rejected(tmp_path):
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "alexnet-owt-7be5be79.pth")
    with pytest.raises(MissingWeightsError, match="shape"):
        LpipsMetric(net="alex", weights_dir=tmp_path)
