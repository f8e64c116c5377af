"""ColorVideoVDP: 10 JOD for identical videos, lower for stronger noise, blur and longer frozen motion;
offline (a run with the network blocked); part of the suite and its allow_missing fallback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.errors import ConfigError, InputError, MissingWeightsError
from dynamics_codec.metrics import CVVDP_MAX_JOD, CvvdpMetric, MetricSuite


@pytest.fixture(scope="module")
def metric():
    return CvvdpMetric()


@pytest.fixture(scope="module")
def clip():
    # moving content (a frozen tail is visible) at 64x64, 8 frames, 25 fps
    return make_synthetic_clip("astronaut", size=64, num_frames=8, fps=25.0, max_displacement=3.0,
                               rng=np.random.default_rng(0)).frames


def _strictly_decreasing(values):
    return all(a > b for a, b in zip(values, values[1:]))


def test_identical_videos_score_the_maximum(metric, clip):
    assert metric(clip, clip, 25.0) == pytest.approx(CVVDP_MAX_JOD, abs=1e-4)


def test_degradations_lower_it_monotonically(metric, clip):
    noise = np.random.default_rng(1).normal(0.0, 1.0, clip.shape)
    noisy = [metric(clip, np.clip(clip + s * noise, 0, 255).astype(np.uint8), 25.0) for s in (2, 6, 18)]
    blurred = [metric(clip, np.stack([cv2.GaussianBlur(f, (0, 0), s) for f in clip]), 25.0) for s in (0.7, 1.5, 3.0)]
    frozen = []
    for k in (2, 4, 7):  # the last k frames show frame T-k-1 (motion stops)
        y = clip.copy()
        y[len(clip) - k:] = clip[len(clip) - k - 1]
        frozen.append(metric(clip, y, 25.0))
    for values in (noisy, blurred, frozen):
        assert _strictly_decreasing([CVVDP_MAX_JOD, *values]), (noisy, blurred, frozen)
    assert noisy[-1] < 9.5 and blurred[-1] < 5.0 and frozen[-1] < 9.8


def test_states_its_fixed_display_model(metric):
    d = metric.describe()
    assert d["display"] == "standard_fhd" and "24-inch FullHD" in d["display_description"]
    assert d["unit"].startswith("JOD") and len(d["parameters_sha256"]) == 64 and d["pixels_per_degree"] > 30


def test_bad_input_and_display():
    with pytest.raises(ConfigError, match="standard_4k"):
        CvvdpMetric(display="no_such_display")
    m = CvvdpMetric()
    x = np.zeros((3, 32, 32, 3), np.uint8)
    with pytest.raises(InputError, match="fps"):
        m(x, x, 0)
    with pytest.raises(InputError, match="equal shape"):
        m(x, x[:2], 25.0)


def test_in_the_suite_and_the_allow_missing_fallback(clip):
    def missing():
        raise MissingWeightsError("no backbone here")

    suite = MetricSuite(["psnr", "lpips", "dists"], allow_missing=True, factories={"lpips": missing, "dists": missing},
                        progress=False)
    r = suite.evaluate(clip, clip[::-1].copy(), fps=25.0)
    assert set(r.skipped) == {"lpips", "dists"} and "cvvdp" in r.added and "lpips, dists" in r.added["cvvdp"]
    assert 0.0 < r.summary()["cvvdp"] < 9.9
    assert suite.describe()["cvvdp"]["display"] == "standard_fhd" and "cvvdp" in suite.describe()["added"]
    # asked for and computed: nothing added; a metric list without perceptual metrics is left as asked
    asked = MetricSuite(["psnr", "cvvdp"], progress=False).evaluate(clip, clip, fps=25.0)
    assert asked.summary()["cvvdp"] == pytest.approx(10.0, abs=1e-4) and not asked.added
    assert "cvvdp" not in MetricSuite(["psnr"], allow_missing=True, progress=False).evaluate(clip, clip).summary()


@pytest.mark.slow
def test_runs_with_the_network_blocked(tmp_path):
    """Import, build and score in a fresh interpreter whose sockets cannot connect anywhere."""
    script = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        import numpy as np
        from dynamics_codec.metrics import CvvdpMetric
        x = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
        y = np.clip(x.astype(int) + 10, 0, 255).astype(np.uint8)
        print("JOD", CvvdpMetric()(x, x, 25.0), CvvdpMetric()(x, y, 25.0))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": ":".join(sys.path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    same, other = (float(v) for v in proc.stdout.split("JOD", 1)[1].split())
    assert same == pytest.approx(10.0, abs=1e-4) and other < same
