"""Motion edges: bit-exact against scipy's true convolution (the threshold is that sensitive)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal

from dynamics_codec.errors import InputError
from dynamics_codec.sampler import motion_edge_strength, motion_edges, normalised_edges

SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)


def scipy_edge_strength(flow_2hw: np.ndarray) -> np.ndarray:
    """MOFA's get_edge on a [2, H, W] float32 field, written with scipy."""
    total = np.zeros(flow_2hw.shape[1:], dtype=flow_2hw.dtype)
    for channel in flow_2hw:
        gx = signal.convolve2d(channel, SOBEL.astype(channel.dtype), boundary="symm", mode="same")
        gy = signal.convolve2d(channel, SOBEL.T.astype(channel.dtype), boundary="symm", mode="same")
        total = total + np.sqrt(gx**2 + gy**2)
    return total


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(3, 3), (17, 40), (64, 48)])
def test_strength_is_bitwise_scipy(seed, shape):
    g = np.random.default_rng(seed)
    flow = (g.standard_normal((2, *shape)) * 10 ** g.uniform(-2, 2)).astype(np.float32)
    ours = motion_edge_strength(torch.from_numpy(flow)).numpy()
    np.testing.assert_array_equal(ours, scipy_edge_strength(flow))


def test_strength_float64_and_batched_shapes():
    g = np.random.default_rng(7)
    flow = g.standard_normal((2, 3, 2, 20, 24))
    ours = motion_edge_strength(torch.from_numpy(flow))
    assert ours.shape == (2, 3, 20, 24) and ours.dtype == torch.float64
    np.testing.assert_allclose(ours[1, 2].numpy(), scipy_edge_strength(flow[1, 2]), rtol=1e-12, atol=1e-12)
    as_half = motion_edge_strength(torch.from_numpy(flow[0, 0]).half())
    assert as_half.dtype == torch.float32  # filtered in float32, as scipy upcasts fp16


def test_threshold_is_relative_to_each_frame_with_a_floor():
    strength = torch.tensor([[[0.0, 1.0, 0.1, 0.11]], [[0.0, 0.002, 0.0009, 0.0011]]])
    edges = normalised_edges(strength)
    assert edges[0, 0].tolist() == [False, True, False, True]
    # max 0.002 < floor 0.01: 0.0011 / 0.01 = 0.11 > 0.1, 0.0009 / 0.01 < 0.1
    assert edges[1, 0].tolist() == [False, True, False, True]
    assert not bool(motion_edges(torch.zeros(2, 8, 8)).any())


def test_constant_and_linear_flows_have_no_or_uniform_edges():
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    linear = torch.stack([0.5 * xx, 0.25 * yy])
    strength = motion_edge_strength(linear)
    # interior: |d(0.5x)/dx| * 8 / ... = Sobel gain 8 * 0.5 + 8 * 0.25 = 6
    torch.testing.assert_close(strength[1:-1, 1:-1], torch.full((14, 14), 6.0))
    assert float(motion_edge_strength(torch.full((2, 9, 9), 3.0)).abs().max()) == 0.0


@pytest.mark.parametrize("bad", [torch.zeros(3, 8, 8), torch.zeros(8, 8), torch.zeros(2, 8, 8, dtype=torch.int32)])
def test_bad_flow_raises(bad):
    with pytest.raises(InputError):
        motion_edge_strength(bad)
