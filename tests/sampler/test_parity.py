"""Parity with MOFA-Video's flow_sampler ('watershed' + 'grid') on every recorded case."""

from __future__ import annotations

import pytest
import torch

from dynamics_codec.sampler import (
    WatershedSampler,
    distance_to_edges,
    grid_points,
    motion_edge_strength,
    motion_edges,
    neighbour_keep_mask,
    watershed_candidates,
)
from parity import case_params, load_case, load_schema

MODEL = "watershed_sampler"


def _flow(case) -> torch.Tensor:
    """The case's H x W x 2 numpy-layout flow as our [2, H, W]."""
    return case.inputs["flow"].permute(2, 0, 1).contiguous()


def _chebyshev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[:, None, :] - b[None, :, :]).abs().amax(-1)


@pytest.mark.parametrize("path", case_params(MODEL))
def test_edges_and_distance(path):
    case = load_case(path)
    flow = _flow(case)
    expected = case.outputs
    torch.testing.assert_close(motion_edge_strength(flow), expected["edge_raw"], **case.tolerance("out.edge_raw"))
    edges = motion_edges(flow)
    assert torch.equal(edges.to(torch.uint8), expected["edge_binary"])
    distance = distance_to_edges(edges)
    assert distance.dtype == torch.float64
    torch.testing.assert_close(distance.float(), expected["distance"], **case.tolerance("out.distance"))


@pytest.mark.parametrize("path", case_params(MODEL))
def test_candidates_and_grid_exact(path):
    case = load_case(path)
    flow = _flow(case)
    nms_ks = int(case.meta.get("nms_ks", 15))
    assert torch.equal(watershed_candidates(flow, nms_ks), case.outputs["candidates_yx"])
    height, width = flow.shape[-2:]
    assert torch.equal(grid_points(height, width), case.outputs["grid_points_yx"])


@pytest.mark.parametrize("path", case_params(MODEL))
def test_elimination_on_recorded_candidates(path):
    case = load_case(path)
    candidates = case.outputs["candidates_yx"]
    d = float(case.meta.get("neighbor_elim_d", 7.0))
    keep = neighbour_keep_mask(candidates, d, torch.Generator().manual_seed(3))
    kept, dropped = candidates[keep], candidates[~keep]
    assert len(kept) >= 1
    pairwise = _chebyshev(kept, kept) + torch.eye(len(kept), dtype=torch.int64) * 10**6
    assert int(pairwise.min()) >= d
    if len(dropped):
        assert bool((_chebyshev(dropped, kept).amin(1) < d).all())


@pytest.mark.parametrize("path", case_params(MODEL))
def test_sampler_points_are_grid_plus_thinned_candidates(path):
    case = load_case(path)
    flow = _flow(case)
    sampler = WatershedSampler(**load_schema(MODEL)["constructor_args"])  # MOFA's call: grid + watershed
    result = sampler(flow[None], torch.Generator().manual_seed(0))
    assert result.mask.shape == (1, 2, *flow.shape[-2:])
    points = torch.nonzero(result.mask[0, 0])
    grid = case.outputs["grid_points_yx"]
    candidates = case.outputs["candidates_yx"]
    as_set = lambda t: {tuple(p) for p in t.tolist()}  # noqa: E731
    assert as_set(grid) <= as_set(points)
    watershed_only = as_set(points) - as_set(grid)
    assert watershed_only <= as_set(candidates)
    if len(as_set(candidates) - as_set(grid)):
        assert watershed_only, "candidates exist, so at least one watershed point must survive"
    torch.testing.assert_close(result.sparse_flow, flow[None] * result.mask, rtol=0, atol=0)
