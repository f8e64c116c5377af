"""RD plots: the log rate axis carries plain, non-overlapping tick labels at any span."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from dynamics_codec.bdrate.plots import format_rate_axis  # noqa: E402


def _labels(rates):
    fig, ax = plt.subplots(figsize=(4.8, 3.6), dpi=150)
    ax.plot(rates, range(len(rates)), marker="o")
    format_rate_axis(ax, rates)
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = [t for t in ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()
             if t.label1.get_visible() and t.label1.get_text()]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ticks if lo <= t.get_loc() <= hi]
    boxes = sorted(((t.label1.get_window_extent(renderer), t.label1.get_text()) for t in ticks), key=lambda b: b[0].x0)
    plt.close(fig)
    return [text for _, text in boxes], [box for box, _ in boxes]


@pytest.mark.parametrize("rates,expected", [
    ([3.1, 3.6, 4.2, 4.6], ["3.5", "4", "4.5"]),  # less than a decade: the case that printed "3x10^0 4x10^0"
    ([11.0, 17.0, 26.0, 41.0], ["20", "30", "40"]),
    ([8.0, 15.0, 40.0, 70.0], ["10", "20", "30", "40", "50", "70"]),
    ([5.0, 15.0, 40.0, 150.0], ["5", "10", "20", "50", "100"]),
    ([0.8, 5.0, 40.0, 300.0], ["1", "10", "100"]),
])
def test_rate_ticks_are_plain_numbers_that_do_not_overlap(rates, expected):
    texts, boxes = _labels(rates)
    assert texts == expected
    assert not any("10^" in t or "times" in t or "mathdefault" in t for t in texts), texts
    for a, b in zip(boxes, boxes[1:]):
        assert a.x1 < b.x0, (texts, a, b)


def test_narrow_range_gets_several_labels():
    texts, _ = _labels([10.2, 10.9, 11.6, 12.1])
    assert len(texts) >= 3 and all(10 <= float(t) <= 12.5 for t in texts), texts
