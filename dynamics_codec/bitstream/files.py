"""Reading and writing ``.dcv`` files (atomic writes, size-capped reads)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BitstreamError
from ..utils.files import atomic_write_bytes

#: Default cap of :func:`read_stream_file`: far above any 5-15 kbps video.
DEFAULT_MAX_FILE_BYTES = 64 << 20


def write_stream_file(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write a packed stream to ``path`` atomically (temporary file + rename); an existing file is
    replaced only with ``overwrite`` (see :mod:`dynamics_codec.utils.files`)."""
    if not isinstance(data, (bytes, bytearray)):
        raise BitstreamError(f"stream data must be bytes, got {type(data).__name__}")
    return atomic_write_bytes(path, bytes(data), overwrite=overwrite)


def read_stream_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """Read a stream file, refusing files larger than ``max_bytes`` before reading them."""
    size = os.stat(path).st_size
    if size > max_bytes:
        raise BitstreamError(f"{path} is {size} bytes, more than the {max_bytes}-byte limit for a .dcv stream")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BitstreamError(f"{path} grew beyond the {max_bytes}-byte limit while being read")
    return data
