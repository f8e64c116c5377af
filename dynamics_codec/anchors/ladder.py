"""Rate-matched QP ladders for anchors: per clip, the QPs whose rates bracket the target band.

For target rates (``rate_points.target_kbps``) each anchor is run at the QPs that
:func:`dynamics_codec.rate_control.rate_ladder` picks for the clip: per target the QP whose real
rate is closest, plus QPs past the band's ends, within the codec's QP range (VTM: 0..63, so past
52 where a clip needs it; x265: 0..51, and a clip it cannot code below the lowest target is
reported, not clipped). Every QP tried goes through the anchor cache (:func:`encode_one`), so
the chosen points are never encoded twice. The ladder itself is cached under
``<cache root>/ladders/<codec>/<key>.json``, keyed by the clip, the codec's identity, the targets
and the search settings: a rerun needs no encode at all. Ladders of several clips run in
parallel worker processes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from dynamics_codec.anchors.base import AnchorCodec, clip_hash
from dynamics_codec.anchors.cache import AnchorCache
from dynamics_codec.anchors.runner import build_anchor, encode_one
from dynamics_codec.rate_control import QpLadder, rate_ladder
from dynamics_codec.utils.files import atomic_write_text

__all__ = ["LadderJob", "ladder_key", "cached_ladder", "anchor_ladder", "anchor_ladders"]

LADDER_FORMAT = 1


@dataclass
class LadderJob:
    """One clip (uint8 RGB ``[T, H, W, 3]``) whose ladder to find."""

    clip_name: str
    frames: np.ndarray
    fps: float


def ladder_key(chash: str, anchor: AnchorCodec, targets: Sequence[float], tolerance: float, start_qp: int) -> str:
    ident = {"format": LADDER_FORMAT, "clip": chash, "codec": anchor.name, "settings": anchor.settings(),
             "version": anchor.version(), "qp_range": list(anchor.qp_range), "targets": sorted(float(t) for t in targets),
             "tolerance": float(tolerance), "start_qp": int(start_qp)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _ladder_path(cache: AnchorCache, codec: str, key: str) -> Path:
    return cache.root / "ladders" / codec / f"{key}.json"


def cached_ladder(anchor: AnchorCodec, cache: AnchorCache, frames: np.ndarray, fps: float, targets: Sequence[float],
                  tolerance: float, start_qp: int) -> QpLadder | None:
    """The clip's ladder from the ladder cache, or ``None``."""
    key = ladder_key(clip_hash(frames, fps), anchor, targets, tolerance, start_qp)
    path = _ladder_path(cache, anchor.name, key)
    if not path.is_file():
        return None
    try:
        return QpLadder.from_json(json.loads(path.read_text())["ladder"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # a damaged entry is searched again


def anchor_ladder(anchor: AnchorCodec, cache: AnchorCache, frames: np.ndarray, fps: float, targets: Sequence[float],
                  tolerance: float, start_qp: int) -> tuple[QpLadder, int]:
    """The clip's ladder (from the ladder cache, or searched with cached encodes) and the number of
    encodes this call ran."""
    cached = cached_ladder(anchor, cache, frames, fps, targets, tolerance, start_qp)
    if cached is not None:
        return cached, 0
    chash = clip_hash(frames, fps)
    key = ladder_key(chash, anchor, targets, tolerance, start_qp)
    path = _ladder_path(cache, anchor.name, key)
    encodes = 0
    seconds = frames.shape[0] / float(fps)

    def rate(qp: int) -> float:
        nonlocal encodes
        point = encode_one(anchor, cache, frames, fps, qp)
        encodes += not point.hit
        return point.bits / seconds / 1000.0

    ladder = rate_ladder(rate, targets, tuple(anchor.qp_range), start_qp, tolerance, codec=anchor.name)
    atomic_write_text(path, json.dumps({"format": LADDER_FORMAT, "key": key, "codec": anchor.name, "clip_hash": chash,
                                        "ladder": ladder.to_json()}, indent=1) + "\n")
    return ladder, encodes


def _worker(spec: dict[str, Any], cache_root: str, frames: np.ndarray, fps: float, targets: list[float],
            tolerance: float, start_qp: int) -> tuple[dict[str, Any], int]:
    spec = dict(spec)
    anchor = build_anchor(spec.pop("name"), **spec)
    ladder, encodes = anchor_ladder(anchor, AnchorCache(cache_root), frames, fps, targets, tolerance, start_qp)
    return ladder.to_json(), encodes


def anchor_ladders(anchor: AnchorCodec, jobs: Sequence[LadderJob], cache: AnchorCache, targets: Sequence[float], *,
                   tolerance: float, start_qp: int, workers: int = 1,
                   progress: bool = True) -> tuple[list[QpLadder], int]:
    """The ladder of every clip, in order, and the number of encodes run (0 when all were cached)."""
    targets = [float(t) for t in targets]
    results: list[QpLadder | None] = [cached_ladder(anchor, cache, job.frames, job.fps, targets, tolerance, start_qp)
                                      for job in jobs]
    todo = [i for i, r in enumerate(results) if r is None]
    encodes = 0
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(todo) or 1))
    bar = tqdm(total=len(todo), desc=f"ladder {anchor.name}", unit="clip", disable=not progress or not todo)
    if workers == 1:
        for i in todo:
            job = jobs[i]
            results[i], n = anchor_ladder(anchor, cache, job.frames, job.fps, targets, tolerance, start_qp)
            encodes += n
            bar.update(1)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_worker, anchor.spec(), str(cache.root), jobs[i].frames, jobs[i].fps, targets,
                                   tolerance, start_qp): i for i in todo}
            for future in as_completed(futures):
                data, n = future.result()
                results[futures[future]] = QpLadder.from_json(data)
                encodes += n
                bar.update(1)
    bar.close()
    return [r for r in results if r is not None], encodes
