"""Reading Hydra/OmegaConf config sections as plain keyword arguments."""

from __future__ import annotations

from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf


def section_options(section: Mapping[str, Any] | DictConfig, drop: tuple[str, ...] = ("name",)) -> dict[str, Any]:
    """A config group node as a plain dict (interpolations resolved), minus the keys in ``drop``
    (by default ``name``, which selects the implementation rather than configuring it)."""
    d = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)
    return {k: v for k, v in d.items() if k not in drop}
