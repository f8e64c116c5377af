"""Bjøntegaard delta rate and quality, through the ``bjontegaard`` package.

Interpolation: ``pchip`` (piecewise cubic Hermite, as the JVET CTC spreadsheet; default),
``cubic`` (the original VCEG-M33 third-order polynomial fit) or ``akima``. The package
reproduces the JCTVC-E137 test vectors with pchip to 2e-13 (asserted in
``tests/bdrate/test_bd.py``), so it is used as is; this module adds input checks, sorting,
the overlap report and the quality axes.

Sign convention: BD-rate is the average bitrate difference of the *test* codec relative to
the *anchor* at equal quality, in percent: **negative = the test codec needs fewer bits**
(a saving), positive = more. BD-quality is test minus anchor at equal rate (positive =
better). Rates are integrated on a log10 axis over the overlap of the two quality ranges.

Quality axes (higher is better, as the paper plots them): ``psnr`` / ``psnr_y`` in dB,
``ms_ssim``, ``1-LPIPS``, ``1-DISTS``, ``5000-FVD``, ``cvvdp`` in JOD.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from dynamics_codec.errors import ConfigError, InputError

__all__ = ["INTERPOLATIONS", "QualityAxis", "QUALITY_AXES", "quality_axis", "bd_rate", "bd_quality", "curve_overlap",
           "rd_convex_hull"]

INTERPOLATIONS: tuple[str, ...] = ("pchip", "cubic", "akima")


@dataclass(frozen=True)
class QualityAxis:
    """How a metric becomes a higher-is-better quality axis."""

    metric: str
    label: str
    transform: Callable[[float], float]


QUALITY_AXES: dict[str, QualityAxis] = {
    "psnr": QualityAxis("psnr", "PSNR RGB [dB]", lambda v: v),
    "psnr_y": QualityAxis("psnr_y", "PSNR Y [dB]", lambda v: v),
    "ms_ssim": QualityAxis("ms_ssim", "MS-SSIM", lambda v: v),
    "lpips": QualityAxis("lpips", "1-LPIPS", lambda v: 1.0 - v),
    "dists": QualityAxis("dists", "1-DISTS", lambda v: 1.0 - v),
    "fvd": QualityAxis("fvd", "5000-FVD", lambda v: 5000.0 - v),
    "cvvdp": QualityAxis("cvvdp", "ColorVideoVDP [JOD]", lambda v: v),
}


def quality_axis(metric: str) -> QualityAxis:
    try:
        return QUALITY_AXES[metric]
    except KeyError:
        raise ConfigError(f"no quality axis for metric {metric!r}; known: {sorted(QUALITY_AXES)}") from None


def _curve(rates: Sequence[float], quality: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise InputError(f"{what}: rates and qualities must be 1-D of equal length, found {r.shape} and {q.shape}")
    if r.size < 2:
        raise InputError(f"{what}: BD needs at least 2 rate points, found {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))) or np.any(r <= 0):
        raise InputError(f"{what}: rates must be positive and all values finite, found rates {r.tolist()}, "
                         f"quality {q.tolist()}")
    return r, q


def _sorted_by(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise InputError(f"{what}: the interpolation axis has repeated values {x.tolist()}; BD is undefined")
    return x, y


def curve_overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Fraction of the union of the two value ranges that both cover (0 = disjoint, 1 = identical)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    total = max(a.max(), b.max()) - min(a.min(), b.min())
    return max(hi - lo, 0.0) / total if total > 0 else 0.0


def _check_method(method: str) -> str:
    if method not in INTERPOLATIONS:
        raise ConfigError(f"BD interpolation must be one of {INTERPOLATIONS}, found {method!r}")
    return method


def bd_rate(anchor_rates: Sequence[float], anchor_quality: Sequence[float], test_rates: Sequence[float],
            test_quality: Sequence[float], method: str = "pchip") -> float:
    """BD-rate of the test curve against the anchor in percent (negative = test saves bits).

    Points may come in any order (they are sorted by quality, the interpolation axis); NaN when
    the quality ranges do not overlap.
    """
    _check_method(method)
    ra, qa = _curve(anchor_rates, anchor_quality, "anchor")
    rt, qt = _curve(test_rates, test_quality, "test")
    qa, ra = _sorted_by(qa, ra, "anchor quality")
    qt, rt = _sorted_by(qt, rt, "test quality")
    if curve_overlap(qa, qt) == 0.0:
        return math.nan
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the overlap is reported by curve_overlap, not by warnings
        return float(bjontegaard.bd_rate(ra, qa, rt, qt, method=method, require_matching_points=False,
                                         min_overlap=0.0))


def bd_quality(anchor_rates: Sequence[float], anchor_quality: Sequence[float], test_rates: Sequence[float],
               test_quality: Sequence[float], method: str = "pchip") -> float:
    """BD-quality (test minus anchor at equal rate, in the quality's unit); NaN without rate overlap."""
    import bjontegaard

    _check_method(method)
    ra, qa = _sorted_by(*_curve(anchor_rates, anchor_quality, "anchor"), "anchor rate")
    rt, qt = _sorted_by(*_curve(test_rates, test_quality, "test"), "test rate")
    if curve_overlap(np.log10(ra), np.log10(rt)) == 0.0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bjontegaard.bd_psnr(ra, qa, rt, qt, method=method, require_matching_points=False,
                                         min_overlap=0.0))


def rd_convex_hull(rates: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Indices of the operating points on the upper-left convex hull, by increasing rate.

    The hull is taken in (log10 rate, quality), the plane BD-rate integrates in: a point is kept
    when no mix of two other points reaches at least its quality at no more log-rate. The
    result rises strictly in quality (points past the best quality cost bits for nothing);
    points on a straight hull edge, and points with non-finite values or non-positive rate, are
    dropped. Used to pick the best settings of a codec with several knobs (key-frame QP x
    token step) for one RD curve per metric.
    """
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise InputError(f"rates and qualities must be 1-D of equal length, found {r.shape} and {q.shape}")
    valid = np.flatnonzero(np.isfinite(r) & np.isfinite(q) & (r > 0))
    if valid.size == 0:
        return valid
    x, y = np.log10(r[valid]), q[valid]
    order = valid[np.lexsort((-y, x))]  # by rate, the best quality first among equal rates
    hull: list[int] = []
    for i in order:
        xi, yi = math.log10(r[i]), q[i]
        if hull and math.log10(r[hull[-1]]) == xi:
            continue  # same rate, worse (or equal) quality
        if hull and yi <= q[hull[-1]]:
            continue  # more bits, no better: never on the rising hull
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = ((math.log10(r[j]), q[j]) for j in hull[-2:])
            # drop the middle point when it lies on or below the chord from hull[-2] to i
            if (x2 - x1) * (yi - y1) - (y2 - y1) * (xi - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(int(i))
    return np.asarray(hull, dtype=np.int64)
