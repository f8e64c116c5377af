"""From result files to RD curves, BD-rates and the paper's Table 1 (CSV and Markdown).

Curves: each sequence has one curve per codec. Anchors give one curve (their QPs); our codec
gives one curve per token step over the key-frame QPs, named ``ours`` when there is a single
step and ``ours@step<S>`` otherwise (with target rates: per start step of the rate search).
Points of every codec made for one target rate share the label ``t<R>kbps`` (``curve_label``),
so averaged curves line up by target; an operating point measured twice (two unreachable
targets that land on one setting) counts once. Each point is (kbps, quality) with the quality axes of
:data:`~dynamics_codec.bdrate.bd.QUALITY_AXES`. With several token steps and ``hull=True``,
``ours@hull`` holds every (QP, step) point of the sequence and keeps, per metric, those on the
RD convex hull (:func:`~dynamics_codec.bdrate.bd.rd_convex_hull`): the codec at its best
settings.

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
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from dynamics_codec.bdrate.bd import bd_rate, quality_axis, rd_convex_hull
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.utils.files import atomic_write_text

__all__ = ["RDPoint", "Curve", "HULL_CURVE", "collect_curves", "average_curve", "BDEntry", "bd_table", "table_markdown",
           "table_csv", "AVERAGING_MODES", "rate_notes", "write_report"]

AVERAGING_MODES = ("per_sequence", "pooled")
HULL_CURVE = "ours@hull"


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
    """Result records -> ``{(sequence, curve name): Curve}``; with ``hull`` and several token
    steps, also each sequence's ``ours@hull`` curve over all of our points."""
    records = list(records)

    def step_of(r: dict[str, Any]):
        return r["rate_point"].get("search_step", r["rate_point"].get("token_step"))

    steps = {step_of(r) for r in records if r["codec"]["kind"] == "ours"}
    curves: dict[tuple[str, str], Curve] = {}
    for r in sorted(records, key=lambda r: r["rate_point"]["label"]):
        seq, codec, kind = r["sequence"]["name"], r["codec"]["name"], r["codec"]["kind"]
        if kind == "ours" and len(steps) > 1:
            codec = f"{codec}@step{float(step_of(r)):g}"
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
    if hull and len(steps) > 1:
        for (seq, _), curve in list(curves.items()):
            if curve.kind == "ours":
                combined = curves.setdefault((seq, HULL_CURVE), Curve(sequence=seq, codec=HULL_CURVE, kind="ours", hull=True))
                combined.points.extend(curve.points)
    return curves


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
    sequences: int  # sequences that contributed (per_sequence) or were pooled
    undefined: list[str] = field(default_factory=list)  # sequences skipped, with the reason
    per_sequence: dict[str, float] = field(default_factory=dict)


def _bd_or_nan(anchor: Curve, test: Curve, metric: str, method: str) -> tuple[float, str | None]:
    ra, qa = anchor.values(metric)
    rt, qt = test.values(metric)
    try:
        value = bd_rate(ra, qa, rt, qt, method=method)
    except InputError as exc:
        return math.nan, str(exc)
    return value, None if math.isfinite(value) else "quality ranges do not overlap"


def bd_table(curves: dict[tuple[str, str], Curve], metrics: Sequence[str], *, method: str = "pchip",
             averaging: str = "per_sequence", anchors: Sequence[str] | None = None) -> list[BDEntry]:
    """BD-rate of every ``ours*`` curve against every anchor curve, per metric."""
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
                        value, why = _bd_or_nan(by_codec[anchor][seq], by_codec[test][seq], metric, method)
                        entry.per_sequence[seq] = value
                        if why:
                            entry.undefined.append(f"{seq}: {why}")
                    finite = [v for v in entry.per_sequence.values() if math.isfinite(v)]
                    entry.sequences = len(finite)
                    entry.bd_rate = float(np.mean(finite)) if finite else math.nan
                elif seqs:
                    avg_a = average_curve([by_codec[anchor][s] for s in seqs], [metric])
                    avg_t = average_curve([by_codec[test][s] for s in seqs], [metric])
                    entry.bd_rate, why = _bd_or_nan(avg_a, avg_t, metric, method)
                    entry.sequences = len(seqs)
                    if why:
                        entry.undefined.append(f"pooled: {why}")
                entries.append(entry)
    return entries


def _fmt(v: float) -> str:
    return f"{v:+.2f}" if math.isfinite(v) else "n/a"


def table_markdown(entries: Sequence[BDEntry], metrics: Sequence[str], *, method: str, averaging: str) -> str:
    """Table 1 layout: one row per (ours, anchor), one BD-rate column per quality axis."""
    header = ["Codec", "Anchor", *[quality_axis(m).label for m in metrics], "Sequences"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows: dict[tuple[str, str], dict[str, BDEntry]] = defaultdict(dict)
    for e in entries:
        rows[(e.test, e.anchor)][e.metric] = e
    for (test, anchor), cells in rows.items():
        counts = sorted({c.sequences for c in cells.values()})
        lines.append("| " + " | ".join([test, anchor, *[_fmt(cells[m].bd_rate) if m in cells else "n/a" for m in metrics],
                                        "/".join(str(c) for c in counts)]) + " |")
    note = (f"\nBD-rate in % of the codec against the anchor (negative = fewer bits at equal quality), "
            f"{method} interpolation, {'mean of per-sequence BD-rates' if averaging == 'per_sequence' else 'BD-rate of the averaged curves'}.\n")
    return "\n".join(lines) + "\n" + note


def table_csv(entries: Sequence[BDEntry]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["codec", "anchor", "metric", "quality_axis", "bd_rate_percent", "sequences", "undefined"])
    for e in entries:
        w.writerow([e.test, e.anchor, e.metric, quality_axis(e.metric).label,
                    f"{e.bd_rate:.6f}" if math.isfinite(e.bd_rate) else "", e.sequences, "; ".join(e.undefined)])
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


def write_report(results_dir: str | Path, report_dir: str | Path, metrics: Sequence[str], *, method: str = "pchip",
                 averaging: str = "per_sequence", anchors: Sequence[str] | None = None,
                 plot_formats: Sequence[str] = ("png", "pdf"), hull: bool = True,
                 keep: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """BD-rate table (``bdrate.csv``, ``bdrate.md``), per-sequence BD-rates, RD points and RD plots
    (``hull``: add the ``ours@hull`` curve when there are several token steps; ``keep``: which
    result records to use, default all)."""
    from dynamics_codec.bdrate.plots import plot_rd_curves
    from dynamics_codec.evaluation.results import iter_results

    report_dir = Path(report_dir)
    records = [r for r in iter_results(results_dir) if keep is None or keep(r)]
    if not records:
        raise InputError(f"no result files under {results_dir}; run the encode stage first")
    curves = collect_curves(records, Path(results_dir), hull=hull)
    present = [m for m in metrics if any(p.metrics.get(m) is not None for c in curves.values() for p in c.points)]
    entries = bd_table(curves, present, method=method, averaging=averaging, anchors=anchors)
    atomic_write_text(report_dir / "bdrate.csv", table_csv(entries))
    notes = rate_notes(records)
    atomic_write_text(report_dir / "bdrate.md", table_markdown(entries, present, method=method, averaging=averaging)
                      + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else ""))
    atomic_write_text(report_dir / "rd_points.csv", _points_csv(curves, present))
    per_seq = io.StringIO()
    w = csv.writer(per_seq, lineterminator="\n")
    w.writerow(["codec", "anchor", "metric", "sequence", "bd_rate_percent"])
    for e in entries:
        for seq, v in sorted(e.per_sequence.items()):
            w.writerow([e.test, e.anchor, e.metric, seq, f"{v:.6f}" if math.isfinite(v) else ""])
    atomic_write_text(report_dir / "bdrate_per_sequence.csv", per_seq.getvalue())
    figures = plot_rd_curves(curves, present, report_dir / "plots", formats=plot_formats)
    return {"entries": entries, "curves": curves, "metrics": present, "figures": figures,
            "table": report_dir / "bdrate.md", "notes": notes}
