"""Encoder-side control of the motion tokens: what the decoder will do, decided at the encoder.

* :mod:`.decision`: per-frame choice between the coded tokens and no motion, by the decoder's
  actual output (signalled by the motion flags of the token coder).
"""

from .decision import MotionDecisionConfig, choose_motion_frames

__all__ = ["MotionDecisionConfig", "choose_motion_frames"]
