"""The key-frame-only anchor and rate-matched anchor ladders (real x265 encodes on small clips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from dynamics_codec.anchors import AnchorCache, AnchorJob, StaticAnchor, X265Anchor, build_anchor, encode_anchor_points
from dynamics_codec.anchors.ladder import LadderJob, anchor_ladder, anchor_ladders
from dynamics_codec.codec import build_encoder, build_stream_decoder
from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.errors import ConfigError
from dynamics_codec.keyframe import X265KeyframeCodec


def _clip(seed=0, size=64, t=6):
    return make_synthetic_clip("astronaut", size=size, num_frames=t, fps=25.0, max_displacement=2.0,
                               rng=np.random.default_rng(seed)).frames


def test_static_is_our_key_frame_repeated_at_its_payload_rate(tmp_path):
    frames = _clip()
    anchor = StaticAnchor({"name": "x265", "qp": 99, "preset": "ultrafast"})  # qp of the section is ignored
    out = anchor.encode_video(frames, 25.0, 37)
    payload = X265KeyframeCodec(preset="ultrafast").encode(frames[0], 37)
    assert out.bitstream == payload and out.frames == 6 and out.decoded is None
    # what our decoder shows as frame 0 at the same key-frame codec and QP (the tiny untrained model is enough)
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[2] / "configs"), version_base="1.3"):
        cfg = compose("encode", overrides=["input=x", "output=y", "experiment=tiny", "keyframe=x265",
                                           "keyframe.preset=ultrafast", "keyframe.qp=37", "paths.root_dir=."])
    stream = build_encoder(cfg).encode(frames, 25.0).bitstream
    ours = build_stream_decoder(cfg).decode(stream).frames
    assert np.array_equal(out.still, ours[0])

    cache = AnchorCache(tmp_path / "cache")
    (point,) = encode_anchor_points(anchor, [AnchorJob("c", frames, 25.0, 37)], cache, progress=False)
    assert not point.hit and point.bits == 8 * len(payload)
    video = point.decoded_video()
    assert video.shape == frames.shape and all(np.array_equal(f, ours[0]) for f in video)
    (again,) = encode_anchor_points(anchor, [AnchorJob("c", frames, 25.0, 37)], cache, progress=False)
    assert again.hit and np.array_equal(again.decoded_video(), video)
    # a coarser QP costs fewer bits; rebuilt from its spec in a worker, the anchor is the same codec
    assert len(anchor.encode_video(frames, 25.0, 47).bitstream) < len(payload)
    assert build_anchor(**anchor.spec()).settings() == anchor.settings()
    assert anchor.qp_range == (0, 51) and "key frame only" in anchor.version()
    with pytest.raises(ConfigError, match="qp"):
        anchor.encode_video(frames, 25.0, 60)


def test_anchor_ladder_brackets_the_band_and_is_cached(tmp_path):
    frames = _clip(size=64, t=6)
    anchor = X265Anchor(preset="ultrafast")
    cache = AnchorCache(tmp_path / "cache")
    targets = [20.0, 30.0, 45.0]
    ladder, encodes = anchor_ladder(anchor, cache, frames, 25.0, targets, 0.1, 40)
    rates = [ladder.kbps[q] for q in ladder.qps]
    assert min(rates) <= 20.0 and max(rates) >= 45.0 and encodes == len(ladder.kbps) > 0
    for row in ladder.targets:  # per target the closest QP of all measured
        assert row["qp"] in ladder.qps
        assert abs(np.log(row["kbps"] / row["target_kbps"])) == pytest.approx(
            min(abs(np.log(v / row["target_kbps"])) for v in ladder.kbps.values()))
    # cached: no encode at all the second time, in this process or through the parallel driver
    again, encodes = anchor_ladder(anchor, cache, frames, 25.0, targets, 0.1, 40)
    assert encodes == 0 and again.qps == ladder.qps
    ladders, encodes = anchor_ladders(anchor, [LadderJob("c", frames, 25.0)], cache, targets, tolerance=0.1,
                                      start_qp=40, workers=2, progress=False)
    assert encodes == 0 and ladders[0].qps == ladder.qps
    # every ladder QP is already in the anchor cache
    points = encode_anchor_points(anchor, [AnchorJob("c", frames, 25.0, q) for q in ladder.qps], cache, progress=False)
    assert all(p.hit for p in points)


def test_a_codec_that_cannot_go_low_enough_says_so(tmp_path):
    frames = _clip(size=64, t=6)
    ladder, _ = anchor_ladder(X265Anchor(preset="ultrafast"), AnchorCache(tmp_path), frames, 25.0, [0.5, 30.0], 0.1, 40)
    assert 51 in ladder.qps and ladder.kbps[51] > 0.55
    assert ladder.notes and "x265 cannot go below" in ladder.notes[0] and "qp 51 is its coarsest" in ladder.notes[0]
