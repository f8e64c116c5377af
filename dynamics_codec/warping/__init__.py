"""Shared geometry below both analysis and decoders: backward warping, flow inversion, softmax splatting,
resizing images and flows.

Flow analysis (:mod:`dynamics_codec.flow`), training data (:mod:`dynamics_codec.data`), the
trainer and the frame decoders (:mod:`dynamics_codec.decoder`) all warp with these; none of them
needs a decoder to do so.
"""

from dynamics_codec.warping.backward import backward_warp, invert_flow, pixel_grid
from dynamics_codec.warping.resize import resize_flow, resize_frames
from dynamics_codec.warping.softsplat import (
    NORMALISATION_EPS,
    SPLAT_MODES,
    accumulation_dtype,
    softsplat,
    softsplat_with_weight,
    splat_sum,
)

__all__ = ["backward_warp", "invert_flow", "pixel_grid", "NORMALISATION_EPS", "SPLAT_MODES", "accumulation_dtype",
           "softsplat", "softsplat_with_weight", "splat_sum", "resize_flow", "resize_frames"]
