"""One JSON file per (sequence, codec, rate point), with a single schema.

Path: ``<results_dir>/<sequence>/<codec>/<rate point>.json`` where the rate point is
``kqp<QP>_step<STEP>`` (or ``t<R>kbps_step<STEP>`` for a target rate) for our codec and ``qp<QP>``
for anchors. Content (schema version 1)::

    schema           1
    sequence         {name, path, hash (sha256 of the pixels), frames, height, width, fps}
    codec            {name (our codec's eval.label | anchor name), kind ("ours" | "anchor"), version, settings,
                      fingerprint (sha256 of version + settings: a changed codec is recomputed)}
    rate_point       {label, keyframe_qp, token_step} for ours; {label, qp} for anchors. With target rates
                     (label t<R>kbps_step<S>) ours adds target_kbps, search_step, achieved_kbps,
                     within_tolerance, message (UNREACHABLE ... when missed), curve_label, search (every
                     trial); anchors on a rate-matched ladder add targets_kbps, curve_label, ladder {qps, notes}
    bits             {total, ...parts}: ours header/keyframe/motion/total; anchors total
    kbps             total bits * fps / frames / 1000
    metrics          {psnr, psnr_y, ms_ssim, lpips, dists, fvd, cvvdp}: frame means (all frames), FVD and
                     ColorVideoVDP (JOD of the whole video; its display model in metric_settings.cvvdp); null if undefined
    per_frame        {metric: [T values]}
    fvd              {value, num_windows, window, stride, feature_dim, windowing} or null
    metric_settings  what the metrics used (model files, windowing, devices), skipped metrics and why
    timings          seconds: encode, decode, metrics (+ per stage for ours)
    versions         dynamics_codec, python, torch, numpy, av, bjontegaard, lpips, platform
    created          ISO time

Files are written atomically; a file whose codec fingerprint matches is a finished point
(the run skips it), one whose fingerprint differs is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from dynamics_codec.utils.files import atomic_write_text

__all__ = ["SCHEMA_VERSION", "result_path", "ours_label", "target_label", "target_curve_label", "anchor_label",
           "codec_fingerprint", "software_versions", "write_result", "read_result", "iter_results", "is_finished",
           "to_jsonable"]

SCHEMA_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def ours_label(keyframe_qp: int, token_step: float) -> str:
    return f"kqp{int(keyframe_qp)}_step{float(token_step):g}"


def target_label(target_kbps: float, token_step: float) -> str:
    return f"t{float(target_kbps):g}kbps_step{float(token_step):g}"


def target_curve_label(target_kbps: float) -> str:
    """The label that lines up points of every codec made for one target rate (curve averaging)."""
    return f"t{float(target_kbps):g}kbps"


def anchor_label(qp: int) -> str:
    return f"qp{int(qp)}"


def result_path(results_dir: str | Path, sequence: str, codec: str, label: str) -> Path:
    return Path(results_dir) / _SAFE.sub("_", sequence) / _SAFE.sub("_", codec) / f"{label}.json"


def codec_fingerprint(version: str, settings: Any) -> str:
    return hashlib.sha256(json.dumps({"version": version, "settings": to_jsonable(settings)},
                                     sort_keys=True).encode()).hexdigest()


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("dynamics_codec", "torch", "numpy", "av", "bjontegaard", "lpips", "DISTS_pytorch", "cvvdp", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def to_jsonable(value: Any) -> Any:
    """Numpy scalars/arrays -> Python; non-finite floats -> ``None`` (JSON has no NaN/inf)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def write_result(path: str | Path, record: dict[str, Any]) -> Path:
    record = {"schema": SCHEMA_VERSION, **record, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(path, json.dumps(to_jsonable(record), indent=1, allow_nan=False) + "\n")
    return Path(path)


def read_result(path: str | Path) -> dict[str, Any] | None:
    """A result record, or ``None`` if the file is missing, unreadable or of another schema."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and record.get("schema") == SCHEMA_VERSION else None


def is_finished(path: str | Path, fingerprint: str) -> bool:
    record = read_result(path)
    return record is not None and record.get("codec", {}).get("fingerprint") == fingerprint


def iter_results(results_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every valid result record under ``results_dir`` (sorted by path)."""
    for path in sorted(Path(results_dir).glob("*/*/*.json")):
        record = read_result(path)
        if record is not None:
            yield record
