"""Report: result records with known curves -> BD table (per-sequence and pooled), CSV/Markdown, plots."""

import csv
import io
import math

import numpy as np
import pytest

from dynamics_codec.bdrate import bd_table, collect_curves, table_csv, table_markdown, write_report
from dynamics_codec.evaluation.results import ours_label, result_path, write_result

RATES = np.array([10.0, 20.0, 40.0, 80.0])
PSNR = np.array([28.0, 31.0, 34.0, 37.0])


def _record(seq, codec, label, kbps, psnr, dists, step=0.1, kind=None, **metrics):
    kind = kind or ("anchor" if codec in ("x265", "vtm_ldb") else "ours")
    rp = {"label": label, "keyframe_qp": 0, "token_step": step} if kind == "ours" else {"label": label, "qp": 0}
    return {"sequence": {"name": seq}, "codec": {"name": codec, "kind": kind, "fingerprint": "x"}, "rate_point": rp,
            "kbps": kbps, "bits": {"total": int(kbps * 1000)}, "metrics": {"psnr": psnr, "dists": dists, **metrics}}


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


PSNR_CONCAVE = np.array([28.0, 32.0, 35.0, 37.0])  # concave in log rate: no point on a straight hull edge
DISTS_CONCAVE = np.array([0.4, 0.3, 0.23, 0.2])


def _two_step_records():
    """Step 0.1 saves 30 % at the two lower qualities and costs 30 % more at the two higher ones;
    step 0.4 the other way round. At each quality, the better step is the hull's point."""
    out = []
    for i, (r, p, d) in enumerate(zip(RATES, PSNR_CONCAVE, DISTS_CONCAVE)):
        out.append(_record("a", "x265", f"qp{i}", r, p, d))
        low, high = (0.7, 1.3) if i < 2 else (1.3, 0.7)
        out.append(_record("a", "ours", ours_label(i, 0.1), r * low, p, d, step=0.1))
        out.append(_record("a", "ours", ours_label(i, 0.4), r * high, p, d, step=0.4))
    return out


def test_hull_curve_takes_the_best_step_at_each_quality():
    curves = collect_curves(_two_step_records(), hull=True)
    assert set(curves) == {("a", "x265"), ("a", "ours@step0.1"), ("a", "ours@step0.4"), ("a", "ours@hull")}
    hull = curves[("a", "ours@hull")]
    assert hull.hull_labels("psnr") == [ours_label(0, 0.1), ours_label(1, 0.1), ours_label(2, 0.4), ours_label(3, 0.4)]
    rates, quality = hull.values("psnr")
    assert rates == pytest.approx(RATES * 0.7) and quality == pytest.approx(PSNR_CONCAVE)
    entries = {e.test: e.bd_rate for e in bd_table(curves, ["psnr"])}
    assert entries["ours@hull"] == pytest.approx(-30.0, abs=1e-9)
    assert entries["ours@hull"] < min(entries["ours@step0.1"], entries["ours@step0.4"])
    pooled = {e.test: e.bd_rate for e in bd_table(curves, ["psnr"], averaging="pooled")}
    assert pooled["ours@hull"] == pytest.approx(-30.0, abs=1e-9)
    assert ("a", "ours@hull") not in collect_curves(_two_step_records(), hull=False)
    assert ("a", "ours@hull") not in collect_curves(_records({"a": 0.1}), hull=True)  # one step: nothing to choose


def test_rd_points_mark_hull_membership_once(tmp_path):
    results = tmp_path / "results"
    for r in _two_step_records():
        write_result(result_path(results, r["sequence"]["name"], r["codec"]["name"], r["rate_point"]["label"]), r)
    write_report(results, tmp_path / "report", ["psnr", "dists"], plot_formats=("png",))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "rd_points.csv").read_text())))
    assert len(rows) == 12 and {r["codec"] for r in rows} == {"x265", "ours@step0.1", "ours@step0.4"}
    on_hull = {r["rate_point"]: r["on_hull_of"] for r in rows if r["codec"].startswith("ours")}
    assert on_hull[ours_label(0, 0.1)] == "psnr dists" and on_hull[ours_label(0, 0.4)] == ""
    assert on_hull[ours_label(3, 0.4)] == "psnr dists" and on_hull[ours_label(3, 0.1)] == ""
    table = (tmp_path / "report" / "bdrate.md").read_text()
    assert "| ours@hull | x265 | -30.00 | -30.00 | 1 |" in table


def test_several_codecs_share_one_table_with_their_own_hulls():
    """Two checkpoints / ablations (eval.label) side by side; each with several steps gets its hull."""
    records = _records({"a": 0.1})
    for i, (r, p) in enumerate(zip(RATES, PSNR)):
        d = 0.4 - 0.05 * i
        records.append(_record("a", "ablation", ours_label(i, 0.1), r * 0.6, p, d, step=0.1))
        records.append(_record("a", "ablation", ours_label(i, 0.2), r * 0.5, p, d, step=0.2))
    curves = collect_curves(records, hull=True)
    assert set(curves) == {("a", "x265"), ("a", "ours"), ("a", "ablation@step0.1"), ("a", "ablation@step0.2"),
                           ("a", "ablation@hull")}
    entries = {e.test: e.bd_rate for e in bd_table(curves, ["psnr"])}
    assert entries == pytest.approx({"ours": -10.0, "ablation@step0.1": -40.0, "ablation@step0.2": -50.0,
                                     "ablation@hull": -50.0}, abs=1e-9)
    md = table_markdown(bd_table(curves, ["psnr"]), ["psnr"], method="pchip", averaging="per_sequence")
    assert "| ours | x265 | -10.00 | 1 |" in md and "| ablation@hull | x265 | -50.00 | 1 |" in md


def test_report_has_every_computed_metric_by_default(tmp_path):
    results = tmp_path / "results"
    for r in _records({"a": 0.25}):
        r["metrics"].update(ms_ssim=0.9 + 0.01 * r["metrics"]["psnr"] / 40, psnr_y=r["metrics"]["psnr"] + 1, lpips=None)
        write_result(result_path(results, r["sequence"]["name"], r["codec"]["name"], r["rate_point"]["label"]), r)
    rep = write_report(results, tmp_path / "report", plot_formats=("png",))
    assert rep["metrics"] == ["dists", "psnr", "psnr_y", "ms_ssim"]  # the paper's axes first; lpips never measured
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "bdrate.csv").read_text())))
    assert [r["metric"] for r in rows] == rep["metrics"]
    assert all(float(r["bd_rate_percent"]) == pytest.approx(-25.0, abs=1e-6) for r in rows)
    assert "| Codec | Anchor | 1-DISTS | PSNR RGB [dB] | PSNR Y [dB] | MS-SSIM | Sequences |" in rep["table"].read_text()
    assert (tmp_path / "report" / "plots" / "rd_ms_ssim_average.png").is_file()


def test_bd_quality_where_qualities_do_not_overlap(tmp_path):
    """Equal rates, the codec 10 dB better everywhere: no BD-rate (the PSNR ranges are disjoint) but
    BD-PSNR +10 dB; the reverse case (disjoint rates) has BD-rate and no BD-quality."""
    records = []
    for i, (r, p) in enumerate(zip(RATES, PSNR)):
        records.append(_record("a", "x265", f"qp{i}", r, p, 0.3))
        records.append(_record("a", "ours", ours_label(i, 0.1), r, p + 10.0, 0.3 - 0.01 * i))
    (entry,) = bd_table(collect_curves(records), ["psnr"])
    assert math.isnan(entry.bd_rate) and entry.sequences == 0
    assert entry.bd_quality == pytest.approx(10.0, abs=1e-9) and entry.sequences_quality == 1
    assert entry.undefined == ["a: BD-rate: quality ranges do not overlap"]
    (pooled,) = bd_table(collect_curves(records), ["psnr"], averaging="pooled")
    assert math.isnan(pooled.bd_rate) and pooled.bd_quality == pytest.approx(10.0, abs=1e-9)
    md = table_markdown([entry], ["psnr"], method="pchip", averaging="per_sequence")
    assert "| ours | x265 | n/a | 0 |" in md and "| ours | x265 | +10.0000 | 1 |" in md
    row = next(csv.DictReader(io.StringIO(table_csv([entry]))))
    assert row["bd_rate_percent"] == "" and float(row["bd_quality"]) == pytest.approx(10.0)

    records = []
    for i, (r, p) in enumerate(zip(RATES, PSNR)):
        records.append(_record("a", "x265", f"qp{i}", r, p, 0.3))
        records.append(_record("a", "ours", ours_label(i, 0.1), r * 100, p, 0.3 - 0.01 * i))
    (entry,) = bd_table(collect_curves(records), ["psnr"])
    assert entry.bd_rate == pytest.approx(9900.0, rel=1e-9) and math.isnan(entry.bd_quality)
    assert entry.undefined == ["a: BD-quality: rate ranges do not overlap"]
