"""Grid points, neighbour elimination (rule + invariants), the cap, and the NMS window."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.sampler import cap_points, eliminate_neighbours, grid_points, neighbour_keep_mask, watershed_peaks
from dynamics_codec.sampler.watershed import _window_max


def _chebyshev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[:, None, :] - b[None, :, :]).abs().amax(-1)


def test_grid_points_follow_mofa_rule():
    pts = grid_points(384, 384, 1 / 6400)
    assert pts.dtype == torch.int64 and pts.shape == (25, 2)
    assert sorted(set(pts[:, 0].tolist())) == [32, 112, 192, 272, 352]
    pts = grid_points(100, 250, 1 / 400)  # stride 20 -> start 0 (rows) and 5 (cols)
    assert set(pts[:, 0].tolist()) == set(range(0, 100, 20))
    assert set(pts[:, 1].tolist()) == set(range(5, 250, 20))
    assert len(pts) == 5 * 13


@settings(max_examples=60, deadline=None)
@given(
    coords=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=120),
    d=st.sampled_from([1.0, 2.0, 3.5, 7.0, 20.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_elimination_invariants(coords, d, seed):
    points = torch.tensor(coords, dtype=torch.int64)
    keep = neighbour_keep_mask(points, d, torch.Generator().manual_seed(seed))
    kept, dropped = points[keep], points[~keep]
    off_diagonal = _chebyshev(kept, kept) + torch.eye(len(kept), dtype=torch.int64) * 10**6
    assert len(kept) >= 1
    assert int(off_diagonal.min()) >= d if len(kept) > 1 else True
    if len(dropped):
        assert bool((_chebyshev(dropped, kept).amin(1) < d).all())


def test_elimination_same_seed_same_points_and_seed_matters():
    g = torch.Generator().manual_seed(0)
    points = torch.randint(0, 200, (400, 2), generator=g)
    run = lambda s: eliminate_neighbours(points, 7.0, torch.Generator().manual_seed(s))  # noqa: E731
    assert torch.equal(run(5), run(5))
    assert any(not torch.equal(run(5), run(s)) for s in range(6, 10))


def test_elimination_keeps_input_order_and_dtype():
    points = torch.tensor([[50, 50], [0, 0], [50, 52], [100, 3]], dtype=torch.int32)
    kept = eliminate_neighbours(points, 7.0, torch.Generator().manual_seed(1))
    assert kept.dtype == torch.int32
    assert len(kept) == 3  # one of the two close points goes
    rows = [points.tolist().index(p) for p in kept.tolist()]
    assert rows == sorted(rows)


def test_elimination_scales_to_a_large_plateau():
    ys, xs = torch.meshgrid(torch.arange(1, 200), torch.arange(1, 200), indexing="ij")
    plateau = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1)  # ~40k tied candidates
    start = time.perf_counter()
    kept = eliminate_neighbours(plateau, 7.0, torch.Generator().manual_seed(0))
    assert time.perf_counter() - start < 5.0
    # a maximal set of 13x13 boxes on a 199x199 square: between (199/13)^2 and (199/7)^2 points
    assert (199 // 13) ** 2 <= len(kept) <= (199 // 7 + 1) ** 2


def test_elimination_collapses_duplicates_and_handles_empty():
    points = torch.tensor([[10, 10]] * 4)
    assert eliminate_neighbours(points, 1.0).tolist() == [[10, 10]]
    assert eliminate_neighbours(torch.empty(0, 2, dtype=torch.int64), 7.0).shape == (0, 2)


@pytest.mark.parametrize(
    "points, d, error",
    [
        (torch.zeros(3, 3, dtype=torch.int64), 7.0, InputError),
        (torch.zeros(3, 2), 7.0, InputError),
        (torch.tensor([[-1, 4]]), 7.0, InputError),
        (torch.zeros(3, 2, dtype=torch.int64), 0.0, ConfigError),
    ],
)
def test_elimination_rejects_bad_input(points, d, error):
    with pytest.raises(error):
        eliminate_neighbours(points, d)


def test_elimination_rejects_non_cpu_or_foreign_generator():
    with pytest.raises(InputError):
        eliminate_neighbours(torch.zeros(2, 2, dtype=torch.int64), 7.0, np.random.default_rng(0))


def test_cap_points():
    points = torch.tensor([[i, 2 * i] for i in range(30)] + [[0, 0]])
    capped = cap_points(points, 7, torch.Generator().manual_seed(0))
    assert capped.shape == (7, 2)
    assert len({tuple(p) for p in capped.tolist()}) == 7
    assert {tuple(p) for p in capped.tolist()} <= {tuple(p) for p in points.tolist()}
    assert torch.equal(capped, cap_points(points, 7, torch.Generator().manual_seed(0)))
    assert cap_points(points, None).shape == (30, 2)  # duplicate removed, no cap
    assert cap_points(points, -1).shape == (30, 2)
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ConfigError):
            cap_points(points, bad)


@pytest.mark.parametrize("size", [3, 5, 15, 41])
def test_window_max_matches_scipy_reflect(size):
    g = np.random.default_rng(size)
    values = g.integers(0, 6, size=(2, 37, 53)).astype(np.float32)  # many ties
    ours = _window_max(_window_max(torch.from_numpy(values), size, -1), size, -2).numpy()
    theirs = np.stack([ndimage.maximum_filter(v, footprint=np.ones((size, size)), mode="reflect") for v in values])
    np.testing.assert_array_equal(ours, theirs)


def test_peaks_keep_plateaus_and_clear_border():
    distance = torch.zeros(1, 20, 20)
    distance[0, 5:8, 5:8] = 3.0  # a plateau: all 9 tie
    distance[0, 0, 19] = 9.0  # border maximum
    peaks = watershed_peaks(distance, 5)
    assert int(peaks.sum()) == 9 and bool(peaks[0, 5:8, 5:8].all())
    for ks in (4, 1, 2.0):
        with pytest.raises(ConfigError):
            watershed_peaks(distance, ks)
