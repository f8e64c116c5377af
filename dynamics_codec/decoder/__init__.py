"""Decoders: dense flow + decoded key frame -> frames.

``build_decoder(name, **options)`` constructs a registered :class:`FrameDecoder`:

    warp      weightless warping of the key frame (softmax splatting or backward sampling)
    mofa_svd  the generative decoder: MOFA's flow adaptor on Stable Video Diffusion

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
from dynamics_codec.warping import softsplat, softsplat_with_weight
from dynamics_codec.decoder.warp import WarpDecoder, backward_warp, invert_flow
from dynamics_codec.decoder.mofa_svd import MofaSVDDecoder  # noqa: E402  (registers "mofa_svd"; heavy parts load lazily)

__all__ = [
    "FrameDecoder",
    "MofaSVDDecoder",
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
