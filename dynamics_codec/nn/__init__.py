"""Building blocks shared by the tokenizer and the flow generator."""

from dynamics_codec.nn.unet import UNet

__all__ = ["UNet"]
