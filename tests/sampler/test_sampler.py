"""WatershedSampler behaviour on synthetic flows: interiors, modes, cap, seeds, dtypes, errors."""

from __future__ import annotations

import pytest
import torch

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.sampler import SparseMotion, WatershedSampler, analysis_stride, distance_to_edges, motion_edges
from dynamics_codec.sampler import watershed_candidates
from synthetic import (
    distance_to_rectangle_boundaries,
    moving_texture_flow,
    patchwork_flow,
    region_label,
    two_rectangles_flow,
)


def _points(mask_2d: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(p) for p in torch.nonzero(mask_2d).tolist()}


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_watershed_points_lie_in_region_interiors():
    flow = two_rectangles_flow()
    result = WatershedSampler(strategies=("watershed",))(flow[None], _seeded(0))
    points = torch.nonzero(result.mask[0, 0])
    assert len(points) >= 2
    # far from every motion edge: the Sobel edge band is ~2 px wide, NMS keeps only basin peaks
    assert float(distance_to_rectangle_boundaries(points).min()) >= 10.0
    labels = region_label(points)
    # both rectangles get a point; the background's distance peaks lie on the image border,
    # which the reference clears (the grid strategy covers the background)
    assert {1, 2} <= set(labels.tolist())
    # the flow at each point is its region's flow (not a blurred boundary value)
    sampled = result.sparse_flow[0][:, points[:, 0], points[:, 1]].T
    torch.testing.assert_close(sampled, flow[:, points[:, 0], points[:, 1]].T)
    edges = motion_edges(flow)
    assert not bool(edges[points[:, 0], points[:, 1]].any())
    assert float(distance_to_edges(edges)[points[:, 0], points[:, 1]].min()) >= 8.0


def test_output_shapes_values_and_sparse_equals_flow_times_mask():
    flow = moving_texture_flow(3, 96, 128)[None]  # [1, 3, 2, 96, 128]
    result = WatershedSampler(bg_ratio=1 / 400)(flow, _seeded(0))
    assert isinstance(result, SparseMotion)
    assert result.mask.shape == flow.shape and result.sparse_flow.shape == flow.shape
    assert result.mask.dtype == torch.float32 and result.sparse_flow.dtype == torch.float32
    assert set(result.mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(result.mask[:, :, 0], result.mask[:, :, 1])
    assert torch.equal(result.sparse_flow, flow * result.mask)
    assert result.num_points.shape == (1, 3) and int(result.num_points.min()) >= 5 * 6  # grid alone: 5 x 6


def test_same_seed_same_points_different_seed_different_points():
    flow = moving_texture_flow(2, 128, 128, seed=4)[None]
    sampler = WatershedSampler(mask_mode="frame")
    first = sampler(flow, _seeded(11)).mask
    assert torch.equal(first, sampler(flow, _seeded(11)).mask)
    assert any(not torch.equal(first, sampler(flow, _seeded(s)).mask) for s in (12, 13, 14))
    # None means a fixed default seed, so encoding is reproducible without one
    assert torch.equal(sampler(flow, None).mask, sampler(flow, None).mask)


def test_sequence_mode_uses_the_last_frame_for_every_frame():
    frames = torch.stack([two_rectangles_flow(shift=s) for s in (0, 8, 16)])[None]  # [1, 3, 2, H, W]
    sampler = WatershedSampler(mask_mode="sequence")
    result = sampler(frames, _seeded(2))
    for t in range(3):
        assert torch.equal(result.mask[0, t], result.mask[0, -1])
    last_only = sampler(frames[:, -1], _seeded(2))  # the same seed on the last frame alone
    assert torch.equal(result.mask[0, 0], last_only.mask[0])
    assert torch.equal(result.sparse_flow, frames * result.mask)


def test_frame_mode_samples_each_frame():
    frames = torch.stack([two_rectangles_flow(shift=s) for s in (0, 40)])[None]
    result = WatershedSampler(mask_mode="frame", strategies=("watershed",))(frames, _seeded(2))
    first, second = _points(result.mask[0, 0, 0]), _points(result.mask[0, 1, 0])
    assert first != second
    for t, shift in ((0, 0), (1, 40)):
        pts = torch.nonzero(result.mask[0, t, 0])
        assert float(distance_to_rectangle_boundaries(pts, shift=shift).min()) >= 10.0


def test_batch_items_are_independent_of_each_other_in_4d_input():
    a, b = two_rectangles_flow(), two_rectangles_flow(shift=40)
    both = WatershedSampler()(torch.stack([a, b]), _seeded(0)).mask
    alone = WatershedSampler()(a[None], _seeded(0)).mask  # first item draws first
    assert torch.equal(both[0], alone[0])
    assert not torch.equal(both[0], both[1])


def test_cap_limits_points_to_a_subset_of_the_uncapped_ones():
    flow = moving_texture_flow(1, 256, 256, seed=2)[None]
    uncapped = WatershedSampler(max_num_guide=None, bg_ratio=1 / 1600)(flow, _seeded(9))
    capped = WatershedSampler(max_num_guide=12, bg_ratio=1 / 1600)(flow, _seeded(9))
    assert int(uncapped.num_points) > 12
    assert int(capped.num_points) == 12
    assert _points(capped.mask[0, 0, 0]) <= _points(uncapped.mask[0, 0, 0])
    assert torch.equal(WatershedSampler(max_num_guide=-1)(flow, _seeded(9)).mask, WatershedSampler()(flow, _seeded(9)).mask)


def test_static_flow_yields_only_grid_points():
    flow = torch.zeros(1, 2, 2, 100, 100)
    assert int(WatershedSampler(strategies=("watershed",))(flow, _seeded(0)).mask.sum()) == 0
    grid = WatershedSampler(bg_ratio=1 / 400)(flow, _seeded(0))
    assert int(grid.num_points[0, 0]) == 25
    assert int(grid.sparse_flow.abs().sum()) == 0


def test_nms_kernel_changes_density():
    flow = patchwork_flow(192, 192, seed=1)
    dense = len(watershed_candidates(flow, 7))
    sparse = len(watershed_candidates(flow, 41))
    assert dense > sparse >= 1


def test_large_frames_are_analysed_with_stride():
    assert analysis_stride(384, 384) == 1 and analysis_stride(800, 600) == 2 and analysis_stride(1280, 720) == 3
    flow = torch.nn.functional.interpolate(two_rectangles_flow()[None], size=(800, 800), mode="nearest")[0]
    sampler = WatershedSampler(strategies=("watershed",))
    points = torch.nonzero(sampler(flow[None], _seeded(0)).mask[0, 0])
    assert len(points) >= 3 and bool((points % 2 == 0).all())
    candidates = {tuple(p) for p in (watershed_candidates(flow[:, ::2, ::2]) * 2).tolist()}
    assert {tuple(p) for p in points.tolist()} <= candidates


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtype_passthrough(dtype):
    flow = two_rectangles_flow()[None, None]
    reference = WatershedSampler()(flow, _seeded(0))
    result = WatershedSampler()(flow.to(dtype), _seeded(0))
    assert result.mask.dtype == dtype and result.sparse_flow.dtype == dtype
    # the rectangles' flow values are exact in every dtype, so the points agree
    assert torch.equal(result.mask.float(), reference.mask)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_input_gives_cuda_output_and_the_same_points():
    flow = moving_texture_flow(2, 192, 192)[None]
    on_cpu = WatershedSampler(mask_mode="frame")(flow, _seeded(1))
    on_gpu = WatershedSampler(mask_mode="frame")(flow.cuda(), _seeded(1))
    assert on_gpu.mask.device.type == "cuda" and on_gpu.sparse_flow.device.type == "cuda"
    assert torch.equal(on_gpu.mask.cpu(), on_cpu.mask)


@pytest.mark.parametrize(
    "flow",
    [
        torch.zeros(2, 32, 32),  # no batch dim
        torch.zeros(1, 3, 32, 32),  # 3 channels
        torch.zeros(1, 1, 1, 2, 32, 32),  # 6-D
        torch.zeros(1, 2, 32, 32, dtype=torch.int64),
        torch.zeros(1, 2, 2, 32),  # too small
        torch.full((1, 2, 32, 32), float("nan")),
        torch.full((1, 1, 2, 32, 32), float("inf")),
    ],
)
def test_bad_input_raises_input_error(flow):
    with pytest.raises(InputError):
        WatershedSampler()(flow, _seeded(0))


def test_bad_input_message_says_expected_and_found():
    with pytest.raises(InputError, match=r"\[B, T, 2, H, W\].*found \(1, 3, 32, 32\)"):
        WatershedSampler()(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"nms_ks": 14},
        {"nms_ks": 1},
        {"nms_ks": 15.0},
        {"bg_ratio": 0.0},
        {"bg_ratio": 2.0},
        {"bg_ratio": "1/6400"},
        {"strategies": ()},
        {"strategies": ("grid", "uniform")},
        {"strategies": "watershed"},
        {"max_num_guide": 0},
        {"mask_mode": "last"},
    ],
)
def test_bad_configuration_raises_config_error(kwargs):
    with pytest.raises(ConfigError):
        WatershedSampler(**kwargs)


def test_tiny_frames_smaller_than_the_nms_window():
    flow = torch.zeros(1, 2, 9, 11)
    flow[0, 0, 3:6, 4:8] = 2.0
    result = WatershedSampler(nms_ks=15, bg_ratio=1 / 16)(flow, _seeded(0))
    assert result.mask.shape == flow.shape and int(result.num_points) >= 1


def test_bad_generator_raises_input_error():
    with pytest.raises(InputError):
        WatershedSampler()(torch.zeros(1, 2, 32, 32), generator=123)
