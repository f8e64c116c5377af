"""Checks the commands make in-process: device, silent coercions that now warn, configuration order."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from dynamics_codec.errors import ConfigError
from dynamics_codec.io import write_video
from dynamics_codec.utils.config import check_device

ROOT = Path(__file__).resolve().parents[1]


def _cfg(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_config_error_that_says_use_cpu():
    with pytest.raises(ConfigError, match="device=cuda but this machine has no usable CUDA GPU.*use device=cpu"):
        check_device("cuda")
    with pytest.raises(ConfigError, match="device=gpu is not a device name"):
        check_device("gpu")
    assert check_device("cpu") == torch.device("cpu")


def test_a_tiny_input_upscaled_to_the_test_format_is_reported(tmp_path, caplog):
    from dynamics_codec.cli import read_input_video

    src = tmp_path / "tiny.mkv"
    write_video(np.full((3, 16, 16, 3), 90, np.uint8), src, 25)
    cfg = _cfg("encode", f"input={src}", "output=x.dcv", "video.num_frames=2")
    with caplog.at_level(logging.WARNING):
        frames, _ = read_input_video(cfg)
    assert frames.shape == (2, 384, 384, 3)
    assert "upscales it 24.0x" in caplog.text and "video.size=null" in caplog.text


@pytest.mark.parametrize("key,value", [("size", 0), ("size", 383), ("stride", 0), ("num_frames", 0), ("start", -1)])
def test_video_options_are_refused_not_coerced(tmp_path, key, value):
    from dynamics_codec.cli import validate_encode_config

    src = tmp_path / "clip.mkv"
    write_video(np.zeros((2, 16, 16, 3), np.uint8), src, 25)
    with pytest.raises(ConfigError, match=f"video.{key}={value}"):
        validate_encode_config(_cfg("encode", f"input={src}", f"output={tmp_path / 'x.dcv'}", f"video.{key}={value}"))


def test_a_step_that_quantises_all_motion_away_is_reported(tmp_path, caplog):
    from dynamics_codec.cli import encode_command
    from dynamics_codec.data import make_synthetic_clip

    clip = make_synthetic_clip("coffee", size=64, num_frames=4, max_displacement=3.0, rng=np.random.default_rng(0))
    src = tmp_path / "clip.mkv"
    write_video(clip.frames, src, 25)
    cfg = _cfg("encode", f"input={src}", f"output={tmp_path / 'x.dcv'}", "experiment=tiny", "video.size=null",
               "video.num_frames=null", "entropy.step=1e30", "report_quality=false", "keyframe.preset=ultrafast")
    with caplog.at_level(logging.WARNING):
        result = encode_command(cfg)
    assert not np.any(result.indices)
    assert "entropy.step=1e+30 quantises every token to zero" in caplog.text
    assert "the stream carries no motion" in caplog.text


def test_imported_objects_are_frozen_once_per_process():
    """encode/decode move the imports' objects out of the cyclic GC once; a later command of the same
    process (a multirun's next job) leaves its predecessors' garbage collectable."""
    import gc
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import gc
        from dynamics_codec import cli
        cli.freeze_imported_objects()
        first = gc.get_freeze_count()
        garbage = [[] for _ in range(1000)]
        cli.freeze_imported_objects()
        print(first > 0, gc.get_freeze_count() == first)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]
