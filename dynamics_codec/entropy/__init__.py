"""Token entropy coding: closed-loop prediction, uniform quantisation, context-adaptive
binary range coding (on ``constriction``)."""

from .adaptive import AdaptiveBinaryContexts, ideal_bits
from .coder import EncodedTokens, TokenCoder, estimate_bits, min_payload_bytes
from .config import NeighbourContext, TokenCodingConfig
from .quantization import MAX_ABS_INDEX, dequantize_closed_loop, quantize_closed_loop

__all__ = [
    "AdaptiveBinaryContexts",
    "EncodedTokens",
    "MAX_ABS_INDEX",
    "NeighbourContext",
    "TokenCoder",
    "TokenCodingConfig",
    "dequantize_closed_loop",
    "estimate_bits",
    "ideal_bits",
    "min_payload_bytes",
    "quantize_closed_loop",
]
