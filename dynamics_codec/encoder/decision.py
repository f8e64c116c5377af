"""Per-frame motion decision: send a frame's tokens only where the decoder's output gains from them.

The encoder knows what its decoder will output. For every inter frame it compares the frame the
decoder renders from the coded tokens with what it shows without motion (the decoded key frame),
and clears the frame's motion flag (:mod:`dynamics_codec.entropy.binarization`) where the
motion does not pay: where it does not lower the error by at least ``min_gain_db`` plus the
price of its bits, ``lambda_per_bit`` (in units of the frame's zero-motion error per bit).
A frame without motion costs its flag only (a fraction of a bit).

Because tokens are predicted from the previous decoded tokens, clearing a flag changes the
residuals (and the quantisation) of the frames after it, so the decision is re-checked on the
actual reconstruction until no further frame is cleared (flags only ever go from on to off, so
this ends after at most ``max_passes`` passes).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from dynamics_codec.entropy import TokenCodingConfig, estimate_bits_per_frame, quantize_closed_loop
from dynamics_codec.errors import ConfigError


@dataclass(frozen=True)
class MotionDecisionConfig:
    enabled: bool = True
    criterion: str = "auto"  # pixels (the decoder's frames) | flow (generated vs analysed flow) | auto
    min_gain_db: float = 0.0  # a frame keeps its motion only if it gains at least this much over none
    lambda_per_bit: float = 0.0  # rate price: relative error reduction each motion bit must buy
    max_passes: int = 3

    def __post_init__(self) -> None:
        if self.criterion not in ("auto", "pixels", "flow"):
            raise ConfigError(f"encoder.decision.criterion must be auto, pixels or flow, got {self.criterion!r}")
        if self.min_gain_db < 0 or self.lambda_per_bit < 0 or self.max_passes < 1:
            raise ConfigError("encoder.decision: min_gain_db and lambda_per_bit must be >= 0, max_passes >= 1")

    @classmethod
    def from_dict(cls, d: dict | None) -> "MotionDecisionConfig":
        d = dict(d or {})
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"encoder.decision: unknown option(s) {sorted(unknown)}")
        return cls(**d)


def choose_motion_frames(
    tokens: np.ndarray,
    coding: TokenCodingConfig,
    frame_errors: Callable[[np.ndarray, np.ndarray], np.ndarray],
    zero_errors: np.ndarray,
    config: MotionDecisionConfig,
) -> np.ndarray:
    """Motion flags (bool [T]) for tokens float32 ``[T, V, N]``.

    ``frame_errors(recon, active)`` returns the error (MSE) of each frame as decoded from the
    reconstructed tokens ``recon`` ``[T, V, N]`` (entries of inactive frames are ignored);
    ``zero_errors`` ``[T]`` is the error of each frame without motion.
    """
    t_count = tokens.shape[0]
    active = np.ones(t_count, dtype=bool)
    if not config.enabled or t_count == 0:
        return active
    factor = 10.0 ** (-config.min_gain_db / 10.0)
    for _ in range(config.max_passes):
        _, recon = quantize_closed_loop(tokens, coding.step, coding.alpha, active=active)
        errors = np.asarray(frame_errors(recon, active), dtype=np.float64)
        threshold = np.asarray(zero_errors, dtype=np.float64) * factor
        if config.lambda_per_bit > 0:
            threshold = threshold - config.lambda_per_bit * zero_errors * estimate_bits_per_frame(tokens, coding, active=active)
        keep = active & (errors < threshold)
        if np.array_equal(keep, active):
            break
        active = keep
    return active
