"""Turn a folder of videos into training clips: test format, manifest, split, cached flows.

Output layout (``output/``)::

    manifest.jsonl          one line per clip: id, source, start, frames, size, fps, split, flow_file, flow_backend
    skipped.jsonl           videos that could not be used, with the reason
    clips/<id>/frame_00000.png  frames of the clip (lossless), frame 0 = key frame
    flows/..                key -> frame flows (float16 safetensors, FlowCache layout)

Resumable: clips already in the manifest with their files present are skipped. Parallel over
videos (processes). The split is by *group*: all clips of a group land in one split, a
deterministic function of the group's name, so re-running never moves a clip. The group of a
video is its file name, or, when the input comes with a source manifest (``manifest.json``: a
list of ``{"file": ..., <split_by>: ...}`` entries, as ``../shared/corpus`` has), the manifest's
``split_by`` field of that file (e.g. ``repo``: validation then measures generalisation to
scenes from repositories never seen in training).
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


def _group_hash(group: str) -> float:
    """A deterministic number in [0, 1) for a group name."""
    return (int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 10000) / 10000.0


def split_of(source: str, val_fraction: float) -> str:
    """'val' for a deterministic ``val_fraction`` of source names, else 'train'."""
    return "val" if _group_hash(Path(source).name) < val_fraction else "train"


def assign_splits(groups: Iterable[str], val_fraction: float) -> dict[str, str]:
    """Split of every group: 'val' for a deterministic ``val_fraction`` of the group names.

    With at least two groups and ``val_fraction > 0`` the validation split is never empty: when
    no hash falls below the fraction (few groups), the group with the smallest hash goes to val.
    """
    names = sorted(set(groups))
    splits = {g: "val" if _group_hash(g) < val_fraction else "train" for g in names}
    if val_fraction > 0 and len(names) >= 2 and "val" not in splits.values():
        splits[min(names, key=_group_hash)] = "val"
    return splits


def load_source_groups(manifest: str | os.PathLike, split_by: str) -> dict[str, str]:
    """``{file name: group}`` from a source manifest (a JSON list of objects with ``file`` and
    ``split_by``), e.g. ``../shared/corpus/manifest.json`` grouped by ``repo``."""
    path = Path(manifest)
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read the source manifest ({err}); fix it or pass source_manifest=null") from err
    if not isinstance(entries, list):
        raise InputError(f"{path}: a source manifest must be a JSON list of objects with 'file' and '{split_by}'")
    groups = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or not isinstance(e.get(split_by), str):
            raise InputError(f"{path}: entry {i} needs string fields 'file' and '{split_by}' (split_by={split_by})")
        groups[Path(e["file"]).name] = e[split_by]
    return groups


def find_source_manifest(input_dir: str | os.PathLike) -> Path | None:
    """``manifest.json`` in the input folder (or the folder above it), if there is one."""
    root = Path(input_dir)
    for candidate in (root / "manifest.json", root.parent / "manifest.json"):
        if candidate.is_file():
            return candidate
    return None


def _clip_id(path: Path, root: Path, k: int) -> str:
    rel = str(path.relative_to(root)).replace(os.sep, "__")
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in rel)
    return f"{stem}__{k:02d}"


def _prepare_video(path: Path, root: Path, out: Path, opts: dict[str, Any], done: set[str], group: str,
                   split: str) -> tuple[list[dict], dict | None]:
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
            "size": size, "fps": clip.fps, "group": group, "split": split,
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
    source_manifest: str | os.PathLike | None = "auto",
    split_by: str = "repo",
) -> dict[str, Any]:
    """Prepare every video under ``input_dir`` into ``output_dir``; returns a summary dict.

    ``source_manifest``: ``"auto"`` uses a ``manifest.json`` in (or above) ``input_dir`` when there
    is one, ``None`` groups by file name, a path names the manifest. Videos the manifest does not
    list form their own group (their file name).
    """
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
    if source_manifest == "auto":
        source_manifest = find_source_manifest(root)
    by_file = load_source_groups(source_manifest, split_by) if source_manifest else {}
    group_of = {path: by_file.get(path.name, path.name) for path in videos}
    splits = assign_splits(group_of.values(), val_fraction)
    opts = dict(size=size, num_frames=num_frames, stride=stride, clips_per_video=clips_per_video, flow=dict(flow))
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
            record(*_prepare_video(path, root, out, opts, done, group_of[path], splits[group_of[path]]))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_prepare_video, path, root, out, opts, done, group_of[path], splits[group_of[path]])
                       for path in videos]
            for fut in as_completed(futures):
                record(*fut.result())
                bar.update()
    bar.close()
    for e in entries.values():  # the split follows the current grouping and fraction, also for resumed clips
        if e.get("group") in splits:
            e["split"] = splits[e["group"]]
    _write_manifest(manifest_path, entries)
    atomic_write_text(out / "skipped.jsonl", "".join(json.dumps(s) + "\n" for s in skipped))
    counts = {s: sum(e["split"] == s for e in entries.values()) for s in ("train", "val")}
    groups = {s: len({e.get("group", e["source"]) for e in entries.values() if e["split"] == s}) for s in ("train", "val")}
    return {"videos": len(videos), "clips": len(entries), "skipped": skipped, "splits": counts, "groups": groups,
            "source_manifest": str(source_manifest) if source_manifest else None, "split_by": split_by if by_file else "file"}


def _write_manifest(path: Path, entries: dict[str, dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(entries[k], sort_keys=True) + "\n" for k in sorted(entries)))
