"""BD-rate (pchip / cubic / akima through ``bjontegaard``), RD curves and the results table.

Sign convention: negative BD-rate = the tested codec needs fewer bits than the anchor at
equal quality. Default averaging: BD-rate per sequence, then the mean (``pooled`` selectable).
With several token steps, ``<label>@hull`` is our codec at its best (QP, step) settings per metric.
"""

from dynamics_codec.bdrate.bd import (
    INTERPOLATIONS,
    QUALITY_AXES,
    bd_quality,
    bd_rate,
    curve_overlap,
    quality_axis,
    rd_convex_hull,
)
from dynamics_codec.bdrate.report import (
    AVERAGING_MODES,
    HULL_SUFFIX,
    REPORT_ORDER,
    BDEntry,
    Curve,
    RDPoint,
    average_curve,
    bd_table,
    collect_curves,
    rate_notes,
    reported_metrics,
    table_csv,
    table_markdown,
    write_report,
)

__all__ = [
    "INTERPOLATIONS", "QUALITY_AXES", "bd_rate", "bd_quality", "curve_overlap", "quality_axis", "rd_convex_hull",
    "AVERAGING_MODES", "HULL_SUFFIX", "REPORT_ORDER", "BDEntry", "Curve", "RDPoint", "average_curve", "bd_table",
    "collect_curves", "rate_notes", "reported_metrics", "table_csv", "table_markdown", "write_report",
]
