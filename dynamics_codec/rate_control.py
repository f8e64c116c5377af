"""Target rates instead of QPs: the key-frame QP and token step that land a whole stream at a rate.

The encoder is a black box here. A trial at ``(qp, step)`` builds an encoder with
:func:`dynamics_codec.codec.build_encoder` from the config with ``keyframe.qp`` and
``entropy.step`` overridden, encodes the clip and measures the real stream
(``8 * len(bitstream)`` bits, header included); encoding is deterministic, so each ``(qp, step)``
is encoded once per clip (:class:`RateSearch` memoises trials, and the dense flow, which only
depends on the original frames, is computed once per clip).

Search for a target ``R`` with tolerance ``tol`` (default 10 %):

1. The key-frame QP at the configured token step (the paper varies the QP at one step):
   :func:`closest_qp` brackets ``R`` between two adjacent integer QPs (rate falls with QP; jumps
   estimated from the measured slope) and keeps the one closer to ``R`` in log rate.
2. If that QP lands outside ``R * (1 +- tol)`` (adjacent QPs too far apart, or the QP range ends
   before ``R``), the token step moves by bisection in log step within ``step_range``: larger
   steps (fewer motion bits) at the QP above ``R``, smaller ones at the QP below it.
3. If no ``(qp, step)`` lands in the band the target is **unreachable**: the result keeps the
   closest trial, ``within_tolerance`` is false and ``message`` says what the codec can reach on
   this clip (e.g. ``the lowest rate ... is 6.9 kbps at qp 51, step 2``). Nothing is clipped
   silently.

:func:`rate_ladder` does the same for a codec with one integer knob (the anchors' QP): per
target the closest QP, plus QPs past the band's ends so that the RD curve covers the band.
:func:`encode_at_target` / :func:`with_target_rate` serve ``scripts/encode.py rate.target_kbps=10``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from dynamics_codec.errors import ConfigError

__all__ = ["RateSearchConfig", "Trial", "RateSearchResult", "RateSearch", "closest_qp", "QpLadder", "rate_ladder",
           "codec_trial_function", "encode_at_target", "with_target_rate", "kbps_of"]

log = logging.getLogger(__name__)

#: assumed d ln(rate) / d QP before two points are measured (key-frame bits halve about every 6 QP)
_DEFAULT_SLOPE = math.log(2.0) / 6.0


def kbps_of(bits: int, num_frames: int, fps: float) -> float:
    return bits * float(fps) / max(int(num_frames), 1) / 1000.0


@dataclass(frozen=True)
class RateSearchConfig:
    """How to search: ``tolerance`` (relative, 0.1 = +-10 %), the token steps the search may use
    (``step_range``, inclusive) and the key-frame QPs (``qp_range``; ``None``: the codec's range)."""

    tolerance: float = 0.10
    step_range: tuple[float, float] = (0.02, 2.0)
    qp_range: tuple[int, int] | None = None
    bisection_steps: int = 8

    def __post_init__(self) -> None:
        if not 0.0 < self.tolerance < 1.0:
            raise ConfigError(f"rate tolerance must be in (0, 1) (0.1 = +-10 %), found {self.tolerance}")
        lo, hi = self.step_range
        if not 0.0 < lo <= hi:
            raise ConfigError(f"rate step_range must be [min, max] with 0 < min <= max, found {list(self.step_range)}")
        if self.qp_range is not None and not self.qp_range[0] <= self.qp_range[1]:
            raise ConfigError(f"rate qp_range must be [min, max], found {list(self.qp_range)}")

    @classmethod
    def from_cfg(cls, section: Mapping[str, Any] | None, where: str = "rate") -> "RateSearchConfig":
        section = section or {}
        get = section.get
        try:
            step_range = get("step_range") or cls.step_range
            qp_range = get("qp_range")
            return cls(tolerance=float(get("tolerance", cls.tolerance)),
                       step_range=(float(step_range[0]), float(step_range[1])),
                       qp_range=None if qp_range is None else (int(qp_range[0]), int(qp_range[1])),
                       bisection_steps=int(get("bisection_steps", cls.bisection_steps)))
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"{where}: tolerance must be a number, step_range=[min,max] and qp_range=[min,max] or "
                              f"null ({exc}); e.g. {where}.tolerance=0.1 {where}.step_range=[0.02,2.0]") from None


@dataclass
class Trial:
    qp: int
    step: float
    bits: int
    kbps: float


@dataclass
class RateSearchResult:
    """The chosen operating point for one target and how it was found."""

    target_kbps: float
    tolerance: float
    keyframe_qp: int
    token_step: float
    bits: int
    kbps: float  # achieved
    within_tolerance: bool  # False: the target is unreachable on this clip (message says why)
    message: str
    trials: list[Trial] = field(default_factory=list)  # every (qp, step) this search looked at, in order
    new_encodes: int = 0  # encodes this search ran (the others came from the clip's memo)
    payload: Any = None  # what the trial function returned for the chosen point (an EncodeResult)

    @property
    def error(self) -> float:
        """Achieved / target - 1."""
        return self.kbps / self.target_kbps - 1.0

    def to_json(self) -> dict[str, Any]:
        return {"target_kbps": self.target_kbps, "tolerance": self.tolerance, "keyframe_qp": self.keyframe_qp,
                "token_step": self.token_step, "bits": self.bits, "achieved_kbps": self.kbps,
                "error_percent": 100.0 * self.error, "within_tolerance": self.within_tolerance,
                "message": self.message, "encodes": self.new_encodes,
                "trials": [[t.qp, t.step, t.kbps] for t in self.trials]}


def _log_err(kbps: float, target: float) -> float:
    return abs(math.log(kbps / target))


def _in_band(kbps: float, target: float, tol: float) -> bool:
    return target * (1.0 - tol) <= kbps <= target * (1.0 + tol)


def closest_qp(rate: Callable[[int], float], target: float, lo: int, hi: int, start: int,
               known: Mapping[int, float] | None = None) -> int:
    """The integer QP in ``[lo, hi]`` whose ``rate(qp)`` (falling with QP) is closest to ``target``
    in log rate: brackets the target between adjacent QPs (the ends when it lies outside).
    ``known``: rates already measured (QP -> rate), used before anything new is measured."""
    if lo > hi:
        raise ConfigError(f"empty QP range [{lo}, {hi}]")
    seen: dict[int, float] = {int(q): float(v) for q, v in (known or {}).items() if lo <= int(q) <= hi}

    def r(q: int) -> float:
        if q not in seen:
            seen[q] = float(rate(q))
        return seen[q]

    if not seen:
        r(min(max(int(start), lo), hi))
    while True:
        above = [p for p, v in seen.items() if v >= target]  # QPs too fine (rate at or above the target)
        below = [p for p, v in seen.items() if v <= target]
        a = max(above) if above else None
        b = min(below) if below else None
        if a is not None and b is not None and (b - a <= 1 or seen[a] == target or seen[b] == target):
            break
        if a is not None and b is None:
            if a >= hi:
                break
            slope = _slope(seen)
            nxt = a + max(1, math.ceil(math.log(seen[a] / target) / slope))
            q = min(nxt, hi)
        elif b is not None and a is None:
            if b <= lo:
                break
            slope = _slope(seen)
            nxt = b - max(1, math.ceil(math.log(target / seen[b]) / slope))
            q = max(nxt, lo)
        else:  # a < b - 1: interpolate ln(rate) linearly between the bracket's ends
            la, lb = math.log(seen[a]), math.log(seen[b])
            frac = (la - math.log(target)) / (la - lb) if la != lb else 0.5
            q = min(max(a + round(frac * (b - a)), a + 1), b - 1)
        if q in seen:  # pragma: no cover - guarded by the bracket logic
            break
        r(q)
    return min(seen, key=lambda p: (_log_err(seen[p], target), p))


def _slope(seen: Mapping[int, float]) -> float:
    """d ln(rate) / d QP from the two measured QPs farthest apart (the default before that)."""
    if len(seen) < 2:
        return _DEFAULT_SLOPE
    qs = sorted(seen)
    lo, hi = qs[0], qs[-1]
    s = (math.log(seen[lo]) - math.log(seen[hi])) / (hi - lo)
    return s if s > 1e-3 else _DEFAULT_SLOPE


class RateSearch:
    """Rate searches on one clip, sharing one memo of trials.

    Args:
        trial: ``(qp, step) -> (bits, payload)``: encode the clip at these settings (deterministic).
        num_frames / fps: the clip's, for kbps.
        qp_range: the key-frame codec's QP range (narrowed by ``config.qp_range``).
        start_step: the token step tried first (the configured ``entropy.step``).
        start_qp: the QP tried first.
        config: :class:`RateSearchConfig`.
    """

    def __init__(self, trial: Callable[[int, float], tuple[int, Any]], num_frames: int, fps: float,
                 qp_range: tuple[int, int], start_step: float, start_qp: int,
                 config: RateSearchConfig = RateSearchConfig()) -> None:
        self._trial = trial
        self.num_frames, self.fps = int(num_frames), float(fps)
        lo, hi = qp_range
        if config.qp_range is not None:
            lo, hi = max(lo, config.qp_range[0]), min(hi, config.qp_range[1])
            if lo > hi:
                raise ConfigError(f"qp_range {list(config.qp_range)} (rate.qp_range / rate_points.qp_range) does not "
                                  f"overlap the key-frame codec's QP range {list(qp_range)}; set it inside that range "
                                  "or to null")
        self.qp_range = (int(lo), int(hi))
        self.config = config
        s_lo, s_hi = config.step_range
        self.start_step = _nice(float(start_step))
        self.step_range = (min(s_lo, self.start_step), max(s_hi, self.start_step))
        self.start_qp = min(max(int(start_qp), lo), hi)
        self.memo: dict[tuple[int, float], tuple[int, Any]] = {}
        self.encodes = 0

    def measure(self, qp: int, step: float) -> Trial:
        key = (int(qp), _nice(step))
        if key not in self.memo:
            self.memo[key] = self._trial(*key)
            self.encodes += 1
        bits = int(self.memo[key][0])
        return Trial(qp=key[0], step=key[1], bits=bits, kbps=kbps_of(bits, self.num_frames, self.fps))

    def search(self, target_kbps: float) -> RateSearchResult:
        target = float(target_kbps)
        if not target > 0:
            raise ConfigError(f"target rates must be positive kbps, found {target_kbps!r}")
        tol = self.config.tolerance
        encodes0 = self.encodes
        trials: list[Trial] = []

        def t(qp: int, step: float) -> Trial:
            tr = self.measure(qp, step)
            if (tr.qp, tr.step) not in {(x.qp, x.step) for x in trials}:
                trials.append(tr)
            return tr

        lo, hi = self.qp_range
        s0 = self.start_step
        known = {q: self.measure(q, s).kbps for q, s in self.memo if s == s0}
        qp = closest_qp(lambda q: t(q, s0).kbps, target, lo, hi, self.start_qp, known)
        best = t(qp, s0)
        if not _in_band(best.kbps, target, tol):
            at_s0 = [self.measure(q, s) for q, s in self.memo if s == s0]
            above = [x for x in at_s0 if x.kbps > target]
            below = [x for x in at_s0 if x.kbps < target]
            s_min, s_max = self.step_range
            # finer key frame + coarser motion, then coarser key frame + finer motion
            candidates = []
            if above:
                candidates.append((max(above, key=lambda x: x.qp).qp, s0, s_max))
            if below:
                candidates.append((min(below, key=lambda x: x.qp).qp, s0, s_min))
            for cqp, s_from, s_to in candidates:
                found = self._bisect_step(t, cqp, s_from, s_to, target)
                if found is not None:
                    break
            every = [self.measure(q, st) for q, st in self.memo]  # every operating point measured on this clip
            best = min(every, key=lambda x: (_log_err(x.kbps, target), x.qp, x.step))
        within = _in_band(best.kbps, target, tol)
        message = self._message(target, best, within, trials)
        payload = self.memo[(best.qp, best.step)][1]
        return RateSearchResult(target_kbps=target, tolerance=tol, keyframe_qp=best.qp, token_step=best.step,
                                bits=best.bits, kbps=best.kbps, within_tolerance=within, message=message,
                                trials=trials, new_encodes=self.encodes - encodes0, payload=payload)

    def _bisect_step(self, t, qp: int, s_from: float, s_to: float, target: float) -> Trial | None:
        """The step between ``s_from`` and ``s_to`` (bisection in log step) at ``qp`` that lands closest to
        the target within the band, if any: it stops within a quarter of the tolerance."""
        tol = self.config.tolerance
        start, end = t(qp, s_from), t(qp, s_to)
        hits = [end] if _in_band(end.kbps, target, tol) else []
        if (end.kbps > target) == (start.kbps > target):
            return hits[0] if hits else None  # the whole step range stays on one side of the target
        start_above = start.kbps > target
        a, b = math.log(s_from), math.log(s_to)
        for _ in range(self.config.bisection_steps):
            if hits and min(_log_err(x.kbps, target) for x in hits) <= math.log1p(tol / 4):
                break
            mid = _nice(math.exp(0.5 * (a + b)))
            if mid in (_nice(math.exp(a)), _nice(math.exp(b))):
                break  # the steps' 4 significant digits are exhausted
            tr = t(qp, mid)
            if _in_band(tr.kbps, target, tol):
                hits.append(tr)
            if (tr.kbps > target) == start_above:
                a = math.log(mid)
            else:
                b = math.log(mid)
        return min(hits, key=lambda x: _log_err(x.kbps, target)) if hits else None

    def _message(self, target: float, best: Trial, within: bool, trials: list[Trial]) -> str:
        tol = self.config.tolerance
        head = f"target {target:g} kbps: {best.kbps:.3f} kbps at qp {best.qp}, step {best.step:g}"
        if within:
            return f"{head} ({100 * (best.kbps / target - 1):+.1f} %, within +-{100 * tol:g} %)"
        lo, hi = self.qp_range
        s_min, s_max = self.step_range
        why = f"between operating points: no key-frame QP and token step in range lands within +-{100 * tol:g} %"
        if best.kbps > target and (low := self.measure(hi, s_max)).kbps > target:
            why = (f"below the lowest rate this clip reaches ({low.kbps:.3f} kbps at the coarsest key frame, qp {hi}, "
                   f"and the largest token step {s_max:g}; widen the step_range or qp_range)")
        elif best.kbps < target and (high := self.measure(lo, s_min)).kbps < target:
            why = f"above the highest rate this clip reaches ({high.kbps:.3f} kbps at qp {lo}, step {s_min:g})"
        return f"UNREACHABLE {head} ({100 * (best.kbps / target - 1):+.1f} %): the target is {why}"


def _nice(step: float) -> float:
    """Token steps with 4 significant digits (stable labels and memo keys)."""
    return float(f"{float(step):.4g}")


@dataclass
class QpLadder:
    """QPs of a one-knob codec chosen for a clip so that its RD curve covers the target band."""

    qps: list[int]
    kbps: dict[int, float]  # every QP measured
    targets: list[dict[str, Any]]  # per target: target_kbps, qp, kbps, within_tolerance, message
    notes: list[str]  # what the codec could not reach

    def to_json(self) -> dict[str, Any]:
        return {"qps": self.qps, "kbps": {str(k): v for k, v in sorted(self.kbps.items())}, "targets": self.targets,
                "notes": self.notes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "QpLadder":
        return cls(qps=[int(q) for q in data["qps"]], kbps={int(k): float(v) for k, v in data["kbps"].items()},
                   targets=list(data["targets"]), notes=list(data["notes"]))


def rate_ladder(rate: Callable[[int], float], targets: Sequence[float], qp_range: tuple[int, int], start_qp: int,
                tolerance: float = 0.10, codec: str = "codec") -> QpLadder:
    """Per target the closest QP; then QPs past the band's ends (one with a rate at or below the lowest
    target, one at or above the highest) when the codec reaches them. ``rate(qp)`` in kbps falls with QP."""
    lo, hi = qp_range
    seen: dict[int, float] = {}

    def r(q: int) -> float:
        if q not in seen:
            seen[q] = float(rate(q))
        return seen[q]

    ts = sorted(float(x) for x in targets)
    if not ts or ts[0] <= 0:
        raise ConfigError(f"target rates must be positive kbps, found {list(targets)}")
    chosen, rows, notes = set(), [], []
    start = start_qp
    for target in ts:
        q = closest_qp(r, target, lo, hi, start, seen)
        within = _in_band(seen[q], target, tolerance)
        msg = f"{codec}: target {target:g} kbps -> qp {q} at {seen[q]:.3f} kbps"
        if not within:
            if seen[q] > target and q == hi:
                msg += f"; UNREACHABLE: {codec} cannot go below {seen[q]:.3f} kbps on this clip (qp {hi} is its coarsest)"
                notes.append(msg)
            elif seen[q] < target and q == lo:
                msg += f"; UNREACHABLE: {codec} cannot go above {seen[q]:.3f} kbps on this clip (qp {lo} is its finest)"
                notes.append(msg)
            else:
                msg += f" (adjacent QPs straddle the +-{100 * tolerance:g} % band)"
        rows.append({"target_kbps": target, "qp": q, "kbps": seen[q], "within_tolerance": within, "message": msg})
        chosen.add(q)
    # cover the band: a point at or below the lowest target and one at or above the highest
    q = max(chosen)
    while seen[q] > ts[0] and q < hi:
        q += 1
        r(q)
        chosen.add(q)
    q = min(chosen)
    while seen[q] < ts[-1] and q > lo:
        q -= 1
        r(q)
        chosen.add(q)
    return QpLadder(qps=sorted(chosen), kbps=dict(seen), targets=rows, notes=notes)


# ---------------------------------------------------------------------------- our codec as the black box
class _FlowMemo:
    """Memoises a flow backend's outputs by the content of its inputs (flow depends on the original
    frames only, not on the QP or step being tried)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self.outputs: dict[str, Any] = {}

    def wrap(self, backend):
        memo = self

        class _Memoised:
            def __init__(self, inner) -> None:
                self._inner = inner

            def __getattr__(self, name):
                return getattr(self._inner, name)

            def __call__(self, *args, **kwargs):
                key = memo.key(args, kwargs)
                if key not in memo.outputs:
                    if len(memo.outputs) >= memo.capacity:
                        memo.outputs.pop(next(iter(memo.outputs)))
                    memo.outputs[key] = self._inner(*args, **kwargs)
                out = memo.outputs[key]
                return out.clone() if hasattr(out, "clone") else copy.deepcopy(out)

        return _Memoised(backend)

    @staticmethod
    def key(args, kwargs) -> str:
        import torch

        h = hashlib.sha1()
        for a in [*args, *sorted(kwargs.items())]:
            if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str):
                h.update(a[0].encode())
                a = a[1]
            if isinstance(a, torch.Tensor):
                h.update(repr((tuple(a.shape), str(a.dtype), str(a.device))).encode())
                h.update(a.detach().contiguous().cpu().numpy().tobytes())
            else:
                h.update(repr(a).encode())
        return h.hexdigest()


def _with_rate(cfg, qp: int, step: float):
    from omegaconf import OmegaConf

    point = copy.deepcopy(cfg)
    OmegaConf.set_struct(point, False)
    point.keyframe.qp = int(qp)
    point.entropy.step = float(step)
    return point


def codec_trial_function(cfg, frames: np.ndarray, fps: float, model=None) -> Callable[[int, float], tuple[int, Any]]:
    """``(qp, step) -> (bits, EncodeResult)``: our encoder built from ``cfg`` with ``keyframe.qp`` and
    ``entropy.step`` overridden, on ``frames``; the rate is the real stream size."""
    from dynamics_codec.codec import build_encoder, load_motion_model

    model = model if model is not None else load_motion_model(cfg)
    flow_memo = _FlowMemo()

    def trial(qp: int, step: float):
        encoder = build_encoder(_with_rate(cfg, qp, step), model=model)
        if callable(getattr(encoder, "flow", None)):
            encoder.flow = flow_memo.wrap(encoder.flow)
        result = encoder.encode(frames, fps)
        log.debug(f"rate trial qp {qp} step {step:g}: {8 * len(result.bitstream)} bits")
        return 8 * len(result.bitstream), result

    return trial


def codec_search(cfg, frames: np.ndarray, fps: float, config: RateSearchConfig, model=None,
                 start_step: float | None = None) -> RateSearch:
    """A :class:`RateSearch` over our codec on one clip (start: ``keyframe.qp``, ``entropy.step``)."""
    from dynamics_codec.keyframe import KEYFRAME_CODECS

    name = str(cfg.keyframe.name)
    if name not in KEYFRAME_CODECS:
        raise ConfigError(f"unknown key-frame codec {name!r}; set keyframe=x265 or keyframe=vtm")
    return RateSearch(codec_trial_function(cfg, frames, fps, model), frames.shape[0], fps,
                      KEYFRAME_CODECS[name].qp_range, float(cfg.entropy.step if start_step is None else start_step),
                      int(cfg.keyframe.qp), config)


def encode_at_target(cfg, frames: np.ndarray, fps: float, target_kbps: float, model=None) -> RateSearchResult:
    """Search (qp, step) for ``target_kbps`` with the ``rate`` section's settings; logs the outcome
    (a warning when the target is unreachable). ``result.payload`` is the chosen EncodeResult."""
    config = RateSearchConfig.from_cfg(cfg.get("rate"), "rate")
    found = codec_search(cfg, frames, fps, config, model).search(target_kbps)
    (log.info if found.within_tolerance else log.warning)(
        f"rate: {found.message}; {found.new_encodes} trial encodes")
    return found


def with_target_rate(cfg, frames: np.ndarray, fps: float, model=None):
    """``(cfg, None)`` when ``rate.target_kbps`` is null; else ``(a copy of cfg with the keyframe.qp
    and entropy.step that land this clip's stream at the target, the search's EncodeResult at those
    settings)`` (see :func:`encode_at_target`), so the chosen stream is not encoded again."""
    rate = cfg.get("rate")
    target = rate.get("target_kbps") if rate is not None else None
    if target is None:
        return cfg, None
    try:
        target = float(target)
    except (TypeError, ValueError):
        raise ConfigError(f"rate.target_kbps must be a number of kbit/s or null, found {target!r}; e.g. "
                          "rate.target_kbps=10") from None
    found = encode_at_target(cfg, frames, fps, target, model)
    return _with_rate(cfg, found.keyframe_qp, found.token_step), found.payload
