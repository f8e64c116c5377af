"""Building blocks shared by the tokenizer and the flow generator."""

from dynamics_codec.nn.unet import UNet, coordinate_channels

__all__ = ["UNet", "coordinate_channels"]
