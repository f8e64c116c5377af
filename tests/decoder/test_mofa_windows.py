"""Window planning and blending for any sequence length."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics_codec.decoder.mofa.windows import Window, blend_weights, merge_windows, plan_windows
from dynamics_codec.errors import ConfigError


def test_fifty_frames_in_svd_xt_windows():
    # 49 target frames after the key frame, windows [key, next 24 frames]
    windows = plan_windows(49, window_size=25, overlap=0, key_slot=True)
    assert windows == [Window(0, 24), Window(24, 48), Window(25, 49)]
    assert all(w.length == 24 for w in windows)


def test_short_sequence_is_one_shorter_window():
    assert plan_windows(5, window_size=25) == [Window(0, 5)]
    assert plan_windows(24, window_size=25) == [Window(0, 24)]
    assert plan_windows(25, window_size=25, key_slot=False) == [Window(0, 25)]


@settings(max_examples=200, deadline=None)
@given(t=st.integers(1, 120), size=st.integers(2, 30), data=st.data(), key_slot=st.booleans())
def test_windows_cover_every_frame_and_weights_sum_to_one(t, size, data, key_slot):
    targets = size - (1 if key_slot else 0)
    if targets < 1:
        return
    overlap = data.draw(st.integers(0, targets - 1))
    windows = plan_windows(t, size, overlap, key_slot)
    assert windows[0].start == 0 and windows[-1].stop == t
    assert all(w.length == min(targets, t) for w in windows)
    for a, b in zip(windows, windows[1:]):
        assert b.start > a.start and a.stop - b.start >= overlap  # consecutive windows share >= overlap frames
    total = torch.zeros(t)
    for w, weight in zip(windows, blend_weights(windows)):
        assert weight.shape == (w.length,) and bool((weight > 0).all())
        total[w.start : w.stop] += weight
    torch.testing.assert_close(total, torch.ones(t))


def test_merge_blends_overlaps_linearly():
    windows = plan_windows(6, window_size=5, overlap=2, key_slot=True)  # targets 4: [0,4), [2,6)
    assert windows == [Window(0, 4), Window(2, 6)]
    a = torch.zeros(1, 4, 1)
    b = torch.ones(1, 4, 1)
    merged = merge_windows([a, b], windows)[0, :, 0]
    torch.testing.assert_close(merged, torch.tensor([0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0]))


@pytest.mark.parametrize("size,overlap,key_slot", [(1, 0, True), (25, 24, True), (4, -1, False)])
def test_bad_settings_raise(size, overlap, key_slot):
    with pytest.raises(ConfigError):
        plan_windows(10, size, overlap, key_slot)
