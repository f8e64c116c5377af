"""The scripts never destroy what they did not write, validate before working, and decode in bounded memory.

Every command runs as a subprocess inside pytest's tmp_path (its cwd), importing this checkout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dynamics_codec.codec import zero_motion_stream
from dynamics_codec.data import bundled_image
from dynamics_codec.entropy import TokenCodingConfig
from dynamics_codec.io import read_video, write_video
from dynamics_codec.keyframe import get_keyframe_codec
from dynamics_codec.motion_model import MotionModel

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
TINY = ["model.checkpoint=null", "tokenizer=tiny", "generator=tiny"]


def _cmd(script: str, *overrides: str, cwd: Path) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / script), *overrides, f"hydra.run.dir={cwd / '.hydra_runs' / script}"]


def _run(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(script, *overrides, cwd=cwd), cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=600)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".hydra_runs" not in p.parts}


def _error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The one line of stderr that carries the error message (it must hold every needle)."""
    lines = [line for line in proc.stderr.splitlines() if all(n in line for n in needles)]
    assert lines, proc.stderr[-3000:]
    return lines[-1]


def _still_stream(path: Path, frames: int, size: int = 64) -> Path:
    """A valid zero-motion stream for the tiny untrained model (what model.checkpoint=null builds)."""
    model = _tiny_model()
    key = cv2.resize(bundled_image("astronaut"), (size, size), interpolation=cv2.INTER_AREA)
    payload = get_keyframe_codec("x265", preset="ultrafast").encode(key, 40)
    path.write_bytes(zero_motion_stream(payload, size, size, frames, 25.0, model, TokenCodingConfig(step=0.1)))
    return path


def _tiny_model() -> MotionModel:
    """The model decode.py builds with the TINY overrides."""
    from hydra import compose, initialize_config_dir

    from dynamics_codec.codec import load_motion_model

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return load_motion_model(compose("decode", overrides=["input=x", "output=y", *TINY]))


@pytest.fixture()
def user_files(tmp_path):
    """A working directory full of things that are not ours."""
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"precious photo")
    (tmp_path / "notes.txt").write_text("do not lose me")
    _still_stream(tmp_path / "clip.dcv", frames=4)
    return tmp_path


@pytest.mark.parametrize("output", [".", "..", "photos", "./photos/"])
def test_decode_into_dot_or_an_existing_folder_keeps_every_file(user_files, output):
    before = _snapshot(user_files.parent if output == ".." else user_files)
    proc = _run("decode.py", "input=clip.dcv", f"output={output}", "overwrite=true", *TINY, cwd=user_files)
    assert proc.returncode != 0
    line = _error_line(proc, "ConfigError", f"output={output}")
    assert "pass output=" in line
    assert _snapshot(user_files.parent if output == ".." else user_files) == before


def test_encode_into_an_existing_folder_or_onto_its_input_keeps_every_file(user_files):
    clip = user_files / "clip.mkv"
    write_video(np.zeros((3, 32, 32, 3), np.uint8), clip, 25)
    (user_files / "photos.dcv").mkdir()
    (user_files / "photos.dcv" / "x.txt").write_text("mine")
    before = _snapshot(user_files)
    for output, needle in (("photos.dcv", "did not write"), ("clip.mkv", ".dcv"), (".", "")):
        proc = _run("encode.py", "input=clip.mkv", f"output={output}", "overwrite=true", "experiment=tiny", cwd=user_files)
        assert proc.returncode != 0
        _error_line(proc, "ConfigError", f"output={output}", needle)
    assert _snapshot(user_files) == before


def test_existing_outputs_are_replaced_only_with_overwrite_and_only_if_ours(user_files):
    out = user_files / "rec.y4m"
    out.write_bytes(b"an older file")
    proc = _run("decode.py", "input=clip.dcv", "output=rec.y4m", *TINY, cwd=user_files)
    assert proc.returncode != 0 and "overwrite=true" in _error_line(proc, "output=rec.y4m", "exists")
    assert out.read_bytes() == b"an older file"
    assert _run("decode.py", "input=clip.dcv", "output=rec.y4m", "overwrite=true", *TINY, cwd=user_files).returncode == 0
    assert read_video(out).frames.shape == (4, 64, 64, 3)
    # a PNG folder decode.py wrote is replaced with overwrite=true, refused without
    assert _run("decode.py", "input=clip.dcv", "output=frames", *TINY, cwd=user_files).returncode == 0
    first = _snapshot(user_files / "frames")
    assert len([n for n in first if n.endswith(".png")]) == 4
    proc = _run("decode.py", "input=clip.dcv", "output=frames", *TINY, cwd=user_files)
    assert proc.returncode != 0 and _snapshot(user_files / "frames") == first
    assert _run("decode.py", "input=clip.dcv", "output=frames", "overwrite=true", *TINY, cwd=user_files).returncode == 0
    assert _snapshot(user_files / "frames") == first  # same content, rewritten
    assert not [p for p in user_files.iterdir() if ".tmp" in p.name]


def test_sigterm_during_a_decode_write_leaves_nothing_behind(tmp_path):
    _still_stream(tmp_path / "long.dcv", frames=3000, size=64)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.Popen(_cmd("decode.py", "input=long.dcv", "output=frames", *TINY, cwd=tmp_path), cwd=tmp_path,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while True:  # until PNG frames are being written into the temporary folder
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".frames.")]
        if temps and any(temps[0].rglob("*.png")):
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".hydra_runs") == before


def test_configuration_is_validated_before_any_work(user_files):
    """Bad values fail at once with one line naming the override, before the video is read or decoded."""
    src = user_files / "clip.mkv"
    write_video(np.zeros((3, 32, 32, 3), np.uint8), src, 25)
    cases = [
        ("encode.py", ["output=x.dcv", "keyframe.qp=99"], "keyframe.qp=99"),
        ("encode.py", ["output=x.dcv", "entropy.step=0"], "entropy"),
        ("encode.py", ["output=x.dcv", "video.size=0"], "video.size=0"),
        ("encode.py", ["output=x.dcv", "video.stride=0"], "video.stride=0"),
        ("encode.py", ["output=x.dcv", "device=cuda:7"], "device=cuda:7"),
        ("decode.py", ["output=x.avi"], ".avi"),
        ("decode.py", ["output=x.mkv", "device=gpu"], "device=gpu"),
    ]
    for script, overrides, needle in cases:
        inputs = ["input=clip.mkv", "experiment=tiny"] if script == "encode.py" else ["input=clip.dcv", *TINY]
        proc = _run(script, *inputs, *overrides, cwd=user_files)
        assert proc.returncode != 0, (script, overrides)
        line = _error_line(proc, needle)
        assert "Error" in line, line
    proc = _run("decode.py", "input=missing.dcv", "output=x.mkv", *TINY, cwd=user_files)
    assert proc.returncode != 0 and "InputError" in _error_line(proc, "missing.dcv", "no such file")
    assert not any((user_files / name).exists() for name in ("x.dcv", "x.avi", "x.mkv"))


_PEAKS = """
import resource, sys
from hydra import compose, initialize_config_dir
from dynamics_codec.cli import decode_command
peaks = []
with initialize_config_dir(config_dir=sys.argv[1], version_base="1.3"):
    for stream in sys.argv[2:]:
        decode_command(compose("decode", overrides=[f"input={stream}", f"output={stream}.y4m", *TINY]))
        peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print("PEAKS", *peaks)
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_decode_memory_does_not_grow_with_the_number_of_frames(tmp_path):
    """decode.py's command writes frames as they render: after a 50-frame decode (full chunks, warm
    caches) a 600-frame one in the same process does not raise the peak RSS. Holding the 600 frames
    would add 16 MiB; rendering them at once, as decode.py did before, about 900 MiB."""
    short, long = _still_stream(tmp_path / "short.dcv", frames=50, size=96), _still_stream(tmp_path / "long.dcv", 600, 96)
    code = f"TINY = {TINY!r}" + _PEAKS
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "configs"), str(short), str(long)], cwd=tmp_path,
                          env=ENV, capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = (float(x) for x in proc.stdout.split("PEAKS")[-1].split())
    assert read_video(tmp_path / "long.dcv.y4m").frames.shape == (600, 96, 96, 3)
    assert second - first < 5, (first, second)
