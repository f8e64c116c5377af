"""Motion decisions at the encoder: send motion only where the decoder's output gains from it.

The encoder knows what its decoder will output. Two decisions use that:

1. **Per frame** (:func:`choose_motion_frames`): for every inter frame, the frame the decoder
   renders from the coded tokens is compared with what it shows without motion (the decoded key
   frame). The frame keeps its motion only where the motion lowers the error by more than its
   bits are worth: ``err_t < zero_t * 10^(-min_gain_db/10) - price * bits_t``. ``price`` is the
   error reduction a bit buys elsewhere -- by default what it buys on the key frame, the
   strongest simple alternative use of the bits (:func:`key_frame_price`). Frames without motion
   cost their flag only (:mod:`dynamics_codec.entropy.binarization`). Because tokens are
   predicted from the previous decoded tokens, clearing a flag changes the residuals of the
   frames after it, so the decision is re-checked on the actual reconstruction until no further
   frame is cleared (flags only go from on to off, so this ends).

2. **Per clip** (the encoder's key-frame fallback, :class:`~dynamics_codec.codec.Encoder`): if
   the key frame alone at a finer QP fits in the bits of the whole stream and decodes better
   than the stream with motion, the encoder sends that instead (all frames without motion).

``scale`` < 1 renders and compares the frames at that fraction of their size (area-downsampled
frames, key frame and flow; every error of both decisions, the key frame's included, at that
size): about a quarter of the work at 0.5, for an approximation of the full-size errors.
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
    rate_price: str | float = "key_frame"  # error reduction a motion bit must buy: key_frame | a number (0: none)
    key_frame_fallback: bool = True  # send the key frame alone at a finer QP when that decodes better in the same bits
    max_passes: int = 3
    scale: float = 1.0  # pixels criterion: resolution the frames are rendered and compared at (fraction of the size)

    def __post_init__(self) -> None:
        if self.criterion not in ("auto", "pixels", "flow"):
            raise ConfigError(f"encoder.decision.criterion must be auto, pixels or flow, got {self.criterion!r}")
        if self.min_gain_db < 0 or self.max_passes < 1:
            raise ConfigError("encoder.decision: min_gain_db must be >= 0 and max_passes >= 1")
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not 0.0 < self.scale <= 1.0:
            raise ConfigError(f"encoder.decision.scale must be a fraction of the frame size in (0, 1], got {self.scale!r}")
        if self.rate_price != "key_frame" and not (isinstance(self.rate_price, (int, float)) and self.rate_price >= 0):
            raise ConfigError(f"encoder.decision.rate_price must be 'key_frame' or a number >= 0, got {self.rate_price!r}")

    @classmethod
    def from_dict(cls, d: dict | None) -> "MotionDecisionConfig":
        d = dict(d or {})
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"encoder.decision: unknown option(s) {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        return cls(**d)


def key_frame_price(mse_coarse: float, mse_fine: float, bits_coarse: int, bits_fine: int, num_frames: int) -> float:
    """Error a bit buys on the key frame: coding it at the next finer QP lowers the mean error of
    every one of the ``num_frames`` frames (all show it) from ``mse_coarse`` to ``mse_fine`` for
    ``bits_fine - bits_coarse`` more bits. Returns the reduction of the frames' summed error per
    bit (0 if the finer QP is not better or not more expensive)."""
    extra = bits_fine - bits_coarse
    if extra <= 0 or mse_fine >= mse_coarse:
        return 0.0
    return num_frames * (mse_coarse - mse_fine) / extra


def choose_motion_frames(
    tokens: np.ndarray,
    coding: TokenCodingConfig,
    frame_errors: Callable[[np.ndarray, np.ndarray], np.ndarray],
    zero_errors: np.ndarray,
    config: MotionDecisionConfig,
    price: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Motion flags bool ``[T]`` for tokens float32 ``[T, V, N]``, and every frame's error under them.

    ``frame_errors(recon, active)`` returns the error (MSE) of each frame as decoded from the
    reconstructed tokens ``recon`` ``[T, V, N]`` (entries of inactive frames are ignored);
    ``zero_errors`` ``[T]`` is each frame's error without motion; ``price`` the error reduction
    each motion bit must buy. The returned errors are ``zero_errors`` for inactive frames.
    """
    t_count = tokens.shape[0]
    active = np.ones(t_count, dtype=bool)
    zero = np.asarray(zero_errors, dtype=np.float64)
    if t_count == 0:
        return active, zero.copy()
    factor = 10.0 ** (-config.min_gain_db / 10.0)
    errors = None
    for _ in range(config.max_passes + 1):
        _, recon = quantize_closed_loop(tokens, coding.step, coding.alpha, active=active)
        errors = np.where(active, np.asarray(frame_errors(recon, active), dtype=np.float64), zero)
        if not config.enabled:
            break
        threshold = zero * factor
        if price > 0:
            threshold = threshold - price * estimate_bits_per_frame(tokens, coding, active=active)
        keep = active & (errors < threshold)
        if np.array_equal(keep, active) or not keep.any():
            active = keep
            break
        active = keep
    errors = np.where(active, errors, zero)
    return active, errors
