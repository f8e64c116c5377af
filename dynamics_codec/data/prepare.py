"""Turn a folder of videos into training clips: test format, manifest, split, cached flows.

Output layout (``output/``)::

    manifest.jsonl          one line per clip: id, source, start, frames, size, fps, split, flow_file, flow_backend
    skipped.jsonl           videos that could not be used, with the reason
    clips/<id>/frame_00000.png  frames of the clip (lossless), frame 0 = key frame
    flows/..                key -> frame flows (float16 safetensors, FlowCache layout)

Resumable: clips already in the manifest with their files present are skipped. Parallel over
videos (processes); the split is by source video (all clips of a video land in one split), a
deterministic function of the video's file name, so re-running never moves a clip.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterable


from dynamics_codec.errors import DynamicsCodecError, InputError
from dynamics_codec.flow import FlowCache, build_flow_backend
from dynamics_codec.io import read_video, to_test_format, write_png_folder
from dynamics_codec.io.video import CONTAINER_SUFFIXES
from dynamics_codec.utils.config import section_options
from dynamics_codec.utils.files import atomic_write_text

VIDEO_SUFFIXES = tuple(sorted(set(CONTAINER_SUFFIXES) | {".y4m"}))


def list_videos(input_dir: str | os.PathLike) -> list[Path]:
    """Video files (containers, .y4m) and PNG folders under ``input_dir``, sorted."""
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of videos")
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    found += [p for p in root.rglob("*") if p.is_dir() and any(p.glob("*.png"))]
    return sorted(found)


def split_of(source: str, val_fraction: float) -> str:
    """'val' for a deterministic ``val_fraction`` of source names, else 'train'."""
    h = int(hashlib.sha256(Path(source).name.encode()).hexdigest()[:8], 16)
    return "val" if (h % 10000) / 10000.0 < val_fraction else "train"


def _clip_id(path: Path, root: Path, k: int) -> str:
    rel = str(path.relative_to(root)).replace(os.sep, "__")
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in rel)
    return f"{stem}__{k:02d}"


def _prepare_video(path: Path, root: Path, out: Path, opts: dict[str, Any], done: set[str]) -> tuple[list[dict], dict | None]:
    """Worker: clips of one video -> (manifest entries, skip record or None)."""
    size, num_frames, stride = opts["size"], opts["num_frames"], opts["stride"]
    span = (num_frames - 1) * stride + 1
    want = [_clip_id(path, root, k) for k in range(opts["clips_per_video"])]
    if all(cid in done for cid in want):
        return [], None
    try:
        clip = read_video(path, max_frames=span * opts["clips_per_video"])
    except DynamicsCodecError as err:
        return [], {"source": str(path), "reason": f"unreadable: {err}"}
    available = clip.frames.shape[0] // span
    if available == 0:
        return [], {"source": str(path), "reason": f"too short: {clip.frames.shape[0]} frames, {span} needed"}
    backend = build_flow_backend(opts["flow"]["name"], **section_options(opts["flow"]))
    cache = FlowCache(out / "flows")
    entries = []
    for k in range(min(available, opts["clips_per_video"])):
        cid = _clip_id(path, root, k)
        if cid in done:
            continue
        frames = to_test_format(clip.frames, size=size, num_frames=num_frames, start=k * span, stride=stride)
        write_png_folder(frames, out / "clips" / cid)
        flow_file = cache.ensure(frames, backend)
        entries.append({
            "id": cid, "source": str(path), "start": k * span, "stride": stride, "frames": num_frames,
            "size": size, "fps": clip.fps, "split": split_of(str(path), opts["val_fraction"]),
            "flow_file": str(flow_file.relative_to(out)), "flow_backend": backend.identity(),
        })
    return entries, None


def prepare_dataset(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    flow: dict[str, Any],
    size: int = 384,
    num_frames: int = 50,
    stride: int = 1,
    clips_per_video: int = 1,
    val_fraction: float = 0.1,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Prepare every video under ``input_dir`` into ``output_dir``; returns a summary dict."""
    from tqdm import tqdm

    root, out = Path(input_dir), Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.jsonl"
    entries: dict[str, dict] = {}
    if manifest_path.exists():
        for line in manifest_path.read_text().splitlines():
            if line.strip():
                e = json.loads(line)
                if (out / "clips" / e["id"]).is_dir() and (out / e["flow_file"]).is_file():
                    entries[e["id"]] = e
    videos = list_videos(root)
    opts = dict(size=size, num_frames=num_frames, stride=stride, clips_per_video=clips_per_video,
                val_fraction=val_fraction, flow=dict(flow))
    skipped: list[dict] = []
    done = set(entries)

    def record(new: Iterable[dict], skip: dict | None) -> None:
        for e in new:
            entries[e["id"]] = e
        if new:  # keep the manifest current so an interrupted run resumes where it stopped
            _write_manifest(manifest_path, entries)
        if skip:
            skipped.append(skip)

    bar = tqdm(total=len(videos), desc="prepare", unit="video", disable=not progress)
    if workers <= 1:
        for path in videos:
            record(*_prepare_video(path, root, out, opts, done))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_prepare_video, path, root, out, opts, done) for path in videos]
            for fut in as_completed(futures):
                record(*fut.result())
                bar.update()
    bar.close()
    _write_manifest(manifest_path, entries)
    atomic_write_text(out / "skipped.jsonl", "".join(json.dumps(s) + "\n" for s in skipped))
    splits = {s: sum(e["split"] == s for e in entries.values()) for s in ("train", "val")}
    return {"videos": len(videos), "clips": len(entries), "skipped": skipped, "splits": splits}


def _write_manifest(path: Path, entries: dict[str, dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(entries[k], sort_keys=True) + "\n" for k in sorted(entries)))
