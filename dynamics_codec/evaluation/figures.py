"""The paper's Figure 5: y-t space-time slices and frame strips of original / anchor / ours.

A space-time slice takes a ``width``-pixel-wide column (default 5) centred at ``x`` from every
frame and places them side by side in time order: an ``[H, width * T, 3]`` image where
motion across the column shows as slanted structures and flicker as vertical stripes. The
first frame is shown with the column's position marked; a strip of ``strip_frames`` evenly
spaced frames follows. All videos are uint8 RGB ``[T, H, W, 3]`` of one shape.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np

from dynamics_codec.errors import InputError

__all__ = ["space_time_slice", "mark_column", "frame_strip", "figure5", "visualize_command"]

_MARK = np.array([255, 0, 0], np.uint8)
log = logging.getLogger(__name__)


def _column_range(x: int, width: int, frame_width: int) -> tuple[int, int]:
    if width < 1 or width > frame_width:
        raise InputError(f"slice width must be 1..{frame_width}, found {width}")
    if not 0 <= x < frame_width:
        raise InputError(f"slice column x={x} is outside the frame (width {frame_width})")
    start = min(max(0, x - width // 2), frame_width - width)
    return start, start + width


def space_time_slice(frames: np.ndarray, x: int, width: int = 5) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` -> ``[H, width * T, 3]``: columns ``x - width//2 ..`` of each frame in time order."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"expected a video [T,H,W,3], found {frames.shape}")
    a, b = _column_range(int(x), int(width), frames.shape[2])
    cols = frames[:, :, a:b]  # [T, H, w, 3]
    return np.ascontiguousarray(cols.transpose(1, 0, 2, 3).reshape(frames.shape[1], -1, 3))


def mark_column(frame: np.ndarray, x: int, width: int = 5, thickness: int = 1) -> np.ndarray:
    """A copy of ``[H, W, 3]`` with red lines on both edges of the sampled column."""
    out = frame.copy()
    a, b = _column_range(int(x), int(width), frame.shape[1])
    out[:, max(0, a - thickness):a] = _MARK
    out[:, b:b + thickness] = _MARK
    return out


def frame_strip(frames: np.ndarray, count: int = 10, gap: int = 2) -> np.ndarray:
    """``count`` evenly spaced frames (first and last included) side by side with white gaps."""
    idx = np.unique(np.linspace(0, frames.shape[0] - 1, num=min(count, frames.shape[0])).round().astype(int))
    h = frames.shape[1]
    parts = []
    for i, t in enumerate(idx):
        if i:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
        parts.append(frames[t])
    return np.concatenate(parts, axis=1)


def figure5(videos: Mapping[str, np.ndarray], x: int | None = None, width: int = 5, strip_frames: int = 10,
            gap: int = 6) -> tuple[np.ndarray, list[str]]:
    """One row per video: marked first frame | y-t slice | frame strip -> (uint8 image, row names)."""
    shapes = {k: v.shape for k, v in videos.items()}
    if len(set(shapes.values())) != 1:
        raise InputError(f"all videos must have one shape [T,H,W,3], found {shapes}")
    first = next(iter(videos.values()))
    x = first.shape[2] // 2 if x is None else int(x)
    rows = []
    for frames in videos.values():
        h = frames.shape[1]
        sep = np.full((h, gap, 3), 255, np.uint8)
        rows.append(np.concatenate([mark_column(frames[0], x, width), sep, space_time_slice(frames, x, width), sep,
                                    frame_strip(frames, strip_frames)], axis=1))
    hsep = np.full((gap, rows[0].shape[1], 3), 255, np.uint8)
    out = [rows[0]]
    for r in rows[1:]:
        out += [hsep, r]
    return np.concatenate(out, axis=0), list(videos)


def visualize_command(cfg) -> Path:
    """``scripts/visualize.py``: read the videos, write ``output`` (.png) and a labelled .pdf beside it."""
    import cv2
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from omegaconf import OmegaConf

    from dynamics_codec.cli import read_input_video
    from dynamics_codec.io import read_video
    from dynamics_codec.utils.files import atomic_output_path, check_output_path

    output = Path(cfg.output)
    overwrite = bool(cfg.get("overwrite", False))
    sources = [str(cfg.original), *(str(v) for v in cfg.videos.values())]
    for target in (output, output.with_suffix(".pdf")):  # refused before any video is read
        check_output_path(target, overwrite=overwrite, inputs=sources)
    original, fps = read_input_video(OmegaConf.create({"input": str(cfg.original),
                                                       "video": OmegaConf.to_container(cfg.video, resolve=True)}))
    videos = {"original": original}
    decoded = cfg.get("decoded") or {}
    for name, path in cfg.videos.items():
        raw = Path(str(path)).suffix.lower() == ".yuv"  # e.g. the anchor cache's reconstructions: no header
        size = tuple(decoded.get("yuv_size") or original.shape[2:0:-1]) if raw else None
        frames = read_video(str(path), size=size, fps=(decoded.get("fps") or fps) if raw else None).frames
        if frames.shape != original.shape:
            raise InputError(f"{name} ({path}) has shape {frames.shape}, the original in the test format "
                             f"{original.shape}; pass the decoded video of this sequence (eval.save_reconstructions=true "
                             "writes them next to the result files; a raw .yuv of another size: "
                             "decoded.yuv_size=[W,H] decoded.fps=<fps>)")
        videos[str(name)] = frames
    image, names = figure5(videos, cfg.get("x"), int(cfg.width), int(cfg.strip_frames))
    with atomic_output_path(output, overwrite=overwrite) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    h = original.shape[1]
    fig, ax = plt.subplots(figsize=(image.shape[1] / 100, image.shape[0] / 100), dpi=100)
    ax.imshow(image)
    ax.set_yticks([(h + 6) * i + h / 2 for i in range(len(names))], names)
    ax.set_xticks([])
    fig.tight_layout()
    with atomic_output_path(output.with_suffix(".pdf"), overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="pdf")
    plt.close(fig)
    log.info(f"wrote {output} and {output.with_suffix('.pdf')}: rows {', '.join(names)}; slice at x="
             f"{cfg.get('x') if cfg.get('x') is not None else original.shape[2] // 2}, {cfg.width} px wide")
    return output
