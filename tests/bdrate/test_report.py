"""Report: result records with known curves -> BD table (per-sequence and pooled), CSV/Markdown, plots."""

import csv
import io

import numpy as np
import pytest

from dynamics_codec.bdrate import bd_table, collect_curves, table_markdown, write_report
from dynamics_codec.evaluation.results import ours_label, result_path, write_result

RATES = np.array([10.0, 20.0, 40.0, 80.0])
PSNR = np.array([28.0, 31.0, 34.0, 37.0])


def _record(seq, codec, label, kbps, psnr, dists):
    kind = "ours" if codec == "ours" else "anchor"
    rp = {"label": label, "keyframe_qp": 0, "token_step": 0.1} if kind == "ours" else {"label": label, "qp": 0}
    return {"sequence": {"name": seq}, "codec": {"name": codec, "kind": kind, "fingerprint": "x"}, "rate_point": rp,
            "kbps": kbps, "bits": {"total": int(kbps * 1000)}, "metrics": {"psnr": psnr, "dists": dists}}


def _records(savings):
    """Per sequence, ours needs (1 - saving) of the anchor's rate at every quality."""
    out = []
    for seq, saving in savings.items():
        for i, (r, p) in enumerate(zip(RATES, PSNR)):
            d = 0.4 - 0.05 * i
            out.append(_record(seq, "x265", f"qp{i}", r, p, d))
            out.append(_record(seq, "ours", ours_label(i, 0.1), r * (1 - saving), p, d))
    return out


def test_per_sequence_mean_and_pooled():
    curves = collect_curves(_records({"a": 0.1, "b": 0.3}))
    entries = {e.metric: e for e in bd_table(curves, ["psnr", "dists"])}
    assert entries["psnr"].bd_rate == pytest.approx(-20.0, abs=1e-9)  # mean of -10 and -30
    assert entries["psnr"].per_sequence == pytest.approx({"a": -10.0, "b": -30.0})
    assert entries["dists"].bd_rate == pytest.approx(-20.0, abs=1e-9) and entries["dists"].sequences == 2
    pooled = {e.metric: e for e in bd_table(curves, ["psnr"], averaging="pooled")}
    assert pooled["psnr"].bd_rate == pytest.approx(-20.0, abs=1e-9)  # mean rates 0.8x at identical qualities
    md = table_markdown(list(entries.values()), ["dists", "psnr"], method="pchip", averaging="per_sequence")
    assert "| ours | x265 | -20.00 | -20.00 | 2 |" in md and "1-DISTS" in md


def test_write_report_files(tmp_path):
    results = tmp_path / "results"
    for r in _records({"a": 0.25}):
        write_result(result_path(results, r["sequence"]["name"], r["codec"]["name"], r["rate_point"]["label"]), r)
    rep = write_report(results, tmp_path / "report", ["dists", "lpips", "psnr"], plot_formats=("png",))
    assert rep["metrics"] == ["dists", "psnr"]  # lpips absent from every record
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "bdrate.csv").read_text())))
    assert {r["metric"] for r in rows} == {"dists", "psnr"}
    assert float(rows[0]["bd_rate_percent"]) == pytest.approx(-25.0, abs=1e-6)
    assert (tmp_path / "report" / "plots" / "rd_psnr_average.png").stat().st_size > 1000
    assert (tmp_path / "report" / "plots" / "a" / "rd_dists.png").is_file()
