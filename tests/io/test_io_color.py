"""RGB <-> Y'CbCr 4:2:0 (BT.709, limited range): reference values, round-trip bounds, siting."""

from __future__ import annotations

import numpy as np
import pytest

from dynamics_codec.errors import InputError
from dynamics_codec.io.color import (
    Yuv420,
    downsample_chroma,
    rgb_to_y,
    rgb_to_yuv420,
    upsample_chroma,
    yuv420_to_rgb,
    yuv444_to_rgb,
)

# BT.709 limited-range 8-bit code values of the 100 % primaries, white and black
# (ITU-R BT.709-6 Table 4 scaling; the colour-bar values every broadcast test pattern uses).
BT709_LIMITED = {
    (255, 0, 0): (63, 102, 240),
    (0, 255, 0): (173, 42, 26),
    (0, 0, 255): (32, 240, 118),
    (255, 255, 0): (219, 16, 138),
    (0, 255, 255): (188, 154, 16),
    (255, 0, 255): (78, 214, 230),
    (255, 255, 255): (235, 128, 128),
    (0, 0, 0): (16, 128, 128),
}


@pytest.mark.parametrize("rgb,ycbcr", list(BT709_LIMITED.items()))
def test_primaries_map_to_bt709_limited_values(rgb, ycbcr):
    img = np.broadcast_to(np.array(rgb, np.uint8), (4, 6, 3)).copy()
    yuv = rgb_to_yuv420(img)
    assert (int(yuv.y[0, 0]), int(yuv.u[0, 0]), int(yuv.v[0, 0])) == ycbcr
    assert np.all(yuv.y == ycbcr[0]) and np.all(yuv.u == ycbcr[1]) and np.all(yuv.v == ycbcr[2])


def test_grey_stays_grey():
    greys = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3)
    img = np.repeat(greys, 2, axis=0)  # [2, 256, 3]
    yuv = rgb_to_yuv420(img)
    assert np.all(yuv.u == 128) and np.all(yuv.v == 128)
    assert yuv.y.min() == 16 and yuv.y.max() == 235
    back = yuv420_to_rgb(yuv)
    assert np.array_equal(back[..., 0], back[..., 1]) and np.array_equal(back[..., 1], back[..., 2])
    # 256 grey levels share 220 luma codes, so a grey can move by at most one code value.
    assert np.abs(back.astype(int) - img).max() <= 1


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_round_trip_error_on_natural_images(name, natural_image):
    """Measured on 384x384: mean |err| R 1.31/1.76, G 0.43/0.51, B 1.71/1.72; max <= 51; p99.9 <= 20."""
    img = natural_image(name)
    err = np.abs(yuv420_to_rgb(rgb_to_yuv420(img)).astype(int) - img)
    mean = err.reshape(-1, 3).mean(axis=0)
    assert mean[0] < 2.0 and mean[1] < 0.75 and mean[2] < 2.0
    assert np.percentile(err, 99.9) <= 24
    assert err.max() <= 64


def test_round_trip_of_smooth_colour_gradient_is_nearly_exact():
    h, w = 64, 96
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 255 / (h + w)], axis=-1).astype(np.uint8)
    err = np.abs(yuv420_to_rgb(rgb_to_yuv420(img)).astype(int) - img)
    assert err.max() <= 3 and err.mean() < 0.5


def test_shapes_and_batched_equals_per_frame():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (3, 10, 14, 3), dtype=np.uint8)
    yuv = rgb_to_yuv420(video)
    assert yuv.y.shape == (3, 10, 14) and yuv.u.shape == (3, 5, 7) and yuv.v.shape == (3, 5, 7)
    for t in range(3):
        single = rgb_to_yuv420(video[t])
        assert np.array_equal(single.y, yuv.y[t]) and np.array_equal(single.u, yuv.u[t])
        assert np.array_equal(yuv420_to_rgb(single), yuv420_to_rgb(yuv)[t])
    assert len(yuv.frame_bytes()) == 3 * (10 * 14 * 3 // 2)


def test_chroma_is_centre_sited_mean_and_bilinear_upsampling():
    c = np.arange(16, dtype=np.float64).reshape(4, 4)
    assert np.allclose(downsample_chroma(c), [[2.5, 4.5], [10.5, 12.5]])
    small = np.array([[0.0, 16.0], [32.0, 48.0]])
    up = upsample_chroma(small)
    assert up.shape == (4, 4)
    # Centre siting: output (1, 1) is 1/4 sample away from small[0,0] in both directions:
    # weights 9/16, 3/16, 3/16, 1/16.
    assert up[1, 1] == pytest.approx(9 / 16 * 0 + 3 / 16 * 16 + 3 / 16 * 32 + 1 / 16 * 48)
    assert up[0, 0] == pytest.approx(0.0)  # edge replication: all neighbours outside are small[0,0]
    assert up[3, 3] == pytest.approx(48.0)
    assert np.allclose(upsample_chroma(np.full((3, 5), 7.0)), 7.0)


def test_rgb_to_y_matches_yuv420_luma_and_allows_odd_sizes(natural_image):
    img = natural_image("chelsea", 64)
    assert np.array_equal(rgb_to_y(img), rgb_to_yuv420(img).y)
    y_float = rgb_to_y(img, as_float=True)
    assert y_float.dtype == np.float32 and np.abs(y_float - rgb_to_y(img)).max() <= 0.5 + 1e-4
    assert rgb_to_y(img[:63, :33]).shape == (63, 33)


def test_yuv444_to_rgb_inverts_primaries():
    for rgb, (y, u, v) in BT709_LIMITED.items():
        out = yuv444_to_rgb(np.full((2, 2), y, np.uint8), np.full((2, 2), u, np.uint8), np.full((2, 2), v, np.uint8))
        assert np.abs(out[0, 0].astype(int) - np.array(rgb)).max() <= 2


@pytest.mark.parametrize("shape", [(5, 6, 3), (6, 5, 3), (2, 3, 7, 3)])
def test_odd_sizes_are_rejected(shape):
    with pytest.raises(InputError, match="even"):
        rgb_to_yuv420(np.zeros(shape, np.uint8))


def test_bad_inputs_are_rejected():
    with pytest.raises(InputError, match="uint8"):
        rgb_to_yuv420(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError, match="shape"):
        rgb_to_yuv420(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(InputError, match="chroma planes"):
        yuv420_to_rgb(np.zeros((4, 4), np.uint8), np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(InputError):
        Yuv420(y=np.zeros((4, 4), np.uint8), u=np.zeros((2, 2), np.int16), v=np.zeros((2, 2), np.uint8))
