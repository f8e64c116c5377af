"""CMP (Conditional Motion Propagation) as configured in MOFA-Video: sparse -> dense motion.

The training target of the paper (``target=cmp``): the dense flow MOFA's own motion predictor
makes from the sparse points, so the regenerated flow is what MOFA's adaptor expects.

* :class:`CMP` - the network (names = published checkpoint names minus ``module.``);
* :class:`Fuser` - 198 logits (99 bins for x, 99 for y, fmax 50) -> flow in pixels;
* :func:`load_cmp_checkpoint` - the published ``ckpt_iter_42000.pth.tar``, verified strictly;
* :class:`CMPMotionPredictor` - MOFA's pipeline around CMP (384x384, nearest resizing);
* :func:`build_cmp_predictor` - the same from the ``cmp`` config group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dynamics_codec.cmp.checkpoint import (
    CHECKPOINT_FILENAME,
    load_cmp_checkpoint,
    load_cmp_state_dict,
    read_cmp_state_dict,
)
from dynamics_codec.cmp.fuser import Fuser
from dynamics_codec.cmp.init import build_cmp
from dynamics_codec.cmp.model import CMP, CMPConfig
from dynamics_codec.cmp.predictor import CMPMotionPredictor, CMPRun, run_cmp


def build_cmp_predictor(cfg: Mapping[str, Any], device=None) -> CMPMotionPredictor:
    """A :class:`CMPMotionPredictor` from a ``cmp`` config group node (see ``configs/cmp/mofa.yaml``)."""
    config = CMPConfig(
        img_enc_dim=int(cfg.get("img_enc_dim", 256)),
        sparse_enc_dim=int(cfg.get("sparse_enc_dim", 16)),
        nbins=int(cfg.get("nbins", 99)),
        fmax=float(cfg.get("fmax", 50.0)),
    )
    checkpoint = cfg.get("checkpoint")
    return CMPMotionPredictor(
        checkpoint=None if checkpoint is None else str(checkpoint),
        size=int(cfg.get("size", 384)),
        device=device,
        allow_random_weights=bool(cfg.get("allow_random_weights", False)),
        chunk_size=cfg.get("chunk_size"),
        config=config,
    )


__all__ = [
    "CHECKPOINT_FILENAME",
    "CMP",
    "CMPConfig",
    "CMPMotionPredictor",
    "CMPRun",
    "Fuser",
    "build_cmp",
    "build_cmp_predictor",
    "load_cmp_checkpoint",
    "load_cmp_state_dict",
    "read_cmp_state_dict",
    "run_cmp",
]
