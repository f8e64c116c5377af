import json

import numpy as np

from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.data.dataset import PreparedClipDataset
from dynamics_codec.data.prepare import prepare_dataset, split_of
from dynamics_codec.flow import FlowCache
from dynamics_codec.io import read_video, write_video
from dynamics_codec.sampler import WatershedSampler


def _videos(folder):
    folder.mkdir()
    for i, n in enumerate((8, 9, 3)):
        clip = make_synthetic_clip("chelsea", size=72, num_frames=n, rng=np.random.default_rng(i))
        write_video(clip.frames, folder / f"v{i}.mkv", 25)
    (folder / "broken.mp4").write_bytes(b"not a video")


def test_prepare_is_resumable_skips_bad_videos_and_feeds_the_dataset(tmp_path):
    _videos(tmp_path / "in")
    out = tmp_path / "out"
    flow = {"name": "dis", "preset": "ultrafast"}
    summary = prepare_dataset(tmp_path / "in", out, flow=flow, size=64, num_frames=6, progress=False)
    assert summary["videos"] == 4 and summary["clips"] == 2
    reasons = {s["source"].split("/")[-1]: s["reason"] for s in summary["skipped"]}
    assert reasons["v2.mkv"].startswith("too short") and reasons["broken.mp4"].startswith("unreadable")
    entries = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert {e["id"] for e in entries} == {"v0.mkv__00", "v1.mkv__00"}
    e = entries[0]
    frames = read_video(out / "clips" / e["id"]).frames
    assert frames.shape == (6, 64, 64, 3)
    flows = FlowCache(out / "flows").load(e["flow_file"].split("/")[-1][:-len(".safetensors")])
    assert flows.shape == (5, 2, 64, 64)
    # resume: nothing is recomputed (files untouched)
    mtime = (out / e["flow_file"]).stat().st_mtime_ns
    again = prepare_dataset(tmp_path / "in", out, flow=flow, size=64, num_frames=6, progress=False)
    assert again["clips"] == 2 and (out / e["flow_file"]).stat().st_mtime_ns == mtime
    ds = PreparedClipDataset(WatershedSampler(nms_ks=9), root=out, split=e["split"])
    sample = ds[0]
    assert sample["key"].shape == (3, 64, 64) and sample["flow"].shape == (2, 64, 64)


def test_split_is_by_source_name_and_deterministic():
    names = [f"/data/video_{i}.mp4" for i in range(400)]
    splits = [split_of(n, 0.1) for n in names]
    assert 20 < splits.count("val") < 60
    assert splits == [split_of(n.replace("/data", "/elsewhere"), 0.1) for n in names]


def test_prepare_data_script(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    _videos(tmp_path / "in")
    proc = subprocess.run(
        [sys.executable, str(root / "scripts" / "prepare_data.py"), f"input={tmp_path / 'in'}",
         f"output={tmp_path / 'out'}", "size=64", "num_frames=6", "flow.preset=ultrafast", "progress=false",
         f"hydra.run.dir={tmp_path / 'h'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 videos -> 2 clips" in proc.stdout  # the report on stdout, skipped videos as warnings on stderr
    assert "WARNING: skipped" in proc.stderr and "too short" in proc.stderr
    assert "skipped" in (tmp_path / "h" / "prepare_data.log").read_text()  # and both in the run's log


def test_split_by_source_manifest_keeps_each_group_in_one_split(tmp_path):
    """With a source manifest (as ../shared/corpus has), clips are grouped by its ``split_by`` field."""
    _videos(tmp_path / "in")
    (tmp_path / "in" / "v3.mkv").write_bytes((tmp_path / "in" / "v0.mkv").read_bytes())
    manifest = [{"file": "v0.mkv", "repo": "a/one"}, {"file": "v1.mkv", "repo": "b/two"},
                {"file": "v3.mkv", "repo": "a/one"}]
    (tmp_path / "in" / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    summary = prepare_dataset(tmp_path / "in", out, flow={"name": "dis", "preset": "ultrafast"}, size=64,
                              num_frames=6, progress=False, val_fraction=0.1)
    entries = {e["id"]: e for e in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    assert {e["group"] for e in entries.values()} == {"a/one", "b/two"}
    assert entries["v0.mkv__00"]["split"] == entries["v3.mkv__00"]["split"]
    # two groups and a 10 % fraction: the validation split still gets one group, never zero
    assert summary["splits"]["val"] >= 1 and summary["splits"]["train"] >= 1
    assert summary["groups"] == {"train": 1, "val": 1} and summary["split_by"] == "repo"


def test_assign_splits_never_leaves_val_empty_and_is_stable():
    from dynamics_codec.data.prepare import assign_splits

    two = assign_splits(["x", "y"], 0.1)
    assert sorted(two.values()) == ["train", "val"]
    many = assign_splits([f"repo{i}" for i in range(300)], 0.1)
    assert 15 < list(many.values()).count("val") < 50
    assert many == assign_splits(reversed([f"repo{i}" for i in range(300)]), 0.1)
    assert set(assign_splits(["only"], 0.1).values()) == {"train"}
    assert set(assign_splits(["x", "y"], 0.0).values()) == {"train"}
