"""Encoder-side control of the motion tokens: what the decoder will do, decided at the encoder.

* :mod:`.refine`: analysis by synthesis -- the tokenizer's tokens refined so that the decoder's
  output matches the frames (quantiser- and prediction-aware, optional rate term);
* :mod:`.decision`: per-frame choice between the coded tokens and no motion, by the decoder's
  actual output (signalled by the motion flags of the token coder).

Neither changes the bitstream format or the decoder.
"""

from .decision import MotionDecisionConfig, choose_motion_frames, key_frame_price
from .refine import RefineConfig, RefineResult, closed_loop_reconstruction, refine_tokens

__all__ = ["MotionDecisionConfig", "RefineConfig", "RefineResult", "choose_motion_frames", "key_frame_price",
           "closed_loop_reconstruction", "refine_tokens"]
