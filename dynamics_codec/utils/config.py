"""Reading Hydra/OmegaConf config sections as plain keyword arguments."""

from __future__ import annotations

from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from dynamics_codec.errors import ConfigError


def section_options(section: Mapping[str, Any] | DictConfig, drop: tuple[str, ...] = ("name",)) -> dict[str, Any]:
    """A config group node as a plain dict (interpolations resolved), minus the keys in ``drop``
    (by default ``name``, which selects the implementation rather than configuring it)."""
    d = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)
    return {k: v for k, v in d.items() if k not in drop}


def check_device(device: Any, key: str = "device"):
    """``torch.device(device)``, or :class:`ConfigError` naming ``key`` when it is not a device name or
    not available on this machine (checked before any work, not when the first tensor moves)."""
    import torch

    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"{key}={device} is not a device name ({err}); use {key}=cpu or {key}=cuda") from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"{key}={device} but this machine has no usable CUDA GPU (torch.cuda.is_available() "
                              f"is false: no NVIDIA driver, or a CPU-only PyTorch build); use {key}=cpu")
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"{key}={device} but only {count} CUDA device(s) exist; use {key}=cuda:0 .. cuda:{count - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key}={device} but MPS is not available here; use {key}=cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{key}={device}: unsupported device type '{dev.type}'; use {key}=cpu or {key}=cuda")
    return dev
