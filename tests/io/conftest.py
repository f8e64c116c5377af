"""Fixtures shared by the video I/O tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

CLIPS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "clips"
BEACH_CLIP = CLIPS_DIR / "vt_beach_waves.mp4"


def _natural_image(name: str, size: int = 384) -> np.ndarray:
    """A natural uint8 RGB test image from scikit-image, resized to ``size x size``."""
    img = getattr(skimage.data, name)()
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def natural_image():
    """``natural_image(name, size=384)`` -> uint8 RGB [size, size, 3] from scikit-image's samples."""
    return _natural_image


@pytest.fixture(scope="session")
def natural_video() -> np.ndarray:
    """uint8 RGB [6, 96, 128, 3]: a crop of astronaut drifting by 2 px per frame (natural content)."""
    img = _natural_image("astronaut", 384)
    return np.stack([img[100:196, 100 + 2 * t:228 + 2 * t] for t in range(6)])


@pytest.fixture()
def beach_clip_path() -> Path:
    if not BEACH_CLIP.is_file():
        pytest.skip(f"shared development clip {BEACH_CLIP} is absent")
    return BEACH_CLIP
