"""Decoders: dense flow + decoded key frame -> frames.

``build_decoder(name, **options)`` constructs a registered :class:`FrameDecoder`:

    warp      weightless warping of the key frame (softmax splatting or backward sampling)

:func:`softsplat` (forward softmax splatting, MOFA semantics) is also what the generative
decoder's flow adaptor uses to warp multi-scale features.
"""

from dynamics_codec.decoder.base import (
    FrameDecoder,
    available_decoders,
    build_decoder,
    check_decoder_inputs,
    register_decoder,
)
from dynamics_codec.decoder.softsplat import softsplat, softsplat_with_weight
from dynamics_codec.decoder.warp import WarpDecoder, backward_warp, invert_flow

__all__ = [
    "FrameDecoder",
    "WarpDecoder",
    "available_decoders",
    "backward_warp",
    "build_decoder",
    "check_decoder_inputs",
    "invert_flow",
    "register_decoder",
    "softsplat",
    "softsplat_with_weight",
]
