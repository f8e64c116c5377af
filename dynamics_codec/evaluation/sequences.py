"""The evaluation's test sequences: a folder of videos or a manifest, read in the test format.

``sequences`` may be a folder (every video file or PNG folder inside, sorted by name) or a
manifest: a ``.txt`` file with one path per line (relative to the manifest's folder; ``#``
comments and blank lines ignored). Each is read like ``scripts/encode.py`` reads its input
(:func:`dynamics_codec.cli.read_input_video`) with the ``video`` section of the config
(size, num_frames, start, stride, fps, yuv_size), so the evaluation codes the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dynamics_codec.errors import ConfigError

__all__ = ["Sequence", "VIDEO_SUFFIXES", "list_sequence_paths", "load_sequence"]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".y4m", ".yuv")


@dataclass
class Sequence:
    name: str  # file stem: the results folder name
    path: Path
    frames: np.ndarray  # uint8 [T, H, W, 3]
    fps: float


def list_sequence_paths(source: str | Path) -> list[Path]:
    """Video paths of a folder or a ``.txt`` manifest, in a stable order."""
    src = Path(source).expanduser()
    if src.is_dir():
        paths = sorted(p for p in src.iterdir()
                       if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or
                       (p.is_dir() and any(p.glob("*.png"))))
    elif src.is_file() and src.suffix.lower() == ".txt":
        lines = [ln.split("#", 1)[0].strip() for ln in src.read_text().splitlines()]
        paths = [(src.parent / ln).resolve() if not Path(ln).is_absolute() else Path(ln) for ln in lines if ln]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ConfigError(f"manifest {src} lists files that do not exist: {missing}")
    else:
        raise ConfigError(f"sequences={source} is neither a folder of videos nor a .txt manifest (one path per line)")
    if not paths:
        raise ConfigError(f"no videos found in {src} (looked for {', '.join(VIDEO_SUFFIXES)} and PNG folders)")
    names = [p.stem for p in paths]
    if len(set(names)) != len(names):
        raise ConfigError(f"sequence names (file stems) must be unique, found {sorted(names)}")
    return paths


def load_sequence(path: Path, video_cfg: DictConfig) -> Sequence:
    """Read one sequence in the configured test format."""
    from dynamics_codec.cli import read_input_video

    cfg = OmegaConf.create({"input": str(path), "video": OmegaConf.to_container(video_cfg, resolve=True)})
    frames, fps = read_input_video(cfg)
    return Sequence(name=path.stem, path=path, frames=frames, fps=float(fps))
