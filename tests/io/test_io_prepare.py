"""The paper's test format: short side -> size, centre crop, frame selection."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dynamics_codec.errors import InputError
from dynamics_codec.io import TEST_NUM_FRAMES, TEST_SIZE, resize_short_side_center_crop, to_test_format


def indexed_video(t: int, h: int, w: int) -> np.ndarray:
    """uint8 [t, h, w, 3]: R encodes the frame index, G the column, B the row (scaled to 0..255)."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[..., 0] = (np.arange(t) * 10)[:, None, None]
    frames[..., 1] = np.round(np.linspace(0, 255, w))[None, None, :]
    frames[..., 2] = np.round(np.linspace(0, 255, h))[None, :, None]
    return frames


def test_defaults_are_the_paper_format():
    assert (TEST_SIZE, TEST_NUM_FRAMES) == (384, 50)


def test_landscape_video_geometry_and_frame_selection():
    video = indexed_video(7, 120, 200)  # H x W = 120 x 200, landscape
    out = to_test_format(video, size=60, num_frames=3, start=1, stride=2)
    assert out.shape == (3, 60, 60, 3) and out.dtype == np.uint8
    # frames 1, 3, 5 were picked (R channel carries the index, constant per frame)
    assert [int(np.median(f[..., 0])) for f in out] == [10, 30, 50]
    # shrinking 120 -> 60 halves everything: the full height survives (B spans 0..255) ...
    assert out[0, 0, :, 2].max() < 10 and out[0, -1, :, 2].min() > 245
    # ... and the width 200 -> 100 is centre-cropped to 60: columns 20..79 of 100, i.e. 40..159 of 200
    g = out[0, 30, :, 1].astype(float)
    col = np.linspace(0, 255, 200)
    assert g[0] == pytest.approx(col[40:42].mean(), abs=2) and g[-1] == pytest.approx(col[158:160].mean(), abs=2)
    # symmetric crop: the middle of the output is the middle of the input
    assert (g[29] + g[30]) / 2 == pytest.approx(127.5, abs=2)


def test_portrait_video_crops_vertically():
    video = indexed_video(2, 90, 45)  # portrait: W is the short side
    out = resize_short_side_center_crop(video, 30)
    assert out.shape == (2, 30, 30, 3)
    assert out[0, 15, 0, 1] < 10 and out[0, 15, -1, 1] > 245  # whole width kept
    b = out[0, :, 15, 2].astype(float)
    assert (b[14] + b[15]) / 2 == pytest.approx(127.5, abs=3)  # vertical centre kept
    assert b[0] > 60 and b[-1] < 195  # top and bottom thirds cut


def test_interpolation_area_when_shrinking_cubic_when_enlarging():
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (1, 80, 80, 3), dtype=np.uint8)
    assert np.array_equal(resize_short_side_center_crop(big, 40)[0],
                          cv2.resize(big[0], (40, 40), interpolation=cv2.INTER_AREA))
    small = rng.integers(0, 256, (1, 20, 20, 3), dtype=np.uint8)
    assert np.array_equal(resize_short_side_center_crop(small, 50)[0],
                          cv2.resize(small[0], (50, 50), interpolation=cv2.INTER_CUBIC))


def test_matching_size_is_untouched_and_single_frames_work():
    video = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert np.array_equal(to_test_format(video, size=32, num_frames=3), video)
    single = resize_short_side_center_crop(indexed_video(1, 40, 64)[0], 20)
    assert single.shape == (20, 20, 3)


def test_too_short_video_says_what_it_has_and_needs():
    video = indexed_video(7, 16, 16)
    with pytest.raises(InputError, match="has 7 frames but 9 are needed"):
        to_test_format(video, size=16, num_frames=5, stride=2)
    with pytest.raises(InputError, match="has 7 frames but 51 are needed"):
        to_test_format(video, size=16, start=1)


@pytest.mark.parametrize("kwargs", [dict(num_frames=0), dict(stride=0), dict(start=-1)])
def test_bad_selection_arguments(kwargs):
    with pytest.raises(InputError):
        to_test_format(indexed_video(3, 8, 8), size=8, **{"num_frames": 1, **kwargs})


def test_bad_frames_are_rejected():
    with pytest.raises(InputError, match="uint8"):
        to_test_format(np.zeros((2, 8, 8, 3), np.float32), size=8, num_frames=1)
    with pytest.raises(InputError, match="shape"):
        resize_short_side_center_crop(np.zeros((2, 8, 8), np.uint8), 4)
