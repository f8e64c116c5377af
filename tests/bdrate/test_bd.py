"""BD-rate: the JCTVC-E137 vectors (pchip), the sign convention, ordering and failure modes."""

import math

import numpy as np
import pytest

from dynamics_codec.bdrate import QUALITY_AXES, bd_quality, bd_rate, curve_overlap, rd_convex_hull
from dynamics_codec.errors import ConfigError, InputError

E137 = [
    ([(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247), (18883.6928, 34.2911)],
     [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761), (18910.912, 34.3147)],
     -0.465215420752807),
    ([(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977), (1017.6184, 32.0603)],
     [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194), (1017.0984, 32.0822)],
     -1.8779823450567612),
]


def _split(points):
    return [p[0] for p in points], [p[1] for p in points]


@pytest.mark.parametrize("anchor,test,expected", E137)
def test_e137_vectors_pchip(anchor, test, expected):
    assert abs(bd_rate(*_split(anchor), *_split(test), method="pchip") - expected) < 1e-9
    # point order does not matter
    assert abs(bd_rate(*_split(anchor[::-1]), *_split(test[2:] + test[:2]), method="pchip") - expected) < 1e-9


@pytest.mark.parametrize("anchor,test,expected", E137)
def test_other_interpolations_are_selectable_and_close(anchor, test, expected):
    for method in ("cubic", "akima"):
        value = bd_rate(*_split(anchor), *_split(test), method=method)
        assert value != expected and abs(value - expected) < 0.05
    with pytest.raises(ConfigError, match="pchip"):
        bd_rate(*_split(anchor), *_split(test), method="linear")


def test_sign_convention_and_exact_scaling():
    rates = np.array([100.0, 200.0, 400.0, 800.0])
    quality = np.array([30.0, 33.0, 36.0, 39.0])
    # the test codec reaches each quality with 20 % fewer bits -> exactly -20 %
    assert bd_rate(rates, quality, 0.8 * rates, quality) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(rates, quality, 1.5 * rates, quality) == pytest.approx(50.0, abs=1e-9)
    # 1 dB better at every rate -> BD-quality +1
    assert bd_quality(rates, quality, rates, quality + 1.0) == pytest.approx(1.0, abs=1e-9)


def test_failure_modes():
    r, q = [100.0, 200.0, 400.0], [30.0, 33.0, 36.0]
    assert math.isnan(bd_rate(r, q, r, [40.0, 41.0, 42.0]))  # no quality overlap
    assert curve_overlap([0, 1], [2, 3]) == 0 and curve_overlap([0, 2], [1, 3]) == pytest.approx(1 / 3)
    with pytest.raises(InputError, match="at least 2"):
        bd_rate([100.0], [30.0], r, q)
    with pytest.raises(InputError, match="repeated"):
        bd_rate(r, [30.0, 30.0, 36.0], r, q)
    with pytest.raises(InputError, match="positive"):
        bd_rate([0.0, 1.0, 2.0], q, r, q)


def test_quality_axes_are_higher_is_better():
    assert QUALITY_AXES["lpips"].transform(0.2) == pytest.approx(0.8)
    assert QUALITY_AXES["dists"].label == "1-DISTS" and QUALITY_AXES["fvd"].transform(300.0) == 4700.0


def test_convex_hull_keeps_the_best_operating_points():
    rates = [10, 20, 40, 80, 15, 30, 100, 20, 5]
    quality = [30, 33, 35, 36, 30.5, 34, 35.5, 32, math.nan]
    # 15 kbps lies under the chord 10 -> 20 in log rate, 30 kbps under 20 -> 40, 100 kbps is worse
    # than 80, the second 20 kbps point worse than the first, the NaN point is not a point
    assert rd_convex_hull(rates, quality).tolist() == [0, 1, 2, 3]
    assert rd_convex_hull([10, 20, 40], [30, 32, 34]).tolist() == [0, 2]  # collinear in log rate: ends only
    assert rd_convex_hull([10, 20, 40], [30, 32.1, 34]).tolist() == [0, 1, 2]
    assert rd_convex_hull([10, 20], [30, 29]).tolist() == [0]
    assert rd_convex_hull([], []).tolist() == []
    with pytest.raises(InputError):
        rd_convex_hull([1, 2], [1])


def test_convex_hull_is_rising_concave_and_covers_every_point():
    rng = np.random.default_rng(0)
    for _ in range(50):
        rates = rng.uniform(1, 100, 12)
        quality = 30 + 3 * np.log(rates) + rng.normal(0, 1.5, 12)
        keep = rd_convex_hull(rates, quality)
        x, y = np.log10(rates[keep]), quality[keep]
        assert np.all(np.diff(x) > 0) and np.all(np.diff(y) > 0)
        slopes = np.diff(y) / np.diff(x)
        assert np.all(np.diff(slopes) < 0)  # strictly concave
        # every point is under the hull (or past its ends, where it is dominated)
        for r, q in zip(np.log10(rates), quality):
            if r < x[0]:
                continue  # impossible: the lowest-rate point is always kept
            bound = y[-1] if r >= x[-1] else np.interp(r, x, y)
            assert q <= bound + 1e-9
        assert keep[0] == int(np.argmin(rates))
