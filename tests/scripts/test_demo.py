"""scripts/demo.py end to end on a small synthetic clip: outputs exist and the numbers add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dynamics_codec.bitstream import parse_stream
from dynamics_codec.io import read_video

ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_stream_videos_figure_and_summary(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "experiment=tiny", "clip.size=96", "clip.num_frames=6",
         "keyframe.preset=ultrafast", f"output_dir={out}", f"hydra.run.dir={tmp_path / 'hydra'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    stream = (out / "demo.dcv").read_bytes()
    assert summary["bits"]["total"] == 8 * len(stream) == parse_stream(stream).bits["total"]
    assert summary["kbps"] == 8 * len(stream) * 25 / 6 / 1000
    assert "untrained" in summary["weights"] and "untrained motion-model weights" in proc.stdout
    rec = read_video(out / "reconstruction.mkv")
    assert rec.frames.shape == (6, 96, 96, 3)
    assert read_video(out / "side_by_side.mp4").frames.shape == (6, 96, 2 * 96 + 4, 3)
    assert (out / "motion.png").stat().st_size > 1000
    assert 5 < summary["psnr_key_frame_db"] < 60
