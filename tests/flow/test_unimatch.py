"""Unimatch flow: parity with the reference, checkpoint loading, and the backend's size/vector mapping."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from parity import case_params, load_case, load_schema, parity_root, parity_state_dict

from dynamics_codec.errors import ConfigError, InputError, MissingWeightsError
from dynamics_codec.flow.base import FlowBackend, build_flow_backend
from dynamics_codec.flow.unimatch import (
    CHECKPOINT_FILENAME,
    CHECKPOINT_URL,
    UniMatchFlowNet,
    UnimatchFlow,
    load_unimatch_state_dict,
)
from dynamics_codec.flow.unimatch.matching import local_correlation_with_flow

# Tolerance for comparing two runs of our own code that differ only in batching/transposition.
SAME_CODE_ATOL = 2e-4


@pytest.fixture(scope="module")
def schema() -> dict:
    if not (parity_root() / "unimatch" / "schema.json").is_file():
        pytest.skip(f"no unimatch parity schema under {parity_root()}")
    return load_schema("unimatch")


@pytest.fixture(scope="module")
def parity_weights(schema: dict) -> dict[str, torch.Tensor]:
    return parity_state_dict(schema)


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory: pytest.TempPathFactory, parity_weights: dict) -> str:
    """The parity weights saved in the published layout: {'model': state_dict, ...} via torch.save."""
    path = tmp_path_factory.mktemp("weights") / CHECKPOINT_FILENAME
    torch.save({"model": parity_weights, "step": 0, "epoch": 1}, path)
    return str(path)


def _smooth_texture(height: int, width: int, shifts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """RGB sinusoid texture in [0, 1] translated by each ``(dx, dy)`` in ``shifts [N, 2]`` -> ``[N, 3, H, W]``.

    ``out[n](p) = texture(p - shifts[n])``: content moves by ``+shifts[n]`` (the true flow).
    """
    freqs = (torch.rand(3, 6, 2, generator=generator) - 0.5) * 0.25  # cycles per pixel
    phases = torch.rand(3, 6, generator=generator) * 2 * math.pi
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    x = xs[None] - shifts[:, 0, None, None]  # [N, H, W]
    y = ys[None] - shifts[:, 1, None, None]
    arg = 2 * math.pi * (freqs[None, :, :, 0, None, None] * x[:, None, None] + freqs[None, :, :, 1, None, None] * y[:, None, None])
    return (0.5 + 0.07 * torch.sin(arg + phases[None, :, :, None, None]).sum(2)).clamp(0, 1)


def _translation_clip(height: int, width: int, shifts: list[tuple[float, float]], seed: int = 7):
    """key ``[1, 3, H, W]`` and frames ``[1, T, 3, H, W]`` of a texture translated by ``shifts``."""
    generator = torch.Generator().manual_seed(seed)
    all_shifts = torch.tensor([(0.0, 0.0), *shifts])
    images = _smooth_texture(height, width, all_shifts, generator)
    return images[:1], images[1:].unsqueeze(0)


def _transpose_flow(flow: torch.Tensor) -> torch.Tensor:
    """Flow of the transposed images: transpose H/W and swap the x/y channels (``[..., 2, H, W]``)."""
    return flow.transpose(-2, -1).flip(-3)


# ---------------------------------------------------------------------------------------------
# The network: state dict and parity with the reference


def test_state_dict_matches_published_checkpoint(schema: dict) -> None:
    net = UniMatchFlowNet(**schema["constructor_args"])
    ours = {name: list(t.shape) for name, t in net.state_dict().items()}
    theirs = {e["name"]: list(e["shape"]) for e in schema["state_dict"]}
    assert ours == theirs
    assert len(ours) == schema["num_entries"]
    assert sum(p.numel() for p in net.parameters()) == schema["num_parameters"]


@pytest.mark.parametrize("case_path", case_params("unimatch"))
def test_parity_with_reference(case_path, parity_weights: dict) -> None:
    case = load_case(case_path)
    net = UniMatchFlowNet(**case.meta["constructor"])
    net.load_state_dict(parity_weights, strict=True)
    net.train(bool(case.meta["module_training"]))
    args = [case.tensors[name] for name in case.meta["call"]["args"]]
    with torch.no_grad():
        flow_preds = net(*args, **case.meta["call"]["kwargs"])["flow_preds"]
    expected = {k: v for k, v in case.outputs.items() if k.startswith("flow_preds.")}
    assert len(flow_preds) == len(expected), "number of recorded predictions (intermediate ones included)"
    for index, actual in enumerate(flow_preds):
        name = f"flow_preds.{index}"
        torch.testing.assert_close(actual, expected[name], **case.tolerance(f"out.{name}"), msg=lambda m: f"{name}: {m}")


def test_flow_guided_correlation_equals_bilinear_sampling() -> None:
    """The corner-blending correlation equals grid_sample at p + flow + d (zeros outside), offset by offset."""
    g = torch.Generator().manual_seed(3)
    b, c, h, w, radius = 2, 16, 12, 20, 3
    f0, f1 = torch.randn(b, c, h, w, generator=g), torch.randn(b, c, h, w, generator=g)
    flow = torch.randn(b, 2, h, w, generator=g) * 4
    flow[:, 0, :3] += 18.5  # partly and fully outside the image
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    expected = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            x = xs + flow[:, 0] + dx
            y = ys + flow[:, 1] + dy
            grid = torch.stack((2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1), dim=-1)
            sampled = F.grid_sample(f1, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            expected.append((sampled * f0).sum(1) / c**0.5)
    expected = torch.stack(expected, dim=1)  # [B, (2r+1)^2, H, W]
    actual = local_correlation_with_flow(f0, f1, flow, radius)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_network_rejects_sizes_the_windows_cannot_split() -> None:
    net = UniMatchFlowNet().eval()
    with pytest.raises(InputError, match="divisible by 32"):
        net(torch.zeros(1, 3, 48, 96), torch.zeros(1, 3, 48, 96))


# ---------------------------------------------------------------------------------------------
# Checkpoint loading


def test_published_checkpoint_layout_loads(checkpoint_file: str, parity_weights: dict) -> None:
    state = load_unimatch_state_dict(checkpoint_file)
    assert state.keys() == parity_weights.keys()
    backend = UnimatchFlow.from_pretrained(checkpoint_file, inference_size=(64, 96))
    loaded = backend.net.state_dict()
    for name, tensor in parity_weights.items():
        assert torch.equal(loaded[name], tensor), name
    assert backend.name == "unimatch" and isinstance(backend, FlowBackend)


def test_bare_state_dict_file_loads(tmp_path, parity_weights: dict) -> None:
    path = tmp_path / "bare.pth"
    torch.save(parity_weights, path)
    assert torch.equal(load_unimatch_state_dict(path)["refine.mask.2.bias"], parity_weights["refine.mask.2.bias"])


def test_wrong_checkpoint_contents_raise_config_error(tmp_path, parity_weights: dict) -> None:
    path = tmp_path / "other.pth"
    torch.save({"model": {"upsampler.0.weight": torch.zeros(256, 130, 3, 3)}}, path)
    with pytest.raises(ConfigError, match="upsampler.0.weight"):
        UnimatchFlow(str(path))
    truncated = dict(parity_weights)
    truncated["refine.mask.2.bias"] = torch.zeros(576)
    torch.save({"model": truncated}, path)
    with pytest.raises(ConfigError, match="refine.mask.2.bias"):
        UnimatchFlow(str(path))


def test_missing_checkpoint_says_what_where_and_how(tmp_path) -> None:
    missing = tmp_path / "nowhere" / CHECKPOINT_FILENAME
    with pytest.raises(MissingWeightsError) as info:
        UnimatchFlow(str(missing))
    message = str(info.value)
    assert CHECKPOINT_FILENAME in message
    assert str(missing.resolve()) in message
    assert "third_party/README.md" in message and CHECKPOINT_URL in message
    assert isinstance(info.value, FileNotFoundError)


def test_random_weights_need_explicit_opt_in() -> None:
    with pytest.raises(MissingWeightsError, match="allow_random_weights"):
        UnimatchFlow(None)
    backend = build_flow_backend("unimatch", checkpoint=None, allow_random_weights=True, inference_size=(64, 96))
    assert isinstance(backend, UnimatchFlow)


def test_identity_names_options_and_weights(checkpoint_file: str) -> None:
    a = UnimatchFlow(checkpoint_file, inference_size=(64, 96))
    b = UnimatchFlow(checkpoint_file, inference_size=(64, 96))
    c = UnimatchFlow(checkpoint_file, inference_size=(64, 96), num_reg_refine=3)
    d = UnimatchFlow(None, inference_size=(64, 96), allow_random_weights=True)
    assert a.identity() == b.identity()
    assert len({a.identity(), c.identity(), d.identity()}) == 3


# ---------------------------------------------------------------------------------------------
# The backend with parity weights: wrapper == network at the inference size


@pytest.fixture(scope="module")
def parity_backend(checkpoint_file: str) -> UnimatchFlow:
    return UnimatchFlow(checkpoint_file, inference_size=(64, 96), batch_size=1)


def test_backend_equals_network_at_inference_size(parity_backend: UnimatchFlow) -> None:
    key, frames = _translation_clip(64, 96, [(2.5, -1.25), (-3.0, 2.0)])
    flow = parity_backend(key, frames)  # two chunks of one pair
    assert flow.shape == (1, 2, 2, 64, 96) and flow.dtype == torch.float32
    with torch.no_grad():
        direct = parity_backend.net(
            key.expand(2, -1, -1, -1) * 255, frames[0] * 255, **parity_backend.call_kwargs
        )["flow_preds"][-1]
    torch.testing.assert_close(flow[0], direct, atol=SAME_CODE_ATOL, rtol=0)


def test_backend_resizes_and_rescales_like_the_reference_demo(parity_backend: UnimatchFlow) -> None:
    height, width = 80, 120  # not the inference size (64, 96), not a multiple of 32
    key, frames = _translation_clip(height, width, [(3.0, -2.0)])
    flow = parity_backend(key, frames)[0, 0]
    # reference pipeline written out: [0,255] -> bilinear (align_corners) -> net -> back -> scale
    img0 = F.interpolate(key * 255, size=(64, 96), mode="bilinear", align_corners=True)
    img1 = F.interpolate(frames[:, 0] * 255, size=(64, 96), mode="bilinear", align_corners=True)
    with torch.no_grad():
        low = parity_backend.net(img0, img1, **parity_backend.call_kwargs)["flow_preds"][-1]
    expected = F.interpolate(low, size=(height, width), mode="bilinear", align_corners=True)[0]
    expected = torch.stack((expected[0] * width / 96, expected[1] * height / 64))
    torch.testing.assert_close(flow, expected, atol=SAME_CODE_ATOL, rtol=0)


@pytest.mark.parametrize("size", [(64, 96), (70, 100)], ids=["no_resize", "resize"])
def test_portrait_input_is_transposed_and_vectors_swapped(parity_backend: UnimatchFlow, size) -> None:
    key, frames = _translation_clip(*size, [(2.0, 1.0)])
    landscape = parity_backend(key, frames)
    portrait = parity_backend(key.transpose(-2, -1), frames.transpose(-2, -1))
    assert portrait.shape == (1, 1, 2, size[1], size[0])
    torch.testing.assert_close(portrait, _transpose_flow(landscape), atol=SAME_CODE_ATOL, rtol=0)


# ---------------------------------------------------------------------------------------------
# The backend's mapping with a stub network whose flow is known exactly


class _StubNet(nn.Module):
    """Returns, per pair, the constant flow ``(mean(img1) - mean(img0), mean(img0))`` and records calls."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.calls: list[tuple[tuple[int, ...], float]] = []

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, **kwargs) -> dict[str, list[torch.Tensor]]:
        self.calls.append((tuple(img0.shape), float(torch.maximum(img0.max(), img1.max()))))
        m0, m1 = img0.mean(dim=(1, 2, 3)), img1.mean(dim=(1, 2, 3))
        flow = torch.stack((m1 - m0, m0), dim=1)[:, :, None, None]
        return {"flow_preds": [flow.expand(-1, -1, *img0.shape[-2:]).contiguous()]}


def _stub_backend(**options) -> tuple[UnimatchFlow, _StubNet]:
    backend = UnimatchFlow(None, allow_random_weights=True, **options)
    backend.net = _StubNet()
    return backend, backend.net


def _constant_clip(height: int, width: int, batch: int = 2, frames: int = 3):
    """Constant grey images: key b has value 0.1*(b+1), frame (b, t) has 0.1*(b+1) + 0.05*(t+1)."""
    k = 0.1 * torch.arange(1, batch + 1, dtype=torch.float32)
    f = k[:, None] + 0.05 * torch.arange(1, frames + 1, dtype=torch.float32)[None]
    key = k[:, None, None, None].expand(batch, 3, height, width).contiguous()
    clip = f[:, :, None, None, None].expand(batch, frames, 3, height, width).contiguous()
    return key, clip, k, f


@pytest.mark.parametrize(
    ("size", "inference_size", "network_size"),
    [((48, 80), (64, 96), (64, 96)), ((70, 100), None, (96, 128)), ((100, 70), (64, 96), (64, 96)), ((100, 70), None, (96, 128))],
    ids=["landscape_fixed", "landscape_auto", "portrait_fixed", "portrait_auto"],
)
def test_backend_maps_pairs_sizes_and_vectors(size, inference_size, network_size) -> None:
    height, width = size
    backend, stub = _stub_backend(inference_size=inference_size, batch_size=4)
    key, clip, k, f = _constant_clip(height, width)
    flow = backend(key, clip)
    assert flow.shape == (2, 3, 2, height, width)
    # 6 pairs in chunks of at most 4, at the landscape network size, images in [0, 255]
    assert [shape for shape, _ in stub.calls] == [(4, 3, *network_size), (2, 3, *network_size)]
    assert all(1.0 < peak <= 255.0 for _, peak in stub.calls)
    # network flow (u', v') = 255 * (f - k, k) in network pixels of the (transposed) landscape image
    u_net, v_net = 255 * (f - k[:, None]), (255 * k)[:, None].expand(2, 3)
    landscape_h, landscape_w = (width, height) if height > width else (height, width)
    u_land = u_net * landscape_w / network_size[1]
    v_land = v_net * landscape_h / network_size[0]
    expected_x, expected_y = (v_land, u_land) if height > width else (u_land, v_land)
    torch.testing.assert_close(flow[:, :, 0].mean(dim=(-2, -1)), expected_x, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(flow[:, :, 1].mean(dim=(-2, -1)), expected_y, atol=1e-3, rtol=1e-5)
    assert torch.allclose(flow.amax(dim=(-2, -1)), flow.amin(dim=(-2, -1)), atol=1e-3)  # stays constant


def test_backend_rejects_bad_inputs_and_options() -> None:
    backend, _ = _stub_backend(inference_size=(64, 96))
    with pytest.raises(InputError):
        backend(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    with pytest.raises(InputError):
        backend(torch.zeros(1, 3, 32, 32), torch.zeros(2, 1, 3, 32, 32))
    with pytest.raises(ConfigError, match="multiples of 32"):
        UnimatchFlow(None, inference_size=(100, 100), allow_random_weights=True)
