"""Token entropy coding: closed-loop prediction, uniform quantisation, context-adaptive
binary range coding (on ``constriction``)."""

from .adaptive import AdaptiveBinaryContexts, ideal_bits
from .coder import (
    MAX_TOKEN_VALUES,
    DecodedTokens,
    EncodedTokens,
    TokenCoder,
    coded_values,
    estimate_bits,
    estimate_bits_per_frame,
    min_payload_bytes,
)
from .config import NeighbourContext, TokenCodingConfig
from .quantization import MAX_ABS_INDEX, dequantize_closed_loop, quantize_closed_loop

__all__ = [
    "AdaptiveBinaryContexts",
    "DecodedTokens",
    "EncodedTokens",
    "MAX_ABS_INDEX",
    "MAX_TOKEN_VALUES",
    "NeighbourContext",
    "TokenCoder",
    "TokenCodingConfig",
    "coded_values",
    "dequantize_closed_loop",
    "estimate_bits",
    "estimate_bits_per_frame",
    "ideal_bits",
    "min_payload_bytes",
    "quantize_closed_loop",
]
