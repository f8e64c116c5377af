"""Shared fixtures of the script tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.io import write_video


@pytest.fixture
def write_sequences():
    """``write(folder, images, size=64, num_frames=6, max_displacement=2.0)``: one synthetic
    scene-dynamics clip per image, ``clip<i>.mkv`` at 25 fps (motion seed ``i``), a folder of
    sequences for ``eval_bdrate.py``."""

    def write(folder: Path, images, size: int = 64, num_frames: int = 6, max_displacement: float = 2.0) -> Path:
        for i, image in enumerate(images):
            clip = make_synthetic_clip(image, size=size, num_frames=num_frames, fps=25.0,
                                       max_displacement=max_displacement, rng=np.random.default_rng(i))
            write_video(clip.frames, Path(folder) / f"clip{i}.mkv", 25.0)
        return Path(folder)

    return write
