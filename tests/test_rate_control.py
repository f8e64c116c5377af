"""Rate control: the search on a model codec (exact, fast), then our real encoder on a real clip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dynamics_codec.errors import ConfigError
from dynamics_codec.rate_control import RateSearch, RateSearchConfig, closest_qp, rate_ladder

FPS, FRAMES = 25.0, 50  # 2 s: kbps = bits / 2000


class ModelCodec:
    """Key-frame bits halve every ``halving`` QPs; motion bits fall as 1 / step (a floor at large steps)."""

    def __init__(self, key0=60000.0, halving=6.0, motion0=2000.0, floor=100.0):
        self.key0, self.halving, self.motion0, self.floor = key0, halving, motion0, floor
        self.calls = []

    def bits(self, qp, step):
        return int(self.key0 * 2 ** (-qp / self.halving) + max(self.motion0 * 0.1 / step, self.floor) + 300)

    def __call__(self, qp, step):
        self.calls.append((qp, step))
        return self.bits(qp, step), ("payload", qp, step)


def _search(codec, config=RateSearchConfig(), start_qp=37, start_step=0.1, qp_range=(0, 51)):
    return RateSearch(codec, FRAMES, FPS, qp_range, start_step, start_qp, config)


@pytest.mark.parametrize("target", [2.0, 5.0, 7.5, 10.0, 15.0, 25.0])
def test_lands_within_tolerance_and_reports_the_achieved_rate(target):
    codec = ModelCodec()
    found = _search(codec).search(target)
    assert found.within_tolerance and abs(found.kbps / target - 1) <= 0.10
    assert found.kbps == pytest.approx(codec.bits(found.keyframe_qp, found.token_step) / 2000)
    assert found.payload == ("payload", found.keyframe_qp, found.token_step)
    assert "within +-10 %" in found.message
    # the closest QP at the configured step when one lands in the band
    if found.token_step == 0.1:
        errs = {q: abs(math.log(codec.bits(q, 0.1) / 2000 / target)) for q in range(52)}
        assert errs[found.keyframe_qp] == min(errs.values())


def test_fine_tunes_the_step_when_adjacent_qps_straddle_the_band():
    codec = ModelCodec(halving=1.5, motion0=4000.0)  # ~60 % rate per QP: no integer QP lands within 1 %
    found = _search(codec, RateSearchConfig(tolerance=0.01)).search(9.0)
    assert found.within_tolerance and abs(found.kbps / 9.0 - 1) <= 0.01 and found.token_step != 0.1
    assert RateSearchConfig(tolerance=0.01).step_range[0] <= found.token_step <= 2.0


def test_the_step_search_spends_the_budget_instead_of_stopping_at_the_band_edge():
    # at the coarsest QP and the configured step the stream is 20 % too big; the largest step would land
    # 9.9 % below the target (inside the band) with almost no motion bits: the search goes closer
    codec = ModelCodec(key0=2000.0 * 2 ** (51 / 6), motion0=7380.0, floor=20.0)
    target = (2000 + 300 + 738 / 2.0) / 0.901 / 2000  # step 2 lands 9.9 % below it; step ~1.1 hits it
    assert (codec.bits(51, 2.0) / 2000) / target - 1 == pytest.approx(-0.099, abs=1e-3)
    found = _search(codec).search(target)
    assert found.keyframe_qp == 51 and abs(found.kbps / target - 1) <= 0.025 and 0.9 < found.token_step < 1.4


def test_unreachable_targets_are_reported_not_clipped():
    codec = ModelCodec()
    search = _search(codec)
    low = search.search(0.2)  # below key frame at qp 51 + motion floor + header
    assert not low.within_tolerance and low.kbps > 0.2 * 1.1
    assert "UNREACHABLE" in low.message and "below the lowest rate" in low.message
    assert low.keyframe_qp == 51 and low.token_step == 2.0  # the closest setting, stated
    high = search.search(5000.0)
    assert not high.within_tolerance and "above the highest rate" in high.message and high.keyframe_qp == 0


def test_trials_are_memoised_per_clip():
    codec = ModelCodec()
    search = _search(codec)
    results = [search.search(t) for t in (5.0, 7.5, 10.0, 15.0)]
    assert len(codec.calls) == len(set(codec.calls)) == search.encodes  # each (qp, step) encoded once
    assert search.encodes <= 14 and sum(r.new_encodes for r in results) == search.encodes
    again = search.search(7.5)
    assert again.new_encodes == 0 and again.keyframe_qp == results[1].keyframe_qp


def test_closest_qp_brackets_and_respects_the_range():
    rate = lambda q: 100.0 * 2 ** (-q / 6)  # noqa: E731
    for target in (0.3, 1.0, 3.3, 50.0, 100.0, 400.0):
        q = closest_qp(rate, target, 0, 51, 37)
        best = min(range(52), key=lambda p: abs(math.log(rate(p) / target)))
        assert q == best
    with pytest.raises(ConfigError):
        closest_qp(rate, 1.0, 10, 5, 7)


def test_ladder_covers_the_band_and_states_what_a_codec_cannot_reach():
    rate = lambda q: 400.0 * 2 ** (-q / 6)  # noqa: E731  (kbps)
    ladder = rate_ladder(rate, [5, 7.5, 10, 15], (0, 51), 37, codec="x265")
    assert min(ladder.kbps[q] for q in ladder.qps) <= 5 and max(ladder.kbps[q] for q in ladder.qps) >= 15
    assert [r["qp"] for r in ladder.targets] == [38, 34, 32, 28] and not ladder.notes
    # a codec whose coarsest QP is above the lowest target: said so, and the ladder still ends at its coarsest QP
    capped = rate_ladder(lambda q: 60.0 * 2 ** (-q / 20), [5, 7.5, 10, 15], (0, 51), 37, codec="x265")
    assert 51 in capped.qps and len(capped.notes) == 2 and "cannot go below 10.2" in capped.notes[0] and "qp 51" in capped.notes[0]


def test_bad_config_names_the_override():
    with pytest.raises(ConfigError, match="tolerance"):
        RateSearchConfig(tolerance=1.5)
    with pytest.raises(ConfigError, match=r"rate_points\.step_range"):
        RateSearchConfig.from_cfg({"step_range": 3}, "rate_points")
    with pytest.raises(ConfigError, match="positive"):
        _search(ModelCodec()).search(-1)


# ---------------------------------------------------------------------------- the real encoder
CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "clips" / "vt_beach_waves.mp4"


def _cfg(*overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "configs"), version_base="1.3"):
        return compose("encode", overrides=["input=x", "output=y", "keyframe=x265", "paths.root_dir=.",
                                            *overrides])


@pytest.mark.slow
def test_real_clip_lands_within_10_percent_and_reports_unreachable():
    """A 10-frame cut of a real clip (the synthetic generator when ../shared/clips is absent) with the shipped model."""
    from dynamics_codec.bitstream import parse_stream
    from dynamics_codec.codec import load_motion_model
    from dynamics_codec.rate_control import codec_search

    cfg = _cfg("video.num_frames=10")
    if CLIP.is_file():
        from dynamics_codec.cli import read_input_video
        from omegaconf import OmegaConf

        frames, fps = read_input_video(OmegaConf.create({"input": str(CLIP), "video": {
            "size": 384, "num_frames": 10, "start": 0, "stride": 1, "yuv_size": None, "fps": None}}))
    else:  # pragma: no cover - CI without the shared clips
        from dynamics_codec.data import make_synthetic_clip

        # 192x192: the detailed astronaut key frame alone costs ~20 kbps over 0.4 s at 384x384 even at QP 51
        clip = make_synthetic_clip("astronaut", size=192, num_frames=10, fps=25.0, max_displacement=3.0,
                                   rng=np.random.default_rng(0))
        frames, fps = clip.frames, clip.fps
    search = codec_search(cfg, frames, fps, RateSearchConfig.from_cfg(cfg.rate), load_motion_model(cfg))
    # 10 frames are 0.4 s: 12-40 kbps here is 5-16 kbit, the bits of a 50-frame clip at 2.5-8 kbps
    for target in (12.0, 20.0, 40.0):
        found = search.search(target)
        stream = found.payload.bitstream
        achieved = 8 * len(stream) * fps / 10 / 1000
        assert found.within_tolerance, found.message
        assert abs(achieved / target - 1) <= 0.10 and achieved == pytest.approx(found.kbps)
        header = parse_stream(stream).header
        assert header.keyframe_params == (found.keyframe_qp,) and header.step == pytest.approx(found.token_step, 1e-6)
    unreachable = search.search(0.5)
    assert not unreachable.within_tolerance and "UNREACHABLE" in unreachable.message
    assert unreachable.kbps > 0.55 and "lowest rate" in unreachable.message
