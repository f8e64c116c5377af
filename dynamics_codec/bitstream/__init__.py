"""The ``.dcv`` bitstream: one file per video (header, key-frame payload, motion payload)."""

from .files import DEFAULT_MAX_FILE_BYTES, read_stream_file, write_stream_file
from .format import (
    FORMAT_VERSION,
    MAGIC,
    KeyframeCodecId,
    ParsedStream,
    StreamHeader,
    pack_stream,
    parse_stream,
)

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "FORMAT_VERSION",
    "KeyframeCodecId",
    "MAGIC",
    "ParsedStream",
    "StreamHeader",
    "pack_stream",
    "parse_stream",
    "read_stream_file",
    "write_stream_file",
]
