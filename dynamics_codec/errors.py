"""One exception type per domain.

Messages say what was expected, what was found, and what to do about it.
All derive from :class:`DynamicsCodecError` so callers can catch the whole family.
"""

from __future__ import annotations


class DynamicsCodecError(Exception):
    """Base class of every error this package raises on purpose."""


class BitstreamError(DynamicsCodecError, ValueError):
    """A bitstream (or payload inside it) is malformed, truncated or unsupported."""


class ConfigError(DynamicsCodecError, ValueError):
    """A configuration value is missing, inconsistent or out of range."""


class InputError(DynamicsCodecError, ValueError):
    """User input (a video, an image, an array) is not what the function accepts."""


class MissingWeightsError(DynamicsCodecError, FileNotFoundError):
    """A pretrained checkpoint is not where the configuration says it is."""


class ExternalToolError(DynamicsCodecError, RuntimeError):
    """An external program (VTM, ffmpeg through PyAV, ...) is missing or failed."""
