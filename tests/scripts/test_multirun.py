"""Hydra multirun through the real scripts: the README's QP sweep (basic launcher), a training sweep,
and the sharded evaluation through the submitit launcher (its local executor: 2 processes), whose
report equals a single job's."""

from __future__ import annotations

import json
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


def _run(script: str, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"{script} {args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _clip(path: Path, image: str = "astronaut", seed: int = 0, size: int = 64, frames: int = 6) -> Path:
    clip = make_synthetic_clip(image, size=size, num_frames=frames, fps=25.0, max_displacement=2.0,
                               rng=np.random.default_rng(seed))
    write_video(clip.frames, path, 25.0)
    return path


def _job_dirs(cwd: Path, script: str) -> list[Path]:
    sweeps = sorted((cwd / "multirun" / script).iterdir())
    assert len(sweeps) == 1
    return sorted(p for p in sweeps[0].iterdir() if p.is_dir() and p.name.isdigit())


def test_readme_qp_sweep_with_the_default_sweep_dir(tmp_path):
    _clip(tmp_path / "clip.mkv")
    _run("encode.py", "-m", "input=clip.mkv", "output=q${keyframe.qp}.dcv", "keyframe.qp=32,42", "video.size=null",
         "video.num_frames=null", "keyframe.preset=ultrafast", "experiment=tiny", cwd=tmp_path)
    sizes = {}
    for qp in (32, 42):
        stream = (tmp_path / f"q{qp}.dcv").read_bytes()
        summary = json.loads((tmp_path / f"q{qp}.dcv.json").read_text())
        assert summary["keyframe"]["qp"] == qp and summary["bits"] == parse_stream(stream).bits
        sizes[qp] = len(stream)
    assert sizes[32] > sizes[42]
    jobs = _job_dirs(tmp_path, "encode")
    assert [p.name for p in jobs] == ["0", "1"]
    for job in jobs:  # every job logs its report into its own folder
        assert "total" in (job / "encode.log").read_text()


def test_training_sweep(tmp_path):
    _run("train.py", "-m", "experiment=tiny_train", "train.epochs=1", "data.num_clips=4", "train.lr=0.001,0.002",
         "train.image_every=100", cwd=tmp_path)
    jobs = _job_dirs(tmp_path, "train")
    assert len(jobs) == 2
    for job, lr in zip(jobs, ("0.001", "0.002")):  # out_dir follows the job's own folder
        assert f"train.lr={lr}" in (job / ".hydra" / "overrides.yaml").read_text()
        assert (job / "checkpoints" / "last").is_dir() and (job / "metrics.jsonl").is_file()
        assert "done: step" in (job / "train.log").read_text()


EVAL = ["experiment=tiny", "keyframe=x265", "keyframe.preset=ultrafast", "video.size=null", "video.num_frames=null",
        "rate_points.keyframe_qps=[27,42]", "eval.anchors=[x265]", "anchors.x265.qps=[32,47]",
        "anchors.x265.preset=ultrafast", "eval.workers=1", "eval.metrics.names=[psnr,ms_ssim]",
        "eval.report.plot_formats=[png]"]


@pytest.mark.slow
def test_sharded_evaluation_through_submitit_equals_one_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    for i, image in enumerate(("astronaut", "coffee")):
        _clip(tmp_path / "seqs" / f"clip{i}.mkv", image, seed=i)
    one = _run("eval_bdrate.py", *EVAL, "sequences=seqs", "eval.output_root=one", "eval.anchor_cache_dir=cache_one",
               cwd=tmp_path)
    assert "8 to do" in one.stdout
    _run("eval_bdrate.py", "-m", *EVAL, "sequences=seqs", "eval.output_root=sharded",
         "eval.anchor_cache_dir=cache_sharded", "eval.stage=encode", "eval.shard.count=2", "eval.shard.index=0,1",
         "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", cwd=tmp_path)
    jobs = _job_dirs(tmp_path, "eval_bdrate")
    assert len(jobs) == 2
    for job in jobs:  # each process did its half of the points
        assert "4 to do" in (job / "eval_bdrate.log").read_text()
    assert not (tmp_path / "sharded" / "report").exists()  # shards leave the report to stage=report
    _run("eval_bdrate.py", *EVAL, "sequences=seqs", "eval.output_root=sharded", "eval.stage=report", cwd=tmp_path)
    for name in ("bdrate.csv", "bdrate.md", "rd_points.csv", "bdrate_per_sequence.csv"):
        assert (tmp_path / "sharded" / "report" / name).read_text() == (tmp_path / "one" / "report" / name).read_text()
    assert len((tmp_path / "one" / "report" / "rd_points.csv").read_text().splitlines()) == 1 + 8
