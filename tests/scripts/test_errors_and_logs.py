"""One logging setup for every script: user errors are one line on stderr naming the override that
fixes them (exit 1, no traceback unless debug=true / HYDRA_FULL_ERROR=1); the report goes to stdout
and to the run's log file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.io import write_video

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args, f"hydra.run.dir={cwd / 'run'}"],
                          cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def _user_error(proc: subprocess.CompletedProcess) -> str:
    """The one stderr line of a user error (asserting there is nothing else)."""
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), proc.stderr
    assert "Traceback" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr
    return lines[0]


def test_user_error_is_one_line_and_logged(tmp_path):
    proc = _run("decode.py", "input=missing.dcv", "output=x.mp4", cwd=tmp_path)
    line = _user_error(proc)
    assert line == "ERROR: InputError: input=missing.dcv: no such file; pass input=<file.dcv> (a stream written by scripts/encode.py)"
    assert "InputError: input=missing.dcv: no such file" in (tmp_path / "run" / "decode.log").read_text()
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("how", ["debug=true", "HYDRA_FULL_ERROR=1"])
def test_debug_shows_the_traceback(tmp_path, how):
    args, env = (["debug=true"], None) if how == "debug=true" else ([], {"HYDRA_FULL_ERROR": "1"})
    proc = _run("decode.py", "input=missing.dcv", "output=x.mp4", *args, cwd=tmp_path, env=env)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "InputError: input=missing.dcv: no such file" in proc.stderr


def test_missing_mandatory_value_names_the_override(tmp_path):
    line = _user_error(_run("visualize.py", "videos.anchor=a.mkv", "videos.ours=b.mkv", cwd=tmp_path))
    assert line == "ERROR: ConfigError: missing value for 'original': pass original=<value> on the command line"
    line = _user_error(_run("encode.py", "output=x.dcv", cwd=tmp_path))
    assert "missing 'input': pass input=" in line


def test_raw_yuv_input_names_the_overrides(tmp_path):
    (tmp_path / "clip.yuv").write_bytes(bytes(64 * 64 * 3 // 2 * 3))
    line = _user_error(_run("encode.py", "input=clip.yuv", "output=x.dcv", cwd=tmp_path))
    assert "video.yuv_size=[W,H]" in line and "video.fps=" in line


def test_vtm_missing_names_paths_vtm_bin_dir(tmp_path):
    if shutil.which("EncoderAppStatic"):
        pytest.skip("VTM is on $PATH here")
    _clip(tmp_path / "clip.mkv")
    line = _user_error(_run("encode.py", "input=clip.mkv", "output=x.dcv", "keyframe=vtm", "video.size=null",
                            "video.num_frames=null", f"paths.vtm_bin_dir={tmp_path / 'no_vtm'}", cwd=tmp_path,
                            env={"VTM_BIN_DIR": "", "VTM_CFG_DIR": ""}))
    assert "ExternalToolError: VTM encoder EncoderAppStatic not found" in line
    assert "paths.vtm_bin_dir=" in line and "paths.vtm_cfg_dir=" in line and str(tmp_path / "no_vtm") in line


def test_cmp_missing_suggests_flow_targets(tmp_path):
    line = _user_error(_run("train.py", "experiment=tiny_train", "train.target=cmp",
                            f"cmp.checkpoint={tmp_path / 'cmp.pth.tar'}", cwd=tmp_path))
    assert "MissingWeightsError: CMP checkpoint not found" in line
    assert "cmp.checkpoint=<file>" in line and "train.target=flow" in line


def _clip(path: Path) -> Path:
    clip = make_synthetic_clip("chelsea", size=64, num_frames=4, fps=25, rng=np.random.default_rng(0))
    write_video(clip.frames, path, clip.fps)
    return path


def test_mofa_missing_weights_name_the_repos_and_overrides(tmp_path):
    _clip(tmp_path / "clip.mkv")
    enc = _run("encode.py", "input=clip.mkv", "output=clip.dcv", "experiment=tiny", "video.size=null",
               "video.num_frames=null", "keyframe.preset=ultrafast", "report_quality=false", cwd=tmp_path)
    assert enc.returncode == 0, enc.stderr
    proc = _run("decode.py", "input=clip.dcv", "output=rec.mp4", "experiment=tiny", "decoder=mofa_svd",
                f"paths.checkpoint_dir={tmp_path / 'no_weights'}", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.startswith("ERROR: MissingWeightsError: generative decoder weights are missing")
    assert "huggingface-cli download stabilityai/stable-video-diffusion-img2vid-xt-1-1" in proc.stderr
    assert "huggingface-cli download MyNiuuu/MOFA-Video-Traj --include 'ckpts/controlnet/*'" in proc.stderr
    assert "decoder.svd_path=<folder>" in proc.stderr and "decoder.adaptor_path=<folder>/ckpts/controlnet" in proc.stderr
    assert "<repo>" not in proc.stderr
