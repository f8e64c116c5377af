"""From result files to RD curves, BD-rates and the paper's Table 1 (CSV and Markdown).

Curves: each sequence has one curve per codec. Anchors give one curve (their QPs); each of our
codecs (one per ``eval.label``: checkpoints, ablations) gives one curve per token step over the
key-frame QPs, named ``<label>`` when it has a single step and ``<label>@step<S>`` otherwise (with
target rates: per start step of the rate search). Points of every codec made for one target rate
share the label ``t<R>kbps`` (``curve_label``), so averaged curves line up by target; an operating
point measured twice (two unreachable targets that land on one setting) counts once. Each point is
(kbps, quality) with the quality axes of
:data:`~dynamics_codec.bdrate.bd.QUALITY_AXES`. With several token steps and ``hull=True``,
``<label>@hull`` holds every (QP, step) point of the sequence and keeps, per metric, those on the
RD convex hull (:func:`~dynamics_codec.bdrate.bd.rd_convex_hull`): the codec at its best
settings.

Every entry has BD-rate (percent, at equal quality) and BD-quality (the quality axis' unit, at
equal rate, e.g. BD-PSNR in dB): each is defined where the other may not be (qualities that
do not overlap while rates do, and the reverse). Metrics: ``metrics=None`` reports every
metric the result files hold (:func:`reported_metrics`).

Averaging (``averaging``):

* ``per_sequence`` (default): BD-rate of each sequence separately, then the mean over the
  sequences where it is defined (the count is reported), as in the JVET CTC.
* ``pooled``: the curves are averaged first (mean kbps and mean quality per rate point over
  sequences that all have it; FVD pooled over every sequence's windows when the feature files
  exist), then one BD-rate.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from dynamics_codec.bdrate.bd import QUALITY_AXES, bd_quality, bd_rate, quality_axis, rd_convex_hull
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.utils.files import atomic_write_text

__all__ = ["RDPoint", "Curve", "HULL_SUFFIX", "collect_curves", "average_curve", "BDEntry", "bd_table", "table_markdown",
           "table_csv", "AVERAGING_MODES", "REPORT_ORDER", "reported_metrics", "rate_notes", "write_report"]

AVERAGING_MODES = ("per_sequence", "pooled")
HULL_SUFFIX = "@hull"  # <label>@hull: a codec's RD convex hull over its (QP, token step) points
#: column order of the report: the paper's Table 1 axes first, then the other metrics
REPORT_ORDER = ("dists", "lpips", "fvd", "cvvdp", "psnr", "psnr_y", "ms_ssim")
log = logging.getLogger(__name__)


@dataclass
class RDPoint:
    label: str  # rate point label (kqp37_step0.1, qp37)
    kbps: float
    metrics: dict[str, float | None]
    fvd_features: Path | None = None  # .fvd.npz next to the result file, if any
    group: str | None = None  # what lines points up across sequences when averaging (t10kbps); default: label

    @property
    def key(self) -> str:
        return self.group or self.label


@dataclass
class Curve:
    sequence: str
    codec: str  # curve name: ours, ours@step0.2, x265, vtm_ldb
    kind: str  # ours | anchor
    points: list[RDPoint] = field(default_factory=list)
    hull: bool = False  # values() keeps only the points on the RD convex hull of each metric

    def values(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``(kbps, quality)`` of the points where ``metric`` is defined, sorted by rate (only
        those on the convex hull for a hull curve)."""
        axis = quality_axis(metric)
        pts = sorted((p for p in self.points if p.metrics.get(metric) is not None), key=lambda p: p.kbps)
        rates = np.array([p.kbps for p in pts], np.float64)
        quality = np.array([axis.transform(float(p.metrics[metric])) for p in pts], np.float64)
        if self.hull:
            keep = rd_convex_hull(rates, quality)
            rates, quality = rates[keep], quality[keep]
        return rates, quality

    def hull_labels(self, metric: str) -> list[str]:
        """Rate-point labels on the convex hull of ``metric``, by increasing rate."""
        axis = quality_axis(metric)
        pts = [p for p in self.points if p.metrics.get(metric) is not None]
        keep = rd_convex_hull([p.kbps for p in pts], [axis.transform(float(p.metrics[metric])) for p in pts])
        return [pts[i].label for i in keep]


def collect_curves(records: Iterable[dict[str, Any]], results_dir: Path | None = None,
                   hull: bool = False) -> dict[tuple[str, str], Curve]:
    """Result records -> ``{(sequence, curve name): Curve}``; with ``hull``, also each sequence's
    ``<label>@hull`` curve over all points of each of our codecs that has several token steps."""
    records = list(records)

    def step_of(r: dict[str, Any]):
        return r["rate_point"].get("search_step", r["rate_point"].get("token_step"))

    steps: dict[str, set] = defaultdict(set)  # our codec label -> its token steps (start steps with targets)
    for r in records:
        if r["codec"]["kind"] == "ours":
            steps[r["codec"]["name"]].add(step_of(r))
    curves: dict[tuple[str, str], Curve] = {}
    for r in sorted(records, key=lambda r: r["rate_point"]["label"]):
        seq, name, kind = r["sequence"]["name"], r["codec"]["name"], r["codec"]["kind"]
        codec = name
        if kind == "ours" and len(steps[name]) > 1:
            codec = f"{name}@step{float(step_of(r)):g}"
        curve = curves.setdefault((seq, codec), Curve(sequence=seq, codec=codec, kind=kind))
        label = r["rate_point"]["label"]
        if any(p.kbps == float(r["kbps"]) and p.metrics == r["metrics"] for p in curve.points):
            continue  # the same operating point again
        feats = None
        if results_dir is not None:
            candidate = Path(results_dir) / r.get("result_file", "")
            candidate = candidate.with_suffix(".fvd.npz") if r.get("result_file") else None
            feats = candidate if candidate is not None and candidate.is_file() else None
        curve.points.append(RDPoint(label=label, kbps=float(r["kbps"]), metrics=dict(r["metrics"]), fvd_features=feats,
                                    group=r["rate_point"].get("curve_label")))
        if hull and kind == "ours" and len(steps[name]) > 1:
            combined = curves.setdefault((seq, name + HULL_SUFFIX),
                                         Curve(sequence=seq, codec=name + HULL_SUFFIX, kind="ours", hull=True))
            point = curve.points[-1]
            if not any(p.kbps == point.kbps and p.metrics == point.metrics for p in combined.points):
                combined.points.append(point)
    return curves


def reported_metrics(curves: dict[tuple[str, str], Curve], metrics: Sequence[str] | None = None) -> list[str]:
    """The metrics with a value in some point: ``metrics`` in their order, or (``None``) every metric
    with a quality axis in :data:`REPORT_ORDER` (others after it, by name)."""
    found = {m for c in curves.values() for p in c.points for m, v in p.metrics.items() if v is not None}
    if metrics is not None:
        return [m for m in metrics if m in found]
    unknown = sorted(m for m in found if m not in QUALITY_AXES)
    if unknown:
        log.warning(f"metrics {unknown} have no quality axis (dynamics_codec.bdrate.QUALITY_AXES); not reported")
    order = {m: i for i, m in enumerate(REPORT_ORDER)}
    return sorted((m for m in found if m in QUALITY_AXES), key=lambda m: (order.get(m, len(order)), m))


def average_curve(curves: Sequence[Curve], metrics: Sequence[str]) -> Curve:
    """Mean kbps and mean metric per rate point (label, or the target it was made for) over ``curves`` (those in all).

    FVD is pooled: the Fréchet distance between all sequences' original and decoded window
    features when every point has a feature file, else the mean of the per-sequence values.
    """
    from dynamics_codec.metrics.fvd import fvd_from_features

    if not curves:
        raise InputError("no curves to average")
    labels = set.intersection(*({p.key for p in c.points} for c in curves))
    out = Curve(sequence="average", codec=curves[0].codec, kind=curves[0].kind, hull=curves[0].hull)
    for label in sorted(labels):
        pts = [next(p for p in c.points if p.key == label) for c in curves]
        merged: dict[str, float | None] = {}
        for m in metrics:
            vals = [p.metrics.get(m) for p in pts]
            merged[m] = None if any(v is None for v in vals) else float(np.mean(vals))
        if "fvd" in metrics and all(p.fvd_features is not None for p in pts):
            feats = [np.load(p.fvd_features) for p in pts]
            merged["fvd"] = fvd_from_features(np.concatenate([f["real"] for f in feats]),
                                              np.concatenate([f["fake"] for f in feats]))
        out.points.append(RDPoint(label=label, kbps=float(np.mean([p.kbps for p in pts])), metrics=merged))
    return out


@dataclass
class BDEntry:
    test: str
    anchor: str
    metric: str
    bd_rate: float  # percent, negative = test saves bits; NaN where undefined
    sequences: int  # sequences that contributed to bd_rate (per_sequence) or were pooled
    undefined: list[str] = field(default_factory=list)  # sequences skipped, with the reason
    per_sequence: dict[str, float] = field(default_factory=dict)
    bd_quality: float = math.nan  # test minus anchor at equal rate, in the quality axis' unit (BD-PSNR in dB)
    sequences_quality: int = 0
    per_sequence_quality: dict[str, float] = field(default_factory=dict)


def _bd_pair(anchor: Curve, test: Curve, metric: str, method: str) -> tuple[float, float, list[str]]:
    """(BD-rate, BD-quality, why each undefined one is)."""
    ra, qa = anchor.values(metric)
    rt, qt = test.values(metric)
    out, why = [], []
    for name, fn, overlap in (("BD-rate", bd_rate, "quality"), ("BD-quality", bd_quality, "rate")):
        try:
            value = fn(ra, qa, rt, qt, method=method)
        except InputError as exc:
            value, reason = math.nan, str(exc)
        else:
            reason = None if math.isfinite(value) else f"{overlap} ranges do not overlap"
        out.append(value)
        if reason:
            why.append(f"{name}: {reason}")
    return out[0], out[1], why


def _mean_finite(values: Iterable[float]) -> tuple[float, int]:
    finite = [v for v in values if math.isfinite(v)]
    return (float(np.mean(finite)) if finite else math.nan), len(finite)


def bd_table(curves: dict[tuple[str, str], Curve], metrics: Sequence[str], *, method: str = "pchip",
             averaging: str = "per_sequence", anchors: Sequence[str] | None = None) -> list[BDEntry]:
    """BD-rate and BD-quality of every curve of ours against every anchor curve, per metric."""
    if averaging not in AVERAGING_MODES:
        raise ConfigError(f"BD averaging must be one of {AVERAGING_MODES}, found {averaging!r}")
    by_codec: dict[str, dict[str, Curve]] = defaultdict(dict)
    kinds: dict[str, str] = {}
    for (seq, codec), curve in curves.items():
        by_codec[codec][seq] = curve
        kinds[codec] = curve.kind
    tests = sorted(c for c, k in kinds.items() if k == "ours")
    anchor_names = [a for a in (anchors if anchors is not None else sorted(c for c, k in kinds.items() if k == "anchor"))
                    if a in by_codec]
    entries = []
    for test in tests:
        for anchor in anchor_names:
            seqs = sorted(set(by_codec[test]) & set(by_codec[anchor]))
            for metric in metrics:
                entry = BDEntry(test=test, anchor=anchor, metric=metric, bd_rate=math.nan, sequences=0)
                if averaging == "per_sequence":
                    for seq in seqs:
                        rate, quality, why = _bd_pair(by_codec[anchor][seq], by_codec[test][seq], metric, method)
                        entry.per_sequence[seq], entry.per_sequence_quality[seq] = rate, quality
                        entry.undefined += [f"{seq}: {w}" for w in why]
                    entry.bd_rate, entry.sequences = _mean_finite(entry.per_sequence.values())
                    entry.bd_quality, entry.sequences_quality = _mean_finite(entry.per_sequence_quality.values())
                elif seqs:
                    avg_a = average_curve([by_codec[anchor][s] for s in seqs], [metric])
                    avg_t = average_curve([by_codec[test][s] for s in seqs], [metric])
                    entry.bd_rate, entry.bd_quality, why = _bd_pair(avg_a, avg_t, metric, method)
                    entry.sequences = entry.sequences_quality = len(seqs)
                    entry.undefined += [f"pooled: {w}" for w in why]
                entries.append(entry)
    return entries


def _fmt(v: float, digits: int = 2) -> str:
    return f"{v:+.{digits}f}" if math.isfinite(v) else "n/a"


def table_markdown(entries: Sequence[BDEntry], metrics: Sequence[str], *, method: str, averaging: str) -> str:
    """Table 1 layout: one row per (ours, anchor), one BD-rate column per quality axis; then the
    same table of BD-quality."""
    rows: dict[tuple[str, str], dict[str, BDEntry]] = defaultdict(dict)
    for e in entries:
        rows[(e.test, e.anchor)][e.metric] = e
    how = 'mean of per-sequence values' if averaging == 'per_sequence' else 'from the averaged curves'
    parts = []
    for title, value, count, digits, note in (
            ("BD-rate [%]", "bd_rate", "sequences", 2,
             "BD-rate in % of the codec against the anchor at equal quality (negative = fewer bits)"),
            ("BD-quality", "bd_quality", "sequences_quality", 4,
             "BD-quality: the codec's quality minus the anchor's at equal rate, in the axis' unit (BD-PSNR in dB; "
             "positive = better)")):
        header = ["Codec", "Anchor", *[quality_axis(m).label for m in metrics], "Sequences"]
        lines = [f"{title}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for (test, anchor), cells in rows.items():
            counts = sorted({getattr(c, count) for c in cells.values()})
            lines.append("| " + " | ".join([test, anchor, *[_fmt(getattr(cells[m], value), digits) if m in cells
                                                             else "n/a" for m in metrics],
                                            "/".join(str(c) for c in counts)]) + " |")
        parts.append("\n".join(lines) + f"\n\n{note}, {method} interpolation, {how}.\n")
    return "\n".join(parts)


def table_csv(entries: Sequence[BDEntry]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["codec", "anchor", "metric", "quality_axis", "bd_rate_percent", "sequences", "bd_quality",
                "sequences_quality", "undefined"])
    num = lambda v: f"{v:.6f}" if math.isfinite(v) else ""  # noqa: E731
    for e in entries:
        w.writerow([e.test, e.anchor, e.metric, quality_axis(e.metric).label, num(e.bd_rate), e.sequences,
                    num(e.bd_quality), e.sequences_quality, "; ".join(e.undefined)])
    return buf.getvalue()


def _points_csv(curves: dict[tuple[str, str], Curve], metrics: Sequence[str]) -> str:
    """Every measured point once (hull curves only repeat them), with the metrics whose convex
    hull it is on when there is a hull curve."""
    hull_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (seq, _), curve in curves.items():
        if curve.hull:
            for m in metrics:
                for label in curve.hull_labels(m):
                    hull_of[(seq, label)].append(m)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sequence", "codec", "rate_point", "kbps", *metrics, *(["on_hull_of"] if hull_of else [])])
    for (seq, codec), curve in sorted(curves.items()):
        if curve.hull:
            continue
        for p in sorted(curve.points, key=lambda p: p.kbps):
            extra = []
            if hull_of:
                extra = [" ".join(hull_of.get((seq, p.label), [])) if curve.kind == "ours" else ""]
            w.writerow([seq, codec, p.label, f"{p.kbps:.4f}",
                        *["" if p.metrics.get(m) is None else f"{p.metrics[m]:.6f}" for m in metrics], *extra])
    return buf.getvalue()


def rate_notes(records: Iterable[dict[str, Any]]) -> list[str]:
    """What the report must say about rates: target points outside their tolerance (unreachable
    targets) and what an anchor's QP range could not reach, once each."""
    notes: list[str] = []
    hit = total = 0
    worst = 0.0
    for r in sorted(records, key=lambda r: (r["sequence"]["name"], r["codec"]["name"], r["rate_point"]["label"])):
        rp, seq = r["rate_point"], r["sequence"]["name"]
        if "target_kbps" in rp and "achieved_kbps" in rp:
            total += 1
            hit += bool(rp.get("within_tolerance"))
            worst = max(worst, abs(rp["achieved_kbps"] / rp["target_kbps"] - 1.0))
            if not rp.get("within_tolerance"):
                notes.append(f"{seq}: {r['codec']['name']} {rp.get('message', '')}")
        for note in (rp.get("ladder") or {}).get("notes", []):
            notes.append(f"{seq}: {note}")
    notes = list(dict.fromkeys(notes))
    if total:
        notes.insert(0, f"target rates: {hit} of {total} points of ours within tolerance (largest deviation "
                        f"{100 * worst:.1f} %)")
    return notes


def write_report(results_dir: str | Path, report_dir: str | Path, metrics: Sequence[str] | None = None, *,
                 method: str = "pchip", averaging: str = "per_sequence", anchors: Sequence[str] | None = None,
                 plot_formats: Sequence[str] = ("png", "pdf"), hull: bool = True,
                 keep: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """BD-rate / BD-quality table (``bdrate.csv``, ``bdrate.md``), per-sequence values, RD points and
    RD plots of ``metrics`` (``None``: every metric the results hold); ``hull``: add the
    ``<label>@hull`` curves of codecs with several token steps; ``keep``: which result records to
    use, default all."""
    from dynamics_codec.bdrate.plots import plot_rd_curves
    from dynamics_codec.evaluation.results import iter_results

    report_dir = Path(report_dir)
    records = [r for r in iter_results(results_dir) if keep is None or keep(r)]
    if not records:
        raise InputError(f"no result files under {results_dir}; run the encode stage first (eval.stage=encode or all)")
    curves = collect_curves(records, Path(results_dir), hull=hull)
    present = reported_metrics(curves, metrics)
    entries = bd_table(curves, present, method=method, averaging=averaging, anchors=anchors)
    atomic_write_text(report_dir / "bdrate.csv", table_csv(entries))
    notes = rate_notes(records)
    atomic_write_text(report_dir / "bdrate.md", table_markdown(entries, present, method=method, averaging=averaging)
                      + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else ""))
    atomic_write_text(report_dir / "rd_points.csv", _points_csv(curves, present))
    per_seq = io.StringIO()
    w = csv.writer(per_seq, lineterminator="\n")
    w.writerow(["codec", "anchor", "metric", "sequence", "bd_rate_percent", "bd_quality"])
    num = lambda v: f"{v:.6f}" if math.isfinite(v) else ""  # noqa: E731
    for e in entries:
        for seq, v in sorted(e.per_sequence.items()):
            w.writerow([e.test, e.anchor, e.metric, seq, num(v), num(e.per_sequence_quality.get(seq, math.nan))])
    atomic_write_text(report_dir / "bdrate_per_sequence.csv", per_seq.getvalue())
    figures = plot_rd_curves(curves, present, report_dir / "plots", formats=plot_formats)
    return {"entries": entries, "curves": curves, "metrics": present, "figures": figures,
            "table": report_dir / "bdrate.md", "notes": notes}
