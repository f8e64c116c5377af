"""Anchor encodes of many (clip, QP) points, cached and run in parallel worker processes.

:func:`encode_anchor_points` first answers every point it can from the cache, then encodes
the rest in a ``concurrent.futures.ProcessPoolExecutor`` (``spawn`` start method: safe after
torch has started threads in the parent) with ``workers`` processes; each worker rebuilds the
anchor from its :meth:`~dynamics_codec.anchors.base.AnchorCodec.spec` and writes its result
into the cache itself, returning only metadata. ``workers=1`` runs in this process. Scripts calling it with ``workers > 1`` need the usual
``if __name__ == "__main__":`` guard (spawned workers re-import the main module).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from dynamics_codec.anchors.base import AnchorCodec, clip_hash
from dynamics_codec.anchors.cache import AnchorCache, CachedAnchorPoint
from dynamics_codec.errors import ConfigError

__all__ = ["AnchorJob", "build_anchor", "encode_anchor_points", "encode_one"]


@dataclass
class AnchorJob:
    """One anchor point to produce: a clip (uint8 RGB ``[T, H, W, 3]``) at a QP."""

    clip_name: str
    frames: np.ndarray
    fps: float
    qp: int


def build_anchor(name: str, **options: Any) -> AnchorCodec:
    """An anchor by name: ``x265``, ``vtm_ldb``, ``vtm_intra`` or ``static``; ``options`` go to its constructor."""
    from dynamics_codec.anchors.static import StaticAnchor
    from dynamics_codec.anchors.vtm import VTM_ANCHOR_CFGS, VtmAnchor
    from dynamics_codec.anchors.x265 import X265Anchor

    if name == "x265":
        return X265Anchor(**options)
    if name == "static":
        return StaticAnchor(**options)
    if name in VTM_ANCHOR_CFGS:
        return VtmAnchor(name=name, **options)
    raise ConfigError(f"unknown anchor {name!r}; choose x265, static, {', '.join(sorted(VTM_ANCHOR_CFGS))}")


def encode_one(anchor: AnchorCodec, cache: AnchorCache, frames: np.ndarray, fps: float, qp: int) -> CachedAnchorPoint:
    """Cached result of ``anchor`` on ``frames`` at ``qp``; encodes (and stores) on a miss."""
    chash = clip_hash(frames, fps)
    key = cache.key(chash, anchor, qp)
    hit = cache.load(anchor.name, key)
    if hit is not None:
        return hit
    output = anchor.encode_video(frames, fps, qp)
    return cache.store(key, anchor, output, clip_hash=chash, qp=qp, fps=fps, height=frames.shape[1],
                       width=frames.shape[2])


def _worker(spec: dict[str, Any], cache_root: str, frames: np.ndarray, fps: float, qp: int) -> tuple[str, str]:
    spec = dict(spec)
    anchor = build_anchor(spec.pop("name"), **spec)
    point = encode_one(anchor, AnchorCache(cache_root), frames, fps, qp)
    return point.meta["codec"], point.meta["key"]


def encode_anchor_points(anchor: AnchorCodec, jobs: Sequence[AnchorJob], cache: AnchorCache, *, workers: int = 1,
                         progress: bool = True) -> list[CachedAnchorPoint]:
    """Results of every job, in order (cache hits have ``hit=True``)."""
    results: list[CachedAnchorPoint | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        key = cache.key(clip_hash(job.frames, job.fps), anchor, job.qp)
        cached = cache.load(anchor.name, key)
        if cached is not None:
            results[i] = cached
        else:
            todo.append(i)
    bar = tqdm(total=len(todo), desc=f"anchor {anchor.name}", unit="point", disable=not progress or not todo)
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(todo) or 1))
    if workers == 1:
        for i in todo:
            job = jobs[i]
            results[i] = encode_one(anchor, cache, job.frames, job.fps, job.qp)
            bar.update(1)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_worker, anchor.spec(), str(cache.root), jobs[i].frames, jobs[i].fps, jobs[i].qp): i
                       for i in todo}
            for future in as_completed(futures):
                codec, key = future.result()
                point = cache.load(codec, key)
                if point is None:  # pragma: no cover - the worker just wrote it
                    raise ConfigError(f"anchor cache entry {key} vanished after its worker wrote it (cache root "
                                      f"{cache.root} shared with a cleaner?)")
                point.hit = False
                results[futures[future]] = point
                bar.update(1)
    bar.close()
    return [r for r in results if r is not None]
