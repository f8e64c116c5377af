"""Loading MOFA-Video's published CMP checkpoint ``ckpt_iter_42000.pth.tar``.

Container (written by CMP's ``SingleStageModel.save_state``): a ``torch.save`` dict
``{'step': int, 'state_dict': OrderedDict, 'optimizer': optimizer state dict}``. Every
state-dict key starts with ``module.`` (the network sits in a ``FixModule``/``DistModule``
wrapper). The file is read with ``torch.load(..., weights_only=True)``: tensors, plain
containers and numbers only, which covers the optimizer state too; nothing else is unpickled.

The reference loads with ``strict=False`` and so loads *nothing* if the names do not match;
here every key is verified and a mismatch raises :class:`ConfigError` naming the keys.
BatchNorm ``num_batches_tracked`` counters may be absent (older PyTorch); they do not affect
eval-mode outputs and are then kept at the model's own value.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from dynamics_codec.cmp.model import CMP, CMPConfig
from dynamics_codec.errors import ConfigError, MissingWeightsError

CHECKPOINT_FILENAME = "ckpt_iter_42000.pth.tar"
CHECKPOINT_ORIGIN = (
    "MOFA-Video's models/cmp/experiments/semiauto_annot/resnet50_vip+mpii_liteflow/checkpoints/"
    f"{CHECKPOINT_FILENAME} (Hugging Face MyNiuuu/MOFA-Video-Traj, also in MyNiuuu/MOFA-Video-Hybrid)"
)
STATE_DICT_KEY = "state_dict"
WRAPPER_PREFIX = "module."
OPTIONAL_SUFFIX = "num_batches_tracked"


def read_cmp_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a CMP checkpoint file and return its state dict with bare names (tensors on CPU).

    Accepts the published container (``{'state_dict': ..., 'step': ..., 'optimizer': ...}``)
    or a bare state dict; strips the ``module.`` prefix when every key carries it.

    Raises:
        MissingWeightsError: the file does not exist.
        ConfigError: the file cannot be read safely or holds no state dict of tensors.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingWeightsError(
            f"CMP checkpoint not found: expected {file.name!r} at {file.resolve()} (looked there, nothing found). "
            f"Download {CHECKPOINT_ORIGIN} and place it there or set cmp.checkpoint=<file> (default "
            f"third_party/checkpoints/cmp/{CHECKPOINT_FILENAME}; see third_party/README.md), or train without CMP "
            "targets: train.target=flow (L1 against the flow backend's dense flow)."
        )
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ConfigError(
            f"could not read {file} as a weights-only torch checkpoint ({type(err).__name__}: {str(err)[:300]}). "
            f"Expected the published {CHECKPOINT_FILENAME}; arbitrary pickled objects are refused on purpose. "
            f"Re-download the file ({CHECKPOINT_ORIGIN})."
        ) from err
    state = payload.get(STATE_DICT_KEY, payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = (f"a dict with keys {sorted(map(str, payload))[:8]}" if isinstance(payload, Mapping)
                 else type(payload).__name__)
        raise ConfigError(
            f"{file} is not a CMP checkpoint: expected a dict holding the state dict (tensors) under "
            f"{STATE_DICT_KEY!r}, or a bare state dict; found {found}. Use {CHECKPOINT_ORIGIN}."
        )
    return strip_wrapper_prefix(state)


def strip_wrapper_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix if (and only if) every key has it."""
    if all(k.startswith(WRAPPER_PREFIX) for k in state):
        return {k[len(WRAPPER_PREFIX):]: v for k, v in state.items()}
    return dict(state)


def load_cmp_state_dict(model: CMP, state: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
    """Strictly load bare-named ``state`` into ``model``; ConfigError naming every mismatch.

    Missing ``*.num_batches_tracked`` entries are tolerated (the model keeps its own).
    """
    expected = model.state_dict()
    missing = sorted(k for k in set(expected) - set(state) if not k.endswith(OPTIONAL_SUFFIX))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items() if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        def show(items: list[str]) -> str:
            return f"{len(items)} {items[:6]}{' ...' if len(items) > 6 else ''}"
        raise ConfigError(
            f"{source} does not match MOFA's CMP (resnet50 + shallownet8x + MotionDecoderSkipLayer, 198 outputs): "
            f"missing keys {show(missing)}, unexpected keys {show(unexpected)}, wrong shapes {show(wrong_shape)}. "
            f"Expected {CHECKPOINT_FILENAME} from {CHECKPOINT_ORIGIN} (names 'module.<name>' or bare)."
        )
    complete = dict(expected)
    complete.update(state)
    model.load_state_dict(complete, strict=True)


def load_cmp_checkpoint(path: str | os.PathLike, config: CMPConfig | None = None) -> CMP:
    """Build :class:`CMP`, load the checkpoint at ``path`` strictly, return it in eval mode (CPU)."""
    model = CMP(config)
    load_cmp_state_dict(model, read_cmp_state_dict(path), source=str(path))
    return model.eval()
