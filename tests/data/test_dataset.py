import pytest
import torch

from dynamics_codec.data.dataset import Augment, SyntheticMotionDataset
from dynamics_codec.sampler import WatershedSampler


def _ds(**kw):
    args = dict(num_clips=3, size=64, num_frames=6, max_displacement=3.0, augment=Augment(crop=48, hflip=True), seed=5)
    args.update(kw)
    return SyntheticMotionDataset(WatershedSampler(nms_ks=9), **args)


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_samples_are_a_function_of_seed_epoch_and_index():
    a, b = _ds(), _ds()
    assert _equal(a[2], b[2])
    a.set_epoch(1)
    assert not _equal(a[2], b[2])  # a new epoch draws a new frame / crop / flip
    b.set_epoch(1)
    assert _equal(a[2], b[2])
    s = a[0]
    assert s["key"].shape == (3, 48, 48) and s["flow"].shape == (2, 48, 48) and s["mask"].shape == (2, 48, 48)
    assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(s["sparse_flow"], s["flow"] * s["mask"])


def test_flip_mirrors_the_flow_and_negates_x():
    # find an index whose augmented copy is flipped: compare with the un-augmented sample of the same rng
    for idx_seed in range(20):
        flipped = _ds(augment=Augment(crop=None, hflip=True), num_clips=1, seed=idx_seed)
        ref = _ds(augment=Augment(crop=None, hflip=False), num_clips=1, seed=idx_seed)
        f, r = flipped[0], ref[0]
        if not torch.equal(f["key"], r["key"]):
            torch.testing.assert_close(f["key"], r["key"].flip(-1))
            torch.testing.assert_close(f["flow"][0], -r["flow"][0].flip(-1))
            torch.testing.assert_close(f["flow"][1], r["flow"][1].flip(-1))
            return
    pytest.fail("no flipped sample in 20 seeds")


def test_validation_mode_is_ordered_unaugmented_and_renders_frames():
    val = _ds(sequential=True, samples_per_clip=3, augment=Augment(crop=48, hflip=True))
    ts = [int(val[i]["t"]) for i in range(3)]
    assert ts == sorted(ts) and len(set(ts)) == 3 and ts[-1] == 5
    s = val[1]
    assert s["key"].shape == (3, 64, 64) and "frame" in s
    assert not torch.equal(s["frame"], s["key"])
    assert "frame" not in _ds(with_frame=False)[0]


def test_mask_mode_sequence_shares_the_last_frames_points():
    ds = _ds(augment=Augment(crop=None, hflip=False), num_clips=1, sequential=True, samples_per_clip=4)
    masks = [ds[i]["mask"] for i in range(4)]
    assert all(torch.equal(masks[0], m) for m in masks)
    per_frame = SyntheticMotionDataset(WatershedSampler(nms_ks=9, mask_mode="frame"), num_clips=1, size=64,
                                       num_frames=6, sequential=True, samples_per_clip=4, seed=5)
    pm = [per_frame[i]["mask"] for i in range(4)]
    assert not all(torch.equal(pm[0], m) for m in pm)


@pytest.mark.parametrize("field,value", [
    ("id", "../../etc"), ("id", "/abs"), ("id", ".."), ("id", 7),
    ("flow_file", "/etc/passwd"), ("flow_file", "flows/../../secret.safetensors"), ("frames", "50"),
])
def test_manifest_fields_are_not_joined_into_paths_unchecked(tmp_path, field, value):
    import json

    from dynamics_codec.data.dataset import PreparedClipDataset
    from dynamics_codec.errors import InputError

    good = {"id": "clip__00", "frames": 6, "split": "train", "flow_file": "flows/ab.safetensors"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, field: value}) + "\n")
    with pytest.raises(InputError, match=r"manifest.jsonl:2: .*re-run scripts/prepare_data.py"):
        PreparedClipDataset(WatershedSampler(nms_ks=9), root=tmp_path)
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n")
    assert PreparedClipDataset(WatershedSampler(nms_ks=9), root=tmp_path).num_clips == 1
