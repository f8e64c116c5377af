"""What ``scripts/eval_bdrate.py`` does: code every sequence at every rate point with our codec
and each anchor, measure, write one result file per point, then the BD-rate report.

Rate points: the ``rate_points.keyframe_qps`` x ``token_steps`` grid and each anchor's ``qps``, or
target rates (``rate_points.target_kbps``): per clip, our key-frame QP and token step are searched
to land each target (:mod:`dynamics_codec.rate_control`; unreachable targets are logged and
recorded), and each anchor runs on a rate-matched QP ladder (:mod:`dynamics_codec.anchors.ladder`).
Anchors in ``eval.anchors_if_available`` run only where their tools are found.

Stages (``eval.stage``): ``encode`` (the points), ``report`` (table and plots from whatever
result files exist), ``all`` (both; the default). Resumable: a point whose result file exists
with the same codec fingerprint is skipped. Parallel on one machine: anchor encodes run in
``eval.workers`` processes and are cached on disk (``eval.anchor_cache_dir``); our codec runs in
this process on ``device``. Across a cluster: ``eval.shard.count`` / ``eval.shard.index`` give
each job a deterministic share of the points, swept with Hydra's multirun and a launcher
plugin (``hydra/launcher=submitit_slurm``), then one ``eval.stage=report`` run; see
``scripts/eval_bdrate.py``.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from dynamics_codec.errors import ConfigError
from dynamics_codec.evaluation.results import (
    anchor_label,
    codec_fingerprint,
    is_finished,
    ours_label,
    result_path,
    software_versions,
    target_curve_label,
    target_label,
    write_result,
)
from dynamics_codec.evaluation.sequences import Sequence, list_sequence_paths, load_sequence
from dynamics_codec.utils.files import atomic_output_path, atomic_write_bytes

__all__ = ["PointJob", "codec_label", "plan_jobs", "evaluate_command", "run_points", "report_command"]

STAGES = ("all", "encode", "report")
LADDER = "ladder"  # an anchor job whose QPs are chosen per clip for the target rates
log = logging.getLogger(__name__)


@dataclass
class PointJob:
    """One (sequence, codec, rate point) to produce."""

    sequence: str
    codec: str  # our codec's label (eval.label) or an anchor name
    label: str
    params: dict[str, Any] = field(default_factory=dict)  # keyframe_qp + token_step, or qp
    kind: str = "anchor"  # "ours" | "anchor"


def codec_label(cfg: DictConfig) -> str:
    """Our codec's name in the results and the table: ``eval.label``, else derived from the model:
    ``builtin:<name>`` -> ``<name>``, a checkpoint folder -> its name (``<run>-last`` / ``<run>-best``
    for a trainer's ``<run>/checkpoints/{last,best}``), no checkpoint -> ``untrained``."""
    label = cfg.eval.get("label")
    if label:
        return str(label)
    ckpt = (cfg.get("model") or {}).get("checkpoint")
    if not ckpt:
        return "untrained"
    text = str(ckpt)
    if text.startswith("builtin:"):
        return text[len("builtin:"):]
    folder = Path(text).expanduser().resolve()
    if folder.parent.name == "checkpoints" and folder.name in ("last", "best"):
        return f"{folder.parent.parent.name}-{folder.name}"
    return folder.name


def target_rates(cfg: DictConfig) -> list[float] | None:
    """``rate_points.target_kbps`` as a sorted list of positive floats, or ``None`` (QP mode)."""
    targets = cfg.rate_points.get("target_kbps")
    if targets is None:
        return None
    try:
        values = sorted({float(t) for t in (targets if OmegaConf.is_list(targets) or isinstance(targets, list)
                                             else [targets])})
    except (TypeError, ValueError):
        values = []
    if not values or values[0] <= 0:
        raise ConfigError(f"rate_points.target_kbps must be a list of positive kbit/s or null, found {targets}; e.g. "
                          "rate_points.target_kbps=[5,7.5,10,15]")
    return values


def active_anchors(cfg: DictConfig) -> list[str]:
    """``eval.anchors`` plus those of ``eval.anchors_if_available`` whose tools are found here
    (VTM binaries); the others are skipped with a log line saying why."""
    from dynamics_codec.anchors import build_anchor
    from dynamics_codec.errors import ExternalToolError

    names = [str(n) for n in cfg.eval.anchors]
    for name in cfg.eval.get("anchors_if_available") or []:
        name = str(name)
        if name in names:
            continue
        if name not in cfg.anchors:
            raise ConfigError(f"eval.anchors_if_available names '{name}' but cfg.anchors has only {list(cfg.anchors)}")
        try:
            build_anchor(str(cfg.anchors[name].name), **_anchor_options(cfg.anchors[name])).version()
        except ExternalToolError as exc:
            log.info(f"eval: anchor {name} skipped (optional, eval.anchors_if_available): "
                     f"{' '.join(str(exc).split())}")
            continue
        names.append(name)
    return names


def plan_jobs(sequence_names: list[str], cfg: DictConfig, anchors: list[str] | None = None) -> list[PointJob]:
    """Every point of the configured grid, in a fixed order, restricted to this job's shard.

    With ``rate_points.target_kbps`` our points are targets (the QP and step are searched per clip)
    and each anchor has one ``ladder`` job per sequence (its QPs are chosen per clip, see
    :mod:`dynamics_codec.anchors.ladder`)."""
    rp, ev = cfg.rate_points, cfg.eval
    ours = codec_label(cfg)
    anchor_names = [str(n) for n in (ev.anchors if anchors is None else anchors)]
    if ours in anchor_names or ours == LADDER:
        raise ConfigError(f"eval.label={ours} is also an anchor's name; choose another eval.label")
    targets = target_rates(cfg)
    jobs = []
    for seq in sequence_names:
        if targets:
            for target in targets:
                for step in rp.token_steps:
                    jobs.append(PointJob(seq, ours, target_label(target, step), {"target_kbps": target,
                                                                                  "token_step": float(step)}, kind="ours"))
        else:
            for kqp in rp.keyframe_qps:
                for step in rp.token_steps:
                    jobs.append(PointJob(seq, ours, ours_label(kqp, step), {"keyframe_qp": int(kqp),
                                                                            "token_step": float(step)}, kind="ours"))
        for name in anchor_names:
            if name not in cfg.anchors:
                raise ConfigError(f"eval.anchors names '{name}' but cfg.anchors has only {list(cfg.anchors)}; add it "
                                  f"with anchor@anchors.{name}=<config> or remove it from eval.anchors")
            if targets:
                jobs.append(PointJob(seq, str(name), LADDER, {"targets": targets}))
                continue
            for qp in cfg.anchors[name].qps:
                jobs.append(PointJob(seq, str(name), anchor_label(qp), {"qp": int(qp)}))
    count, index = int(ev.shard.count), int(ev.shard.index)
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"eval.shard.index must be in 0..count-1, found index={index}, count={count}")
    # our target points of one clip and start step share their trial encodes: one shard gets them all
    def unit(job: PointJob):
        return (job.sequence, job.params["token_step"]) if "target_kbps" in job.params else id(job)

    unit_index = {u: i for i, u in enumerate(dict.fromkeys(unit(j) for j in jobs))}
    return [job for job in jobs if unit_index[unit(job)] % count == index]


def _anchor_options(anchor_cfg: DictConfig) -> dict[str, Any]:
    opts = OmegaConf.to_container(anchor_cfg, resolve=True)
    return {k: v for k, v in opts.items() if k not in ("name", "qps")}


def _ladder_start_qp(anchor_cfg: DictConfig) -> int:
    """Where an anchor's ladder search starts: the middle of its configured QPs."""
    return int(round(float(np.median([int(q) for q in anchor_cfg.qps]))))


def _ours_cfg(cfg: DictConfig, keyframe_qp: int, token_step: float) -> DictConfig:
    point = copy.deepcopy(cfg)
    OmegaConf.set_struct(point, False)
    point.keyframe.qp = int(keyframe_qp)
    point.entropy.step = float(token_step)
    return point


def _ours_identity(cfg: DictConfig, model) -> tuple[str, dict[str, Any]]:
    import dynamics_codec

    version = f"dynamics_codec {dynamics_codec.__version__}; {model.describe()}; tokenizer " \
              f"{model.tokenizer_hash().hex()} generator {model.generator_hash().hex()}"
    settings = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in
                ("keyframe", "flow", "sampler", "entropy", "decoder", "video")}
    settings["keyframe"].pop("qp", None)
    settings["entropy"].pop("step", None)
    settings["seed"] = int(cfg.get("seed", 0))
    for k in ("bin_dir", "cfg_dir"):
        settings["keyframe"].pop(k, None)
    return version, settings


def _sequence_record(seq: Sequence) -> dict[str, Any]:
    from dynamics_codec.anchors.base import clip_hash

    t, h, w, _ = seq.frames.shape
    return {"name": seq.name, "path": str(seq.path), "hash": clip_hash(seq.frames, seq.fps), "frames": t,
            "height": h, "width": w, "fps": seq.fps}


def _metrics_fields(suite, original: np.ndarray, decoded: np.ndarray, json_path: Path,
                    fps: float | None = None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    m = suite.evaluate(original, decoded, fps=fps)
    fields = {"metrics": m.summary(), "per_frame": {k: v for k, v in m.per_frame.items()},
              "fvd": m.fvd.to_json() if m.fvd is not None else None, "metric_settings": suite.describe()}
    if m.fvd is not None and m.fvd.real_features is not None and m.fvd.num_windows:
        with atomic_output_path(json_path.with_suffix(".fvd.npz")) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, real=m.fvd.real_features, fake=m.fvd.fake_features)
    return fields, time.perf_counter() - t0


def _expand_ladders(jobs: list[PointJob], anchors: dict, cfg: DictConfig, cache, seq, counts: dict[str, int],
                    progress: bool) -> list[PointJob]:
    """Each anchor ``ladder`` job -> one point job per QP of the clip's rate-matched ladder."""
    from dynamics_codec.anchors.ladder import LadderJob, anchor_ladders
    from dynamics_codec.rate_control import RateSearchConfig

    ladder_jobs = [j for j in jobs if j.label == LADDER]
    if not ladder_jobs:
        return jobs
    tolerance = RateSearchConfig.from_cfg(cfg.rate_points, "rate_points").tolerance
    expanded: dict[tuple[str, str], list[PointJob]] = {}
    for name in dict.fromkeys(j.codec for j in ladder_jobs):
        mine = [j for j in ladder_jobs if j.codec == name]
        t0 = time.perf_counter()
        ladders, encodes = anchor_ladders(
            anchors[name], [LadderJob(j.sequence, seq(j.sequence).frames, seq(j.sequence).fps) for j in mine], cache,
            mine[0].params["targets"], tolerance=tolerance, start_qp=_ladder_start_qp(cfg.anchors[name]),
            workers=int(cfg.eval.workers), progress=progress)
        counts["anchors"] += encodes
        for job, ladder in zip(mine, ladders):
            for note in ladder.notes:
                log.warning(f"eval: {job.sequence}: {note}")
            points = []
            for qp in ladder.qps:
                served = [row["target_kbps"] for row in ladder.targets if row["qp"] == qp]
                points.append(PointJob(job.sequence, name, anchor_label(qp), {
                    "qp": int(qp), "targets_kbps": served,
                    "curve_label": target_curve_label(served[0]) if served else anchor_label(qp),
                    "ladder": {"targets": list(job.params["targets"]), "qps": ladder.qps, "notes": ladder.notes}}))
            expanded[(job.sequence, name)] = points
            log.info(f"eval: {job.sequence}: {name} rate-matched QPs {ladder.qps} "
                     f"({', '.join(f'{ladder.kbps[q]:.2f}' for q in ladder.qps)} kbps)")
        log.info(f"eval: anchor {name}: ladders of {len(mine)} clips in {time.perf_counter() - t0:.1f} s, "
                 f"{encodes} encodes")
    out: list[PointJob] = []
    for j in jobs:
        out.extend(expanded[(j.sequence, j.codec)] if j.label == LADDER else [j])
    return out


def run_points(cfg: DictConfig) -> dict[str, int]:
    """Produce every unfinished point of this shard; returns counts (done, skipped, encodes)."""
    from dynamics_codec.anchors import AnchorCache, AnchorJob, build_anchor, encode_anchor_points
    from dynamics_codec.codec import build_encoder, build_stream_decoder, load_motion_model
    from dynamics_codec.io import write_video
    from dynamics_codec.metrics import MetricSuite
    from dynamics_codec.rate_control import RateSearchConfig, codec_search

    ev = cfg.eval
    results_dir = Path(ev.results_dir)
    progress = bool(ev.get("progress", True))
    paths = list_sequence_paths(cfg.sequences)[:ev.get("num_sequences") or None]
    jobs = plan_jobs([p.stem for p in paths], cfg, active_anchors(cfg))
    search_cfg = RateSearchConfig.from_cfg(cfg.rate_points, "rate_points") if target_rates(cfg) else None
    by_name = {p.stem: p for p in paths}
    sequences: dict[str, Sequence] = {}

    def seq(name: str) -> Sequence:
        if name not in sequences:
            sequences[name] = load_sequence(by_name[name], cfg.video)
        return sequences[name]

    metric_names = list(ev.metrics.names)
    anchors = {name: build_anchor(str(cfg.anchors[name].name), **_anchor_options(cfg.anchors[name]))
               for name in {j.codec for j in jobs if j.kind == "anchor"}}
    ours = [j for j in jobs if j.kind == "ours"]
    model = load_motion_model(cfg) if ours else None
    fingerprints: dict[str, str] = {}
    identities: dict[str, tuple[str, dict]] = {}
    if model is not None:
        label = ours[0].codec
        identities[label] = _ours_identity(cfg, model)
        if search_cfg is not None:  # the search settings decide which (QP, step) a target gets
            identities[label][1]["rate_control"] = {
                "tolerance": search_cfg.tolerance, "step_range": list(search_cfg.step_range),
                "qp_range": None if search_cfg.qp_range is None else list(search_cfg.qp_range),
                "start_qp": int(cfg.keyframe.qp)}
    for name, anchor in anchors.items():
        identities[name] = (anchor.version(), {**anchor.settings(), "video": OmegaConf.to_container(cfg.video)})
        if search_cfg is not None:  # a point's record says which targets its ladder was made for
            identities[name][1]["ladder"] = {"targets_kbps": target_rates(cfg), "tolerance": search_cfg.tolerance}
    for name, (version, settings) in identities.items():
        fingerprints[name] = codec_fingerprint(version, {**settings, "metrics": sorted(metric_names)})

    def path_of(job: PointJob) -> Path:
        return result_path(results_dir, job.sequence, job.codec, job.label)

    counts = {"ours": 0, "anchors": 0}  # encodes run
    cache = AnchorCache(ev.anchor_cache_dir)
    jobs = _expand_ladders(jobs, anchors, cfg, cache, seq, counts, progress)
    pending = [j for j in jobs if ev.get("recompute", False) or not is_finished(path_of(j), fingerprints[j.codec])]
    skipped = len(jobs) - len(pending)
    log.info(f"eval: {len(paths)} sequences, {len(jobs)} points in this shard, {skipped} already finished, "
          f"{len(pending)} to do -> {results_dir}")
    if not pending:
        log.info(f"eval: {counts['ours']} encodes of ours, {counts['anchors']} anchor encodes")
        return {"done": 0, "skipped": skipped, "encodes": counts["ours"] + counts["anchors"]}
    suite = MetricSuite.from_config(ev.metrics, device=cfg.get("device", "cpu"), progress=progress)
    versions = software_versions()

    def finish(job: PointJob, decoded: np.ndarray, bits: dict[str, int], kbps: float, timings: dict[str, Any],
               extra_codec: dict[str, Any], rate_point: dict[str, Any] | None = None) -> None:
        path = path_of(job)
        s = seq(job.sequence)
        fields, metric_s = _metrics_fields(suite, s.frames, decoded, path, fps=s.fps)
        version, settings = identities[job.codec]
        record = {
            "sequence": _sequence_record(s),
            "codec": {"name": job.codec, "kind": job.kind, "version": version,
                      "settings": settings, "fingerprint": fingerprints[job.codec], **extra_codec},
            "rate_point": {"label": job.label, **job.params, **(rate_point or {})},
            "bits": bits, "kbps": kbps, **fields,
            "timings": {**timings, "metrics_s": metric_s}, "versions": versions,
            "result_file": str(path.relative_to(results_dir)),
        }
        write_result(path, record)
        if ev.get("save_reconstructions", False):
            write_video(decoded, path.with_suffix(".mkv"), s.fps)

    # anchors: cached, parallel encodes first, then metrics here
    for name, anchor in anchors.items():
        todo = [j for j in pending if j.codec == name]
        if not todo:
            continue
        t0 = time.perf_counter()
        points = encode_anchor_points(anchor, [AnchorJob(j.sequence, seq(j.sequence).frames, seq(j.sequence).fps,
                                                         j.params["qp"]) for j in todo],
                                      cache, workers=int(ev.workers), progress=progress)
        counts["anchors"] += sum(not p.hit for p in points)
        log.info(f"eval: anchor {name}: {len(todo)} points in {time.perf_counter() - t0:.1f} s "
              f"({sum(p.hit for p in points)} from the cache {cache.root})")
        for job, point in zip(tqdm(todo, desc=f"metrics {name}", disable=not progress), points):
            s = seq(job.sequence)
            bits = {"total": point.bits}
            finish(job, point.decoded_video(), bits, point.bits * s.fps / s.frames.shape[0] / 1000.0,
                   {**point.meta.get("timings", {}), "cached": point.hit},
                   {"reported_version": point.meta.get("reported_version"), "cache_key": point.meta["key"]})

    # our codec: one encoder/decoder per rate point, the motion model shared; for a target rate, the
    # (QP, step) searched per clip (one memo of trial encodes per sequence and start step)
    ours = [j for j in pending if j.kind == "ours"]
    searches: dict[tuple[str, float], Any] = {}
    for job in tqdm(ours, desc="ours", disable=not progress):
        s = seq(job.sequence)
        t0 = time.perf_counter()
        found_point = None
        if "target_kbps" in job.params:
            key = (job.sequence, job.params["token_step"])
            if key not in searches:
                for other in [k for k in searches if k[0] != job.sequence]:  # one clip's trial encodes at a time
                    del searches[other]
                searches[key] = codec_search(cfg, s.frames, s.fps, search_cfg, model, start_step=key[1])
            found = searches[key].search(job.params["target_kbps"])
            counts["ours"] += found.new_encodes
            (log.info if found.within_tolerance else log.warning)(f"eval: {job.sequence}: ours {found.message}")
            encoded = found.payload
            point_cfg = _ours_cfg(cfg, found.keyframe_qp, found.token_step)
            found_point = {"keyframe_qp": found.keyframe_qp, "token_step": found.token_step,
                           "search_step": job.params["token_step"], "achieved_kbps": found.kbps,
                           "within_tolerance": found.within_tolerance, "message": found.message,
                           "curve_label": target_curve_label(job.params["target_kbps"]), "search": found.to_json()}
        else:
            point_cfg = _ours_cfg(cfg, job.params["keyframe_qp"], job.params["token_step"])
            encoded = build_encoder(point_cfg, model=model).encode(s.frames, s.fps)
            counts["ours"] += 1
        t1 = time.perf_counter()
        decoded = build_stream_decoder(point_cfg, model=model).decode(encoded.bitstream)
        t2 = time.perf_counter()
        atomic_write_bytes(path_of(job).with_suffix(".dcv"), encoded.bitstream)
        finish(job, decoded.frames, dict(encoded.bits), encoded.kbps,
               {"encode_s": t1 - t0, "decode_s": t2 - t1, "encode_stages_s": encoded.timings,
                "decode_stages_s": decoded.timings},
               {"points_per_frame": encoded.points_per_frame}, found_point)
    log.info(f"eval: {counts['ours']} encodes of ours, {counts['anchors']} anchor encodes")
    return {"done": len(pending), "skipped": skipped, "encodes": counts["ours"] + counts["anchors"]}


def report_filter(cfg: DictConfig):
    """Which result records belong to the configured rate points: with target rates, our points of
    these targets and start steps and the anchor points of ladders made for these targets; with
    QPs, the points made without targets. (One results folder may hold both.)"""
    targets = target_rates(cfg)
    if targets is None:
        return lambda r: "target_kbps" not in r["rate_point"] and "ladder" not in r["rate_point"]
    steps = {float(s) for s in cfg.rate_points.token_steps}

    def keep(r: dict[str, Any]) -> bool:
        rp = r["rate_point"]
        if r["codec"]["kind"] == "ours":
            return rp.get("target_kbps") in targets and rp.get("search_step") in steps
        return (rp.get("ladder") or {}).get("targets") == targets

    return keep


def report_command(cfg: DictConfig) -> dict[str, Any]:
    from dynamics_codec.bdrate import write_report

    ev = cfg.eval
    metrics = None if ev.report.get("metrics") is None else list(ev.report.metrics)
    anchors = list(dict.fromkeys([*ev.anchors, *(ev.get("anchors_if_available") or [])]))
    report = write_report(ev.results_dir, ev.report_dir, metrics, method=str(ev.report.interpolation),
                          averaging=str(ev.report.averaging), anchors=anchors,
                          plot_formats=list(ev.report.plot_formats), hull=bool(ev.report.get("hull", True)),
                          keep=report_filter(cfg))
    fig = ev.report.get("yt_figure") or {}
    if fig.get("enabled", False):
        from dynamics_codec.evaluation.report_figures import yt_figures

        report["yt_figures"] = yt_figures(ev.results_dir, ev.report_dir, cfg.video, kbps=float(fig.get("kbps", 10.0)),
                                          x=fig.get("x"), width=int(fig.get("width", 5)),
                                          strip_frames=int(fig.get("strip_frames", 10)), keep=report_filter(cfg))
        log.info(f"eval: wrote {len(report['yt_figures'])} y-t slice figure files under {ev.report_dir}/figures")
    log.info(Path(report["table"]).read_text())
    log.info(f"eval: wrote {ev.report_dir}/bdrate.csv, bdrate.md, bdrate_per_sequence.csv, rd_points.csv and "
          f"{len(report['figures'])} plot files")
    return report


def evaluate_command(cfg: DictConfig) -> dict[str, Any]:
    """The whole of ``scripts/eval_bdrate.py``."""
    stage = str(cfg.eval.stage)
    if stage not in STAGES:
        raise ConfigError(f"eval.stage must be one of {STAGES}, found {stage!r}")
    out: dict[str, Any] = {}
    if stage in ("all", "encode"):
        out["points"] = run_points(cfg)
    if stage == "report" or (stage == "all" and int(cfg.eval.shard.count) == 1):
        out["report"] = report_command(cfg)
    return out
