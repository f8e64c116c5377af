"""Motion tokenizer: sparse flow + mask (+ key frame) -> V token vectors of N values."""

from dynamics_codec.tokenizer.model import MotionTokenizer, TokenizerConfig, Vectorizer

__all__ = ["MotionTokenizer", "TokenizerConfig", "Vectorizer"]
