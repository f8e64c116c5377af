"""Figure 5: y-t slices are the sampled columns in time order; the script writes PNG and PDF."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dynamics_codec.errors import InputError
from dynamics_codec.evaluation.figures import figure5, frame_strip, mark_column, space_time_slice
from dynamics_codec.io import write_video

ROOT = Path(__file__).resolve().parents[2]


def _video(t=12, h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_space_time_slice_layout():
    v = _video()
    s = space_time_slice(v, x=10, width=5)
    assert s.shape == (20, 5 * 12, 3)
    for t in (0, 7, 11):
        np.testing.assert_array_equal(s[:, 5 * t:5 * t + 5], v[t, :, 8:13])
    # a column at the border is shifted inside the frame
    np.testing.assert_array_equal(space_time_slice(v, x=0, width=5)[:, :5], v[0, :, 0:5])
    with pytest.raises(InputError):
        space_time_slice(v, x=30)


def test_mark_strip_and_figure():
    v = _video()
    marked = mark_column(v[0], 10, 5)
    assert (marked[:, 7] == [255, 0, 0]).all() and (marked[:, 13] == [255, 0, 0]).all()
    np.testing.assert_array_equal(marked[:, 8:13], v[0, :, 8:13])
    strip = frame_strip(v, 10, gap=2)
    assert strip.shape == (20, 10 * 30 + 9 * 2, 3)
    np.testing.assert_array_equal(strip[:, -30:], v[-1])
    image, names = figure5({"original": v, "anchor": _video(seed=1), "ours": _video(seed=2)}, x=10)
    assert names == ["original", "anchor", "ours"] and image.shape[0] == 3 * 20 + 2 * 6
    with pytest.raises(InputError, match="one shape"):
        figure5({"a": v, "b": v[:5]})


def test_visualize_script(tmp_path):
    videos = {name: _video(t=6, h=32, w=32, seed=i) for i, name in enumerate(("orig", "anchor", "ours"))}
    for name, frames in videos.items():
        write_video(frames, tmp_path / f"{name}.mkv", 25.0)
    out = tmp_path / "fig" / "figure5.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "visualize.py"), f"original={tmp_path / 'orig.mkv'}",
         f"videos.anchor={tmp_path / 'anchor.mkv'}", f"videos.ours={tmp_path / 'ours.mkv'}", "video.size=null",
         "video.num_frames=null", "x=16", "strip_frames=4", f"output={out}", f"hydra.run.dir={tmp_path / 'h'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert image.shape == (3 * 32 + 2 * 6, 32 + 6 + 5 * 6 + 6 + 4 * 32 + 3 * 2, 3)
    # the ours row's slice equals the decoded video's columns 14..18 (lossless .mkv round trip)
    row = image[2 * (32 + 6):2 * (32 + 6) + 32]
    np.testing.assert_array_equal(row[:, 38:38 + 5], videos["ours"][0, :, 14:19])
    assert out.with_suffix(".pdf").stat().st_size > 1000


def test_visualize_reads_raw_yuv_reconstructions(tmp_path):
    """The anchor cache stores raw .yuv (no header): read at the original's test-format size and rate."""
    from dynamics_codec.io import read_video

    original = _video(t=6, h=40, w=48, seed=0)
    write_video(original, tmp_path / "orig.mkv", 25.0)
    write_video(_video(t=6, h=32, w=32, seed=1), tmp_path / "anchor.yuv", 25.0)  # test format: 32x32
    write_video(_video(t=6, h=32, w=32, seed=2), tmp_path / "ours.mkv", 25.0)
    out = tmp_path / "figure5.png"
    cmd = [sys.executable, str(ROOT / "scripts" / "visualize.py"), f"original={tmp_path / 'orig.mkv'}",
           f"videos.anchor={tmp_path / 'anchor.yuv'}", f"videos.ours={tmp_path / 'ours.mkv'}", "video.size=32",
           "video.num_frames=null", "x=16", "strip_frames=4", f"output={out}", f"hydra.run.dir={tmp_path / 'h'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    anchor = read_video(tmp_path / "anchor.yuv", size=(32, 32), fps=25).frames
    np.testing.assert_array_equal(image[32 + 6:2 * 32 + 6, 38:38 + 5], anchor[0, :, 14:19])
    # a .yuv of another size needs decoded.yuv_size: the error names it
    proc = subprocess.run([*cmd[:-1], "decoded.yuv_size=[16,16]", "overwrite=true", f"hydra.run.dir={tmp_path / 'h2'}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "decoded.yuv_size=[W,H]" in proc.stderr and "Traceback" not in proc.stderr
