"""scripts/eval_bdrate.py end to end on CPU: 2 synthetic 64x64x6 clips, our weightless codec (tiny
networks, x265 key frames) at 2 rate points, the x265 anchor at 2 QPs; JSON files, table, plots,
resume, report-only stage, and metrics with missing weights skipped (FVD through a scripted stand-in)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dynamics_codec.bitstream import parse_stream
from dynamics_codec.evaluation import iter_results

ROOT = Path(__file__).resolve().parents[2]


class _TinyI3D(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(6, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = True) -> torch.Tensor:
        return self.proj(torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1))


def _run(tmp_path, *extra):
    cmd = [sys.executable, str(ROOT / "scripts" / "eval_bdrate.py"), "experiment=tiny", f"sequences={tmp_path / 'seqs'}",
           "keyframe=x265", "keyframe.preset=ultrafast", "video.size=null", "video.num_frames=null",
           "rate_points.keyframe_qps=[27,42]", "rate_points.token_steps=[0.1]", "eval.anchors=[x265]", "anchors.x265.qps=[32,47]",
           "anchors.x265.preset=ultrafast", "eval.workers=2", "eval.progress=false",
           "eval.metrics.names=[psnr,ms_ssim,lpips,dists,fvd]", "eval.metrics.allow_missing=true",
           f"eval.metrics.weights_dir={tmp_path / 'no_weights'}", f"eval.metrics.fvd.i3d_path={tmp_path / 'i3d.pt'}",
           "eval.metrics.fvd.window=4", "eval.metrics.fvd.stride=2", "eval.report.plot_formats=[png,pdf]",
           f"eval.output_root={tmp_path / 'eval'}", f"eval.anchor_cache_dir={tmp_path / 'cache'}",
           f"hydra.run.dir={tmp_path / 'hydra'}", *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TORCH_HOME": str(tmp_path / "torch_home"), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_eval_bdrate_end_to_end(tmp_path, write_sequences):
    write_sequences(tmp_path / "seqs", ("astronaut", "coffee"))
    torch.manual_seed(0)
    torch.jit.script(_TinyI3D()).save(str(tmp_path / "i3d.pt"))

    out = _run(tmp_path)
    assert "8 to do" in out
    results = tmp_path / "eval" / "results"
    records = list(iter_results(results))
    assert len(records) == 8  # 2 sequences x (2 ours + 2 anchor points)
    for r in records:
        assert {"sequence", "codec", "rate_point", "bits", "kbps", "metrics", "per_frame", "fvd", "timings",
                "versions", "metric_settings"} <= set(r)
        fps, frames = r["sequence"]["fps"], r["sequence"]["frames"]
        assert r["kbps"] == pytest.approx(r["bits"]["total"] * fps / frames / 1000)
        assert len(r["per_frame"]["psnr"]) == frames == 6 and len(r["per_frame"]["ms_ssim"]) == 6
        assert set(r["metric_settings"]["skipped"]) == {"lpips", "dists"}  # no backbone weights here
        assert "alexnet-owt-7be5be79.pth" in r["metric_settings"]["skipped"]["lpips"]
        assert r["fvd"]["num_windows"] == 2 and r["fvd"]["window"] == 4 and r["metrics"]["fvd"] is not None
        assert 5 < r["metrics"]["psnr"] < 60 and 0 < r["metrics"]["ms_ssim"] <= 1
    ours = [r for r in records if r["codec"]["kind"] == "ours"]
    for r in ours:
        stream = (results / r["result_file"]).with_suffix(".dcv").read_bytes()
        assert r["bits"]["total"] == 8 * len(stream) == parse_stream(stream).bits["total"]
        assert r["bits"]["keyframe"] + r["bits"]["motion"] + r["bits"]["header"] == r["bits"]["total"]
    anchors = [r for r in records if r["codec"]["kind"] == "anchor"]
    assert {r["rate_point"]["qp"] for r in anchors} == {32, 47} and all("x265" in r["codec"]["version"] for r in anchors)
    # a finer key frame costs more bits (same sequence)
    by = {(r["sequence"]["name"], r["rate_point"]["label"]): r for r in ours}
    assert by[("clip0", "kqp27_step0.1")]["bits"]["keyframe"] > by[("clip0", "kqp42_step0.1")]["bits"]["keyframe"]

    report = tmp_path / "eval" / "report"
    table = (report / "bdrate.md").read_text()
    # every computed metric (lpips and dists were skipped: no weights), BD-rate and BD-quality
    assert "| Codec | Anchor | 5000-FVD | PSNR RGB [dB] | PSNR Y [dB] | MS-SSIM | Sequences |" in table
    assert "BD-quality:" in table and table.count("| untrained | x265 |") == 2  # the label of model.checkpoint=null
    assert (report / "bdrate.csv").read_text().startswith("codec,anchor,metric")
    assert len((report / "rd_points.csv").read_text().splitlines()) == 1 + 8
    for fmt in ("png", "pdf"):
        assert (report / "plots" / f"rd_psnr_average.{fmt}").stat().st_size > 1000
        assert (report / "plots" / "clip1" / f"rd_fvd.{fmt}").is_file()

    # resumable: nothing is recomputed, the report is rebuilt
    first_mtimes = {p: p.stat().st_mtime_ns for p in results.glob("*/*/*.json")}
    out = _run(tmp_path, "eval.stage=all")
    assert "8 already finished, 0 to do" in out
    assert {p: p.stat().st_mtime_ns for p in results.glob("*/*/*.json")} == first_mtimes
    # report-only stage with pooled averaging
    out = _run(tmp_path, "eval.stage=report", "eval.report.averaging=pooled")
    assert "from the averaged curves" in (report / "bdrate.md").read_text()
    assert "to do" not in out

    # a second codec (an ablation under its own label) joins the same results and table; nothing is redone
    out = _run(tmp_path, "eval.label=no_prediction", "entropy.alpha=0.0")
    assert "8 points in this shard, 4 already finished, 4 to do" in out
    assert {p: p.stat().st_mtime_ns for p in results.glob("*/*/*.json") if p.parent.name != "no_prediction"} == first_mtimes
    assert len(list(iter_results(results))) == 12
    table = (report / "bdrate.md").read_text()
    assert table.count("| untrained | x265 |") == 2 and table.count("| no_prediction | x265 |") == 2


def test_codec_label_defaults_to_the_model_name():
    from omegaconf import OmegaConf

    from dynamics_codec.evaluation import codec_label

    def label(checkpoint, explicit=None):
        return codec_label(OmegaConf.create({"model": {"checkpoint": checkpoint}, "eval": {"label": explicit}}))

    assert label("builtin:demo") == "demo" and label(None) == "untrained"
    assert label("outputs/train/2026-01-02_03-04-05/checkpoints/best") == "2026-01-02_03-04-05-best"
    assert label("/models/sway_v2/") == "sway_v2" and label("builtin:demo", "ablation_a") == "ablation_a"


def test_shards_partition_the_points():
    from omegaconf import OmegaConf

    from dynamics_codec.evaluation import plan_jobs

    def cfg(index, count):
        return OmegaConf.create({"rate_points": {"keyframe_qps": [32, 37], "token_steps": [0.1, 0.2]},
                                 "anchors": {"x265": {"name": "x265", "qps": [32, 37, 42]}},
                                 "eval": {"anchors": ["x265"], "shard": {"index": index, "count": count}}})

    everything = plan_jobs(["a", "b"], cfg(0, 1))
    assert len(everything) == 2 * (4 + 3)
    shards = [plan_jobs(["a", "b"], cfg(i, 3)) for i in range(3)]
    keys = [(j.sequence, j.codec, j.label) for s in shards for j in s]
    assert sorted(keys) == sorted((j.sequence, j.codec, j.label) for j in everything) and len(set(keys)) == len(keys)
    with pytest.raises(Exception, match="shard"):
        plan_jobs(["a"], cfg(3, 3))


def test_smoke_experiment_prints_bd_numbers(tmp_path, write_sequences):
    """experiment=smoke_eval (the README's CPU smoke evaluation) at a smaller frame size: the shipped
    model on the first 2 of 3 sequences, 10 frames, against x265; a finite BD-quality per metric."""
    write_sequences(tmp_path / "seqs", ("astronaut", "coffee", "chelsea"), size=128, num_frames=12,
                    max_displacement=3.0)
    cmd = [sys.executable, str(ROOT / "scripts" / "eval_bdrate.py"), "experiment=smoke_eval", "sequences=seqs",
           "video.size=128", "keyframe.preset=ultrafast", "anchors.x265.preset=ultrafast", f"hydra.run.dir={tmp_path / 'h'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "eval: 2 sequences, 16 points" in proc.stdout
    records = list(iter_results(tmp_path / "outputs" / "eval_smoke" / "results"))
    assert {r["sequence"]["name"] for r in records} == {"clip0", "clip1"} and len(records) == 16
    assert all(r["sequence"]["frames"] == 10 for r in records)
    ours = [r for r in records if r["codec"]["kind"] == "ours"]
    assert {r["codec"]["name"] for r in ours} == {"corpus"} and "builtin:corpus" in ours[0]["codec"]["version"]
    rows = {row.split(",")[2]: row.split(",") for row in
            (tmp_path / "outputs" / "eval_smoke" / "report" / "bdrate.csv").read_text().splitlines()[1:]}
    assert set(rows) == {"psnr", "psnr_y", "ms_ssim"}
    for metric, row in rows.items():
        assert row[:2] == ["corpus", "x265"] and math.isfinite(float(row[6])), row  # BD-quality
    assert "| corpus | x265 |" in proc.stdout and "BD-quality:" in proc.stdout
