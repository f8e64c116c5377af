"""Target-rate points in the plan and the report: ladder jobs, duplicates counted once, averaging by target,
notes on missed targets and on what an anchor cannot reach."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from dynamics_codec.bdrate import average_curve, bd_table, collect_curves
from dynamics_codec.bdrate.report import rate_notes
from dynamics_codec.errors import ConfigError
from dynamics_codec.evaluation import plan_jobs


def _cfg(targets, steps=(0.1,)):
    return OmegaConf.create({"rate_points": {"target_kbps": targets, "keyframe_qps": [32, 37], "token_steps": list(steps)},
                             "anchors": {"x265": {"name": "x265", "qps": [32, 37]},
                                         "static": {"name": "static", "qps": [32, 37]}},
                             "eval": {"label": "ours", "anchors": ["static", "x265"], "shard": {"index": 0, "count": 1}}})


def test_plan_with_target_rates():
    jobs = plan_jobs(["a", "b"], _cfg([10, 5, 7.5], steps=(0.1, 0.2)))
    ours = [j for j in jobs if j.codec == "ours"]
    assert [j.label for j in ours[:6]] == ["t5kbps_step0.1", "t5kbps_step0.2", "t7.5kbps_step0.1", "t7.5kbps_step0.2",
                                           "t10kbps_step0.1", "t10kbps_step0.2"]
    assert ours[0].params == {"target_kbps": 5.0, "token_step": 0.1}
    ladders = [j for j in jobs if j.codec != "ours"]
    assert [(j.sequence, j.codec, j.label) for j in ladders] == [("a", "static", "ladder"), ("a", "x265", "ladder"),
                                                                 ("b", "static", "ladder"), ("b", "x265", "ladder")]
    assert ladders[0].params["targets"] == [5.0, 7.5, 10.0]
    assert len(plan_jobs(["a"], _cfg(None))) == 2 + 2 + 2  # QP mode unchanged
    for bad in ([], [0, 5], "fast"):
        with pytest.raises(ConfigError, match=r"rate_points\.target_kbps"):
            plan_jobs(["a"], _cfg(bad))


def _ours(seq, target, kbps, psnr, qp, step=0.1, within=True, message="ok"):
    return {"sequence": {"name": seq}, "codec": {"name": "ours", "kind": "ours"}, "kbps": kbps,
            "metrics": {"psnr": psnr},
            "rate_point": {"label": f"t{target:g}kbps_step{step:g}", "target_kbps": target, "keyframe_qp": qp,
                           "token_step": step, "search_step": 0.1, "achieved_kbps": kbps, "within_tolerance": within,
                           "message": message, "curve_label": f"t{target:g}kbps"}}


def _anchor(seq, qp, kbps, psnr, targets, notes=()):
    return {"sequence": {"name": seq}, "codec": {"name": "x265", "kind": "anchor"}, "kbps": kbps,
            "metrics": {"psnr": psnr},
            "rate_point": {"label": f"qp{qp}", "qp": qp, "targets_kbps": targets,
                           "curve_label": f"t{targets[0]:g}kbps" if targets else f"qp{qp}",
                           "ladder": {"qps": [], "notes": list(notes)}}}


def test_curves_notes_and_averaging_by_target():
    missed = "UNREACHABLE target 2 kbps: 4.000 kbps at qp 51, step 2"
    records = [
        # sequence a: targets 2 and 4 land on one setting (2 is unreachable): one point
        _ours("a", 2, 4.0, 30.0, 51, 2.0, within=False, message=missed), _ours("a", 4, 4.0, 30.0, 51, 2.0),
        _ours("a", 8, 8.2, 33.0, 45), _ours("a", 16, 15.5, 36.0, 40),
        _ours("b", 2, 2.1, 29.0, 50), _ours("b", 4, 4.1, 31.0, 47), _ours("b", 8, 7.8, 33.5, 44),
        _ours("b", 16, 16.3, 36.5, 39),
        # x265 QPs differ per clip; they line up by the target they were chosen for
        _anchor("a", 51, 5.0, 29.0, [2, 4], notes=["x265: target 2 kbps -> qp 51 at 5.000 kbps; UNREACHABLE: x265 "
                                                   "cannot go below 5.000 kbps on this clip (qp 51 is its coarsest)"]),
        _anchor("a", 46, 8.0, 32.0, [8]), _anchor("a", 41, 16.0, 35.0, [16]),
        _anchor("b", 49, 2.0, 28.0, [2]), _anchor("b", 47, 4.0, 30.0, [4]), _anchor("b", 44, 8.0, 32.5, [8]),
        _anchor("b", 40, 16.0, 35.5, [16]), _anchor("b", 52, 1.8, 27.5, []),
    ]
    curves = collect_curves(records)
    assert [p.kbps for p in sorted(curves[("a", "ours")].points, key=lambda p: p.kbps)] == [4.0, 8.2, 15.5]
    avg = average_curve([curves[("a", "x265")], curves[("b", "x265")]], ["psnr"])
    assert sorted(p.label for p in avg.points) == ["t16kbps", "t2kbps", "t8kbps"]  # qp52 only in b; t4 only in b
    assert {p.label: p.kbps for p in avg.points}["t8kbps"] == pytest.approx(8.0)
    entries = bd_table(curves, ["psnr"], averaging="pooled")
    assert entries[0].sequences == 2 and math.isfinite(entries[0].bd_rate)
    per_seq = bd_table(curves, ["psnr"])[0]
    assert set(per_seq.per_sequence) == {"a", "b"} and not per_seq.undefined
    notes = rate_notes(records)
    assert notes[0] == "target rates: 7 of 8 points of ours within tolerance (largest deviation 100.0 %)"
    assert f"a: ours {missed}" in notes and any("x265 cannot go below 5.000 kbps" in n for n in notes)
    assert len(notes) == len(set(notes))


def test_shards_keep_a_clips_target_points_together():
    cfg = _cfg([5, 10, 15], steps=(0.1, 0.2))
    everything = plan_jobs(["a", "b", "c"], cfg)
    shards = []
    for i in range(4):
        cfg.eval.shard = {"index": i, "count": 4}
        shards.append(plan_jobs(["a", "b", "c"], cfg))
    keys = sorted((j.sequence, j.codec, j.label) for s in shards for j in s)
    assert keys == sorted((j.sequence, j.codec, j.label) for j in everything) and len(set(keys)) == len(keys)
    for seq in "abc":
        for step in (0.1, 0.2):
            owners = {i for i, s in enumerate(shards) for j in s
                      if j.codec == "ours" and j.sequence == seq and j.params["token_step"] == step}
            assert len(owners) == 1


def test_the_report_keeps_the_configured_rate_points_only():
    from dynamics_codec.evaluation.runner import report_filter

    qp_mode = {"sequence": {"name": "a"}, "codec": {"name": "ours", "kind": "ours"},
               "rate_point": {"label": "kqp37_step0.1", "keyframe_qp": 37, "token_step": 0.1}}
    qp_anchor = {"sequence": {"name": "a"}, "codec": {"name": "x265", "kind": "anchor"},
                 "rate_point": {"label": "qp37", "qp": 37}}
    now = _ours("a", 10, 10.2, 33.0, 40)
    old_target = _ours("a", 12, 12.0, 34.0, 39)
    ladder_now = _anchor("a", 44, 10.0, 33.0, [10])
    ladder_now["rate_point"]["ladder"]["targets"] = [5.0, 10.0]
    ladder_old = _anchor("a", 45, 9.0, 32.0, [9])
    ladder_old["rate_point"]["ladder"]["targets"] = [9.0]
    records = [qp_mode, qp_anchor, now, old_target, ladder_now, ladder_old]
    keep = report_filter(_cfg([10, 5]))
    assert [r for r in records if keep(r)] == [now, ladder_now]
    keep = report_filter(_cfg(None))
    assert [r for r in records if keep(r)] == [qp_mode, qp_anchor]
