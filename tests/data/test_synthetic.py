import numpy as np
import pytest
import torch

from dynamics_codec.data import BUNDLED_IMAGES, make_synthetic_clip, smooth_motion_field
from dynamics_codec.errors import ConfigError


def test_clip_geometry_and_ground_truth():
    clip = make_synthetic_clip("coffee", size=96, num_frames=12, fps=25, max_displacement=3.0,
                               rng=np.random.default_rng(0))
    assert clip.frames.shape == (12, 96, 96, 3) and clip.frames.dtype == np.uint8
    assert clip.flow.shape == (12, 2, 96, 96) and clip.flow.dtype == np.float32
    assert np.all(clip.flow[0] == 0)
    assert np.abs(clip.flow).max() == pytest.approx(3.0, rel=0.03)
    assert clip.frames[1:].astype(int).std() > 10  # real content, not blank


def test_frames_follow_the_ground_truth_flow():
    """frame_t(q + F_t(q)) == key(q) up to interpolation: check by sampling the frame at q + F."""
    from dynamics_codec.warping import backward_warp

    import cv2

    from dynamics_codec.data import bundled_image

    # a smooth photo, so that two bilinear interpolations add little error of their own
    smooth = cv2.GaussianBlur(cv2.resize(bundled_image("astronaut"), (128, 128), interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    clip = make_synthetic_clip(smooth, size=128, num_frames=6, max_displacement=4.0, rng=np.random.default_rng(3))
    frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
    back = backward_warp(frames, torch.from_numpy(clip.flow))  # sample frame t at q + F_t(q)
    moving = torch.from_numpy(clip.region > 0.5)[8:-8, 8:-8]
    err = (back - frames[:1]).abs()[1:, :, 8:-8, 8:-8][..., moving]
    naive = (frames - frames[:1]).abs()[1:, :, 8:-8, 8:-8][..., moving]
    assert err.mean() < 0.25 * naive.mean()
    assert err.mean() < 0.01


def test_determinism_under_seed_and_variety_across_seeds():
    a = make_synthetic_clip("chelsea", size=64, num_frames=5, rng=np.random.default_rng(7))
    b = make_synthetic_clip("chelsea", size=64, num_frames=5, rng=np.random.default_rng(7))
    c = make_synthetic_clip("chelsea", size=64, num_frames=5, rng=np.random.default_rng(8))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.flow, b.flow)
    assert not np.array_equal(a.flow, c.flow)


def test_motion_is_confined_to_the_region_and_drift_grows():
    flow, region = smooth_motion_field(64, 64, 20, 25, np.random.default_rng(1), max_displacement=2.0, drift=5.0)
    mag = np.linalg.norm(flow, axis=1)
    assert mag[:, region < 1e-3].max() < 0.01
    assert mag[-1].max() > mag[1].max()


def test_bundled_images_load_offline_and_unknown_names_fail():
    assert len(BUNDLED_IMAGES) >= 3
    with pytest.raises(ConfigError, match="bundled image"):
        make_synthetic_clip("lena", rng=np.random.default_rng(0))


def test_frame_subset_matches_the_full_sequence():
    full, region = smooth_motion_field(48, 40, 12, 25, np.random.default_rng(5), max_displacement=3.0, drift=2.0)
    part, region2 = smooth_motion_field(48, 40, 12, 25, np.random.default_rng(5), max_displacement=3.0, drift=2.0,
                                        frame_indices=np.array([3, 11]))
    assert np.array_equal(region, region2)
    np.testing.assert_allclose(part, full[[3, 11]], rtol=1e-6, atol=1e-6)
