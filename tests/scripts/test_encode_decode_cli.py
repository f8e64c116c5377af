"""encode.py -> decode.py through the command line, on a tiny clip."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynamics_codec.bitstream import parse_stream
from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.io import read_video, write_video

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *overrides: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *overrides, f"hydra.run.dir={cwd / 'hydra' / script}"],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_encode_then_decode_through_the_cli(tmp_path):
    clip = make_synthetic_clip("chelsea", size=80, num_frames=7, fps=24, rng=np.random.default_rng(2))
    src = tmp_path / "clip.mkv"
    write_video(clip.frames, src, clip.fps)
    stream = tmp_path / "clip.dcv"
    common = ["experiment=tiny", "keyframe.preset=ultrafast"]
    out = _run("encode.py", f"input={src}", f"output={stream}", "video.size=64", "video.num_frames=5",
               "keyframe.qp=40", "entropy.step=0.2", *common, cwd=tmp_path)
    size = stream.stat().st_size
    total = int(re.search(r"^total\s+(\d+)\s+(\d+)", out, re.M).group(2))
    parts = {m.group(1): int(m.group(3)) for m in re.finditer(r"^(header|keyframe|motion)\s+(\d+)\s+(\d+)", out, re.M)}
    assert total == 8 * size
    assert sum(parts.values()) == total
    assert "64x64, 5 frames @ 24 fps" in out
    assert "untrained" in out  # the tool says which weights it used
    assert re.search(r"PSNR \(RGB, mean of per-frame values\): all frames \d+\.\d+ dB, inter frames \d+\.\d+ dB", out)

    summary = json.loads((tmp_path / "clip.dcv.json").read_text())  # the JSON summary next to the output
    assert summary["bits"] == parse_stream(stream.read_bytes()).bits and summary["bits"]["total"] == 8 * size
    assert summary["kbps"]["total"] == pytest.approx(8 * size * 24 / 5 / 1000)
    assert summary["video"] == {"frames": 5, "height": 64, "width": 64, "fps": 24.0}
    assert {"read", "model", "encode", "write", "quality", "total"} <= set(summary["timings_s"])
    assert {"flow", "tokenizer", "entropy"} <= set(summary["timings_s"]["encode_stages"])
    psnr = summary["psnr"]
    assert "inter_frames = frames 1..T-1" in psnr["definition"] and len(psnr["per_frame_db"]) == 5
    assert psnr["all_frames_db"] == pytest.approx(np.mean(psnr["per_frame_db"]))
    assert psnr["inter_frames_db"] == pytest.approx(np.mean(psnr["per_frame_db"][1:]))
    assert f"all frames {psnr['all_frames_db']:.2f} dB, inter frames {psnr['inter_frames_db']:.2f} dB" in out

    rec = tmp_path / "rec.mkv"
    out = _run("decode.py", f"input={stream}", f"output={rec}", "experiment=tiny", cwd=tmp_path)  # as encoded
    video = read_video(rec)
    assert video.frames.shape == (5, 64, 64, 3)
    assert video.fps == 24
    assert "total" in out and str(8 * size) in out
    decoded = json.loads((tmp_path / "rec.mkv.json").read_text())
    assert decoded["bits"] == summary["bits"] and decoded["decoder"] == "warp"
    assert {"read", "model", "decode and write", "total"} <= set(decoded["timings_s"])

    # PNG-folder output, and a lossless round trip of the decoded frames through it
    png = tmp_path / "rec_png"
    _run("decode.py", f"input={stream}", f"output={png}", "model.checkpoint=null", "tokenizer=tiny", "generator=tiny",
         cwd=tmp_path)
    assert np.array_equal(read_video(png).frames, video.frames)


def test_cli_errors_are_clear(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "decode.py"), f"input={tmp_path / 'missing.dcv'}",
         f"output={tmp_path / 'x.mp4'}", f"hydra.run.dir={tmp_path / 'h'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "missing.dcv" in proc.stderr
    bad = tmp_path / "bad.dcv"
    bad.write_bytes(b"NOTADCVSTREAM")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "decode.py"), f"input={bad}", f"output={tmp_path / 'x.mp4'}",
         f"hydra.run.dir={tmp_path / 'h2'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "BitstreamError" in proc.stderr and "not a .dcv stream" in proc.stderr
    assert not (tmp_path / "x.mp4").exists()
