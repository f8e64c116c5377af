"""The paper's Figure 5 for every evaluated sequence, from the saved reconstructions.

Per sequence, one row per codec: its rate point closest to ``kbps`` (log scale; our codec's
points of one start step, the first when there are several), read from the lossless ``.mkv``
that ``eval.save_reconstructions=true`` writes next to each result file, under the original in
the test format. Rows: original, the anchors (``static`` first), ours. Files:
``<report_dir>/figures/yt_<sequence>.png`` and ``.pdf`` (rows labelled with codec and rate).
A codec without a saved reconstruction is left out, with a log line saying so.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dynamics_codec.evaluation.figures import figure5
from dynamics_codec.evaluation.results import iter_results
from dynamics_codec.utils.files import atomic_output_path

__all__ = ["yt_figures"]

log = logging.getLogger(__name__)


def _pick(records: list[dict[str, Any]], kbps: float) -> dict[str, Any]:
    return min(records, key=lambda r: (abs(math.log(max(r["kbps"], 1e-9) / kbps)), r["rate_point"]["label"]))


def _codec_order(name: str) -> tuple[int, str]:
    return ({"static": 0, "x265": 1, "vtm_ldb": 2}.get(name, 3), name)


def yt_figures(results_dir: str | Path, report_dir: str | Path, video_cfg, *, kbps: float = 10.0, x: int | None = None,
               width: int = 5, strip_frames: int = 10, keep: Callable[[dict[str, Any]], bool] | None = None
               ) -> list[Path]:
    """Write one y-t slice figure per sequence; returns the files written."""
    import cv2
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from dynamics_codec.evaluation.sequences import load_sequence
    from dynamics_codec.io import read_video

    results_dir, out_dir = Path(results_dir), Path(report_dir) / "figures"
    by_seq: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    ours_of: dict[str, str] = {}  # "<label>@<step>" -> our codec's label (eval.label)
    for r in iter_results(results_dir):
        if keep is not None and not keep(r):
            continue
        if r["codec"]["kind"] == "ours":
            step = r["rate_point"].get("search_step", r["rate_point"].get("token_step"))
            key = f"{r['codec']['name']}@{step}"
            ours_of[key] = r["codec"]["name"]
            by_seq[r["sequence"]["name"]][key].append(r)
        else:
            by_seq[r["sequence"]["name"]][r["codec"]["name"]].append(r)
    written: list[Path] = []
    for seq, codecs in sorted(by_seq.items()):
        first_step = {}  # our codecs (one row each, at their first start step) after the anchors
        for k in sorted(k for k in codecs if k in ours_of):
            first_step.setdefault(ours_of[k], k)
        names = sorted((k for k in codecs if k not in ours_of), key=_codec_order) + list(first_step.values())
        first = next(iter(codecs.values()))[0]["sequence"]
        try:
            original = load_sequence(Path(first["path"]), video_cfg).frames
        except Exception as exc:  # noqa: BLE001 - a moved source only costs this figure
            log.warning(f"figure: {seq}: cannot read the original {first['path']} ({exc}); no figure")
            continue
        videos, labels = {"original": original}, ["original"]
        for name in names:
            record = _pick(codecs[name], kbps)
            mkv = (results_dir / record["result_file"]).with_suffix(".mkv")
            if not mkv.is_file():
                log.info(f"figure: {seq}: no saved reconstruction for {name} ({mkv}); run with "
                         "eval.save_reconstructions=true to include it")
                continue
            frames = read_video(str(mkv)).frames
            if frames.shape != original.shape:
                log.warning(f"figure: {seq}: {mkv} has shape {frames.shape}, the original {original.shape}; left out")
                continue
            label = f"{name.split('@')[0]} {record['kbps']:.1f} kbps"
            videos[label] = frames
            labels.append(label)
        if len(videos) < 2:
            continue
        image, _ = figure5(videos, x, width, strip_frames)
        stem = out_dir / f"yt_{seq}"
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output_path(stem.with_suffix(".png")) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        h = original.shape[1]
        fig, ax = plt.subplots(figsize=(image.shape[1] / 100 + 1.5, image.shape[0] / 100), dpi=100)
        ax.imshow(image)
        ax.set_yticks([(h + 6) * i + h / 2 for i in range(len(labels))], labels, fontsize=8)
        ax.set_xticks([])
        ax.set_title(f"{seq}: y-t slice at x={original.shape[2] // 2 if x is None else x} ({width} px), points "
                     f"closest to {kbps:g} kbps", fontsize=8)
        fig.tight_layout()
        with atomic_output_path(stem.with_suffix(".pdf")) as tmp:
            fig.savefig(tmp, format="pdf")
        plt.close(fig)
        written += [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    return written
