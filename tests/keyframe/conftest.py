"""Fixtures shared by the key-frame codec tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

CLIPS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "clips"
BEACH_CLIP = CLIPS_DIR / "vt_beach_waves.mp4"


@pytest.fixture(scope="session")
def key_image() -> np.ndarray:
    """A natural uint8 RGB [384, 384, 3] key frame: frame 0 of the beach clip, else skimage astronaut."""
    if BEACH_CLIP.is_file():
        from dynamics_codec.io import read_video

        return read_video(BEACH_CLIP, max_frames=1).frames[0]
    return cv2.resize(skimage.data.astronaut(), (384, 384), interpolation=cv2.INTER_AREA)

