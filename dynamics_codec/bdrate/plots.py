"""RD curves with matplotlib (Agg backend): one figure per metric, per sequence and averaged.

Files: ``<out>/rd_<metric>_average.<fmt>`` (curves averaged over sequences per rate point, as in
:func:`~dynamics_codec.bdrate.report.average_curve`) and ``<out>/<sequence>/rd_<metric>.<fmt>``.
x: total rate in kbit/s (log scale, plain-number tick labels: :func:`format_rate_axis`), y: the
metric's higher-is-better quality axis. A convex-hull curve (``<label>@hull``) is drawn as a wide
grey envelope under the curves it picks its points from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

__all__ = ["plot_rd_curves", "plot_curve_set", "format_rate_axis"]


def format_rate_axis(ax, rates: Sequence[float]) -> None:
    """A log x axis labelled with plain numbers (``3.5``, ``40``, ``0.5``), as many as fit: a few
    nice linear steps when ``rates`` span less than half a decade, mantissas 1-5 and 7 up to 1.2
    decades, 1, 2 and 5 up to 2.5 decades, the decades beyond (matplotlib's default writes
    ``3x10^0 4x10^0`` under a decade, and the labels overlap)."""
    from matplotlib import ticker

    positive = [r for r in rates if r > 0 and math.isfinite(r)] or [1.0, 10.0]
    lo, hi = min(positive), max(positive)
    span = math.log10(hi / lo)
    ax.set_xscale("log")
    if span < 0.5:  # a few nice linear steps (3.5 4 4.5)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    else:
        shown = (1, 2, 3, 4, 5, 7) if span < 1.2 else (1, 2, 5) if span < 2.5 else (1,)
        decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        ax.xaxis.set_major_locator(ticker.FixedLocator([m * 10.0**e for e in decades for m in shown]))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:.6g}"))
    ax.xaxis.set_minor_locator(ticker.LogLocator(base=10, subs=tuple(range(2, 10))))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def plot_curve_set(curves: Sequence, metric: str, title: str, path_stem: Path, formats: Sequence[str]) -> list[Path]:
    """One figure of ``curves`` (``Curve`` objects) on ``metric``'s quality axis; returns the files written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from dynamics_codec.bdrate.bd import quality_axis
    from dynamics_codec.utils.files import atomic_output_path

    fig, ax = plt.subplots(figsize=(4.8, 3.6), dpi=150)
    all_rates: list[float] = []
    for curve in sorted(curves, key=lambda c: (c.kind != "ours", c.codec)):
        rates, quality = curve.values(metric)
        if not len(rates):
            continue
        all_rates += [float(r) for r in rates]
        if getattr(curve, "hull", False):  # the envelope under the per-setting curves it picks from
            ax.plot(rates, quality, color="black", linewidth=4, alpha=0.3, solid_capstyle="round", zorder=1,
                    label=curve.codec)
        else:
            ax.plot(rates, quality, marker="o" if curve.kind == "ours" else "s",
                    linestyle="-" if curve.kind == "ours" else "--", label=curve.codec, zorder=2)
    format_rate_axis(ax, all_rates)
    ax.set_xlabel("rate [kbit/s]")
    ax.set_ylabel(quality_axis(metric).label)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written = []
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        target = path_stem.with_name(f"{path_stem.name}.{fmt}")
        with atomic_output_path(target) as tmp:
            fig.savefig(tmp, format=fmt)
        written.append(target)
    plt.close(fig)
    return written


def plot_rd_curves(curves: dict, metrics: Sequence[str], out_dir: str | Path,
                   formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Every per-sequence and averaged RD figure for ``metrics``."""
    from dynamics_codec.bdrate.report import average_curve

    out_dir = Path(out_dir)
    by_seq: dict[str, list] = defaultdict(list)
    by_codec: dict[str, list] = defaultdict(list)
    for (seq, codec), curve in curves.items():
        by_seq[seq].append(curve)
        by_codec[codec].append(curve)
    written: list[Path] = []
    for metric in metrics:
        averaged = [average_curve(cs, [metric]) for cs in by_codec.values()]
        n = len(by_seq)
        written += plot_curve_set(averaged, metric, f"average over {n} sequence{'s' * (n != 1)}",
                                  out_dir / f"rd_{metric}_average", formats)
        for seq, cs in sorted(by_seq.items()):
            written += plot_curve_set(cs, metric, seq, out_dir / seq / f"rd_{metric}", formats)
    return written
