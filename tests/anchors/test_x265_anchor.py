"""x265 low-delay anchor: structure, rate = file size, our colour conversion, cache and parallel runs."""

import av
import numpy as np
import pytest

from dynamics_codec.anchors import (
    AnchorCache,
    AnchorJob,
    X265Anchor,
    clip_hash,
    encode_anchor_points,
    video_to_yuv420,
    yuv420_to_video,
)
from dynamics_codec.errors import ConfigError
from dynamics_codec.metrics import psnr_per_frame


def _clip(seed=0, t=6, h=48, w=64):
    rng = np.random.default_rng(seed)
    base = np.clip(rng.normal(128, 40, (h + 8, w + 8, 3)), 0, 255).astype(np.uint8)
    base = np.ascontiguousarray(np.repeat(np.repeat(base[::4, ::4], 4, 0), 4, 1)[: h + 8, : w + 8])
    return np.stack([base[i % 4: i % 4 + h, i % 3: i % 3 + w] for i in range(t)])


def _picture_types(bitstream):
    ctx = av.CodecContext.create("hevc", "r")
    frames = []
    for packet in ctx.parse(bitstream) + ctx.parse(None):
        frames += ctx.decode(packet)
    frames += ctx.decode(None)
    return [int(f.pict_type) for f in frames]  # AVPictureType: 1 = I, 2 = P, 3 = B


def test_low_delay_structure_rate_and_quality():
    frames = _clip()
    anchor = X265Anchor(preset="ultrafast")
    fine = anchor.encode_decode(video_to_yuv420(frames), 25.0, 27)
    coarse = anchor.encode_decode(video_to_yuv420(frames), 25.0, 47)
    types = _picture_types(fine.bitstream)
    assert types == [1, 2, 2, 2, 2, 2], types  # one I-frame, then P-frames only
    assert len(coarse.bitstream) < len(fine.bitstream)
    rec_fine = yuv420_to_video(fine.decoded, 48, 64)
    rec_coarse = yuv420_to_video(coarse.decoded, 48, 64)
    assert psnr_per_frame(frames, rec_fine).mean() > psnr_per_frame(frames, rec_coarse).mean() + 3
    # the stream carries no x265 version/options SEI (it would cost ~2 kB)
    assert b"x265" not in fine.bitstream
    assert "x265" in anchor.version() and "PyAV" in anchor.version()


def test_odd_size_is_padded_and_cropped_back():
    frames = _clip(t=3, h=47, w=63)
    out = X265Anchor(preset="ultrafast").encode_decode(video_to_yuv420(frames), 25.0, 22)
    assert out.decoded.y.shape == (3, 48, 64)
    rec = yuv420_to_video(out.decoded, 47, 63)
    # against the same pixels after only the 4:2:0 conversion (what the codec was given)
    reference = yuv420_to_video(video_to_yuv420(frames), 47, 63)
    assert rec.shape == frames.shape and psnr_per_frame(reference, rec).mean() > 30


def test_rejects_bad_qp_and_preset():
    with pytest.raises(ConfigError, match="preset"):
        X265Anchor(preset="warp-speed")
    with pytest.raises(ConfigError, match="qp"):
        X265Anchor().encode_decode(video_to_yuv420(_clip(t=1)), 25.0, 60)


def test_cache_and_parallel_workers(tmp_path):
    anchor = X265Anchor(preset="ultrafast")
    cache = AnchorCache(tmp_path / "cache")
    jobs = [AnchorJob(f"c{s}", _clip(seed=s, t=4), 25.0, qp) for s in (0, 1) for qp in (32, 42)]
    first = encode_anchor_points(anchor, jobs, cache, workers=2, progress=False)
    assert [p.hit for p in first] == [False] * 4
    for job, point in zip(jobs, first):
        assert point.bits == 8 * len(point.bitstream) == point.meta["bits"]
        assert point.meta["qp"] == job.qp and point.meta["clip_hash"] == clip_hash(job.frames, job.fps)
    # serial encode of one point is bit-identical to the parallel worker's
    serial = anchor.encode_decode(video_to_yuv420(jobs[1].frames), 25.0, 42)
    assert serial.bitstream == first[1].bitstream
    np.testing.assert_array_equal(first[1].decoded_video(), yuv420_to_video(serial.decoded, 48, 64))
    again = encode_anchor_points(anchor, jobs, cache, workers=2, progress=False)
    assert [p.hit for p in again] == [True] * 4 and [p.bits for p in again] == [p.bits for p in first]
    # another preset is another cache entry
    other = encode_anchor_points(X265Anchor(preset="superfast"), jobs[:1], cache, workers=1, progress=False)
    assert not other[0].hit and other[0].meta["key"] != first[0].meta["key"]
