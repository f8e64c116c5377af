"""Dense-flow generator: decoded key frame x motion tokens -> dense flow."""

from dynamics_codec.generator.model import DenseFlowGenerator, GeneratorConfig

__all__ = ["DenseFlowGenerator", "GeneratorConfig"]
