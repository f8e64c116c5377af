import numpy as np
import pytest

from dynamics_codec.flow.visualize import flow_to_rgb


def test_colours_follow_direction_and_magnitude():
    flow = np.zeros((2, 1, 5), np.float32)
    flow[:, 0, 1] = (4, 0)  # right
    flow[:, 0, 2] = (-4, 0)  # left
    flow[:, 0, 3] = (2, 0)  # right, half magnitude
    flow[:, 0, 4] = (0, 4)  # down
    rgb = flow_to_rgb(flow).astype(int)
    assert rgb.shape == (1, 5, 3)
    assert tuple(rgb[0, 0]) == (255, 255, 255)  # no motion is white
    assert rgb[0, 1, 0] == 255 and rgb[0, 1, 1] < 10 and rgb[0, 1, 2] < 10  # +x is red
    assert rgb[0, 2, 0] < 10 and rgb[0, 2, 1] > 245 and rgb[0, 2, 2] > 245  # -x is cyan
    assert 100 < rgb[0, 3, 1] < 160  # half the magnitude, half the saturation
    assert not np.array_equal(rgb[0, 4], rgb[0, 1])


def test_batch_shape_and_shared_scale():
    flow = np.random.default_rng(0).normal(size=(3, 4, 2, 6, 7))
    assert flow_to_rgb(flow).shape == (3, 4, 6, 7, 3)
    small = flow_to_rgb(flow * 0.1, max_magnitude=float(np.abs(flow).max() * 10))
    assert small[..., 1].min() > 200  # tiny motion on a big scale stays nearly white
    with pytest.raises(ValueError):
        flow_to_rgb(np.zeros((3, 4, 4)))
