"""encode.py rate.target_kbps=...: the stream lands within +-10 % of the target; an unreachable target is said."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynamics_codec.bitstream import parse_stream
from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.io import write_video

ROOT = Path(__file__).resolve().parents[2]


def _encode(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "encode.py"), f"input={tmp_path / 'clip.mkv'}",
         f"output={tmp_path / 'clip.dcv'}", "video.size=null", "video.num_frames=null", "keyframe.preset=ultrafast",
         "report_quality=false", "overwrite=true", f"hydra.run.dir={tmp_path / 'hydra'}", *overrides],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})  # this checkout's package, not another installed one


@pytest.mark.slow
def test_encode_at_a_target_rate(tmp_path):
    clip = make_synthetic_clip("astronaut", size=96, num_frames=8, fps=25.0, max_displacement=2.0,
                               rng=np.random.default_rng(0))
    write_video(clip.frames, tmp_path / "clip.mkv", clip.fps)
    proc = _encode(tmp_path, "rate.target_kbps=30")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    stream = (tmp_path / "clip.dcv").read_bytes()
    kbps = 8 * len(stream) * 25.0 / 8 / 1000
    assert abs(kbps / 30 - 1) <= 0.10
    header = parse_stream(stream).header
    log = proc.stdout + proc.stderr
    assert f"at qp {header.keyframe_params[0]}, step {float(np.float32(header.step)):.4g}" in log
    assert "within +-10 %" in log

    # far below what the key frame alone costs: written at the closest setting, and said so
    proc = _encode(tmp_path, "rate.target_kbps=0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    assert "UNREACHABLE" in log and "below the lowest rate" in log
    assert 8 * len((tmp_path / "clip.dcv").read_bytes()) * 25.0 / 8 / 1000 > 0.55

    proc = _encode(tmp_path, "rate.target_kbps=fast")
    assert proc.returncode != 0 and "rate.target_kbps" in proc.stdout + proc.stderr
