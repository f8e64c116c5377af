"""The interface every frame decoder keeps, and the registry that builds one by name.

A frame decoder turns the decoded key frame and the regenerated dense flow into the video's
frames. Decoders: ``"warp"`` (weightless warping, :mod:`dynamics_codec.decoder.warp`) and,
later, the generative SVD decoder. Configs name a decoder and its options;
``build_decoder(name, **options)`` returns it.
"""

from __future__ import annotations

import abc
import inspect
from typing import Callable, TypeVar

import torch

from dynamics_codec.errors import ConfigError, InputError


class FrameDecoder(torch.nn.Module, abc.ABC):
    """Key frame + dense flow key -> frame t  ->  frames.

    Subclasses implement :meth:`decode`; ``forward`` calls it so a decoder composes like any
    ``nn.Module``. Decoders follow their inputs' device and dtype.

    ``frames_per_call``: how many frames a caller may hand over at once (memory bound) -- an
    int for decoders whose frames are independent (warping), ``None`` for decoders that must
    see the whole sequence in one call (the generative decoder plans its own windows).
    """

    frames_per_call: int | None = 16

    @abc.abstractmethod
    def decode(
        self,
        key: torch.Tensor,
        flow: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Reconstruct the frames.

        Args:
            key: ``[B, 3, H, W]`` float RGB in [0, 1], the decoded key frame.
            flow: ``[B, T, 2, H, W]`` float pixels, key frame -> frame t (where a key-frame pixel
                goes; channel 0 = x, 1 = y).
            generator: source of randomness for stochastic decoders; deterministic decoders
                ignore it.

        Returns:
            ``[B, T, 3, H, W]`` float RGB in [0, 1], on ``key``'s device, in ``key``'s dtype.
        """

    def forward(
        self,
        key: torch.Tensor,
        flow: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return self.decode(key, flow, generator=generator)


def check_decoder_inputs(key: torch.Tensor, flow: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``key`` is ``[B, 3, H, W]`` and ``flow`` ``[B, T, 2, H, W]``."""
    if key.dim() != 4 or key.shape[1] != 3:
        raise InputError(f"decoder expects the key frame as [B, 3, H, W] RGB; got shape {tuple(key.shape)}.")
    b, _, h, w = key.shape
    if flow.dim() != 5 or flow.shape[0] != b or flow.shape[2] != 2 or tuple(flow.shape[3:]) != (h, w):
        raise InputError(
            f"decoder expects flow as [B, T, 2, H, W] with B={b}, H={h}, W={w} (the key frame's); "
            f"got shape {tuple(flow.shape)}."
        )
    if not key.is_floating_point() or not flow.is_floating_point():
        raise InputError(
            f"decoder expects floating-point key frame and flow (RGB in [0, 1], flow in pixels); "
            f"got {key.dtype} and {flow.dtype}. Convert uint8 frames with .float() / 255 first."
        )
    if key.device != flow.device:
        raise InputError(f"key frame ({key.device}) and flow ({flow.device}) must be on the same device.")


_DECODERS: dict[str, type[FrameDecoder]] = {}

DecoderClass = TypeVar("DecoderClass", bound=type[FrameDecoder])


def register_decoder(name: str) -> Callable[[DecoderClass], DecoderClass]:
    """Class decorator: make ``build_decoder(name, ...)`` construct the decorated decoder."""

    def decorate(cls: DecoderClass) -> DecoderClass:
        if not (isinstance(cls, type) and issubclass(cls, FrameDecoder)):
            raise TypeError(f"@register_decoder({name!r}) decorates FrameDecoder subclasses; got {cls!r}.")
        existing = _DECODERS.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ConfigError(
                f"decoder name {name!r} is already registered to {existing.__module__}.{existing.__qualname__}; "
                f"pick another name for {cls.__module__}.{cls.__qualname__}."
            )
        _DECODERS[name] = cls
        return cls

    return decorate


def available_decoders() -> list[str]:
    """Names accepted by :func:`build_decoder` (sorted)."""
    return sorted(_DECODERS)


def build_decoder(name: str, **options: object) -> FrameDecoder:
    """Construct the decoder registered as ``name`` with keyword ``options``.

    Raises:
        ConfigError: ``name`` is not registered, or the options do not fit its constructor.
    """
    cls = _DECODERS.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown decoder {name!r}; known decoders: {', '.join(available_decoders()) or '(none)'}. "
            "Set decoder.name to one of them."
        )
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as error:
        raise ConfigError(
            f"decoder {name!r} does not accept options {sorted(options)}: {error}. "
            f"Its signature is {cls.__name__}{inspect.signature(cls)}."
        ) from error
    return cls(**options)
