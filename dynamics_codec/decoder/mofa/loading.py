"""Load the generative decoder's components from local folders or the Hugging Face hub.

Layouts:

* SVD (``stable-video-diffusion-img2vid-xt-1-1``): ``unet/``, ``vae/`` (config.json +
  ``diffusion_pytorch_model[.fp16].safetensors``), ``image_encoder/`` (config.json +
  ``model[.fp16].safetensors``), ``scheduler/scheduler_config.json``.
* MOFA adaptor (``ckpts/controlnet``): ``diffusion_pytorch_model.safetensors`` (+ config.json).
  As in the reference, the structure is always the SVD-xt default (``FlowAdaptor()``) whatever
  config.json says; a differing config.json is reported in the log.

A path that is not a local folder but looks like ``owner/name`` is treated as a hub id: the
files are taken from the local Hugging Face cache, downloaded only when the hub is reachable and
``HF_HUB_OFFLINE`` is not set. A hub id is used only at a pinned revision (a commit sha:
``decoder.svd_revision`` / ``decoder.adaptor_revision``), so the weights cannot change under the
same name; without one it is refused. Anything missing raises :class:`MissingWeightsError` listing every
missing file and where it was looked for.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file

from dynamics_codec.decoder.mofa.adaptor import FlowAdaptor
from dynamics_codec.decoder.mofa.components import MofaComponents
from dynamics_codec.decoder.mofa.unet import UNetSpatioTemporalWithResiduals
from dynamics_codec.errors import ConfigError, MissingWeightsError

log = logging.getLogger(__name__)

SVD_HUB_ID = "stabilityai/stable-video-diffusion-img2vid-xt-1-1"
MOFA_HUB_ID = "MyNiuuu/MOFA-Video-Traj"  # the adaptor is its ckpts/controlnet folder

#: what -> (how to download it, the decoder option that points at the folder)
DOWNLOAD_HINTS: dict[str, tuple[str, str]] = {
    "SVD": (f"huggingface-cli download {SVD_HUB_ID} --local-dir <folder> (gated: accept the licence on the "
            "model page first)", "decoder.svd_path=<folder>"),
    "MOFA flow adaptor": (f"huggingface-cli download {MOFA_HUB_ID} --include 'ckpts/controlnet/*' --local-dir "
                          "<folder>", "decoder.adaptor_path=<folder>/ckpts/controlnet"),
}


def how_to_get(what: str) -> str:
    """The download command and the decoder override for ``what`` (a key of :data:`DOWNLOAD_HINTS`)."""
    download, override = DOWNLOAD_HINTS[what]
    return f"download it with `{download}` and set {override}"

#: (sub-folder, config file, weight file stem) of each SVD component.
SVD_LAYOUT: dict[str, tuple[str, str, str]] = {
    "unet": ("unet", "config.json", "diffusion_pytorch_model"),
    "vae": ("vae", "config.json", "diffusion_pytorch_model"),
    "image_encoder": ("image_encoder", "config.json", "model"),
}
SCHEDULER_CONFIG = "scheduler/scheduler_config.json"
ADAPTOR_WEIGHTS = "diffusion_pytorch_model.safetensors"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _weight_file(folder: Path, stem: str, prefer_fp16: bool) -> tuple[Path | None, str | None]:
    """The weight file of a component folder and its diffusers variant (None or 'fp16')."""
    full, half = folder / f"{stem}.safetensors", folder / f"{stem}.fp16.safetensors"
    order = [(half, "fp16"), (full, None)] if prefer_fp16 else [(full, None), (half, "fp16")]
    for path, variant in order:
        if path.is_file():
            return path, variant
    return None, None


def missing_svd_files(folder: Path) -> list[str]:
    """Relative paths an SVD folder lacks (empty when complete)."""
    missing = []
    for sub, config, stem in SVD_LAYOUT.values():
        if not (folder / sub / config).is_file():
            missing.append(f"{sub}/{config}")
        if _weight_file(folder / sub, stem, False)[0] is None:
            missing.append(f"{sub}/{stem}[.fp16].safetensors")
    if not (folder / SCHEDULER_CONFIG).is_file():
        missing.append(SCHEDULER_CONFIG)
    return missing


def missing_adaptor_files(folder: Path) -> list[str]:
    return [] if (folder / ADAPTOR_WEIGHTS).is_file() else [ADAPTOR_WEIGHTS]


def resolve_folder(path_or_id: str | os.PathLike, patterns: list[str], what: str, revision: str | None = None,
                   revision_key: str = "decoder.svd_revision") -> Path:
    """A local folder for ``path_or_id``: the folder itself, or a hub snapshot at ``revision`` (cache first).

    Raises:
        MissingWeightsError: neither a folder nor a reachable / cached hub id.
    """
    path = Path(os.path.expanduser(str(path_or_id)))
    if path.is_dir():
        return path
    if not _HUB_ID.match(str(path_or_id)):
        raise MissingWeightsError(
            f"{what}: '{path_or_id}' is neither a folder nor a hub id (owner/name); {how_to_get(what)}"
        )
    if not revision:
        raise MissingWeightsError(
            f"{what}: hub id '{path_or_id}' needs a pinned revision: set {revision_key}=<commit sha from the "
            "model page's history> (unpinned downloads are refused: the files could change under the same name), "
            "or point the path at a local folder")
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        return Path(snapshot_download(str(path_or_id), revision=str(revision), allow_patterns=patterns,
                                      local_files_only=offline))
    except Exception as error:  # noqa: BLE001 - every hub failure means "not available here"
        where = "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "the Hugging Face hub and its local cache"
        raise MissingWeightsError(
            f"{what}: hub id '{path_or_id}' is not available from {where}: {error}. On a machine with access, "
            f"{how_to_get(what)}"
        ) from error


AdaptorStructure = Literal["reference", "config"]


def load_flow_adaptor(
    folder: str | os.PathLike, dtype: torch.dtype = torch.float32, structure: AdaptorStructure = "reference"
) -> FlowAdaptor:
    """An adaptor from ``folder`` (MOFA's ``ckpts/controlnet`` layout).

    Args:
        structure: "reference" (default, for MOFA's published weights): ``FlowAdaptor()``, the
            SVD-xt structure the reference always builds whatever config.json says (a differing
            config.json is logged). "config": build from config.json (adaptors saved by us).

    Raises:
        MissingWeightsError: the safetensors file (or, for "config", config.json) is absent.
        RuntimeError: the weights do not fit the structure (names or shapes).
    """
    folder = Path(folder)
    missing = missing_adaptor_files(folder)
    config_file = folder / "config.json"
    if structure == "config" and not config_file.is_file():
        missing.append("config.json")
    if missing:
        raise MissingWeightsError(
            f"MOFA flow adaptor: missing {missing} in {folder}. Expected MOFA-Video's ckpts/controlnet folder "
            "(diffusion_pytorch_model.safetensors + config.json)."
        )
    if structure not in ("reference", "config"):
        raise ConfigError(f"adaptor structure must be 'reference' or 'config'; got {structure!r}.")
    saved = json.loads(config_file.read_text()) if config_file.is_file() else {}
    with torch.device("meta"):
        if structure == "config":
            adaptor = FlowAdaptor.from_config(saved)
        else:
            adaptor = FlowAdaptor()
            differing = sorted(
                k for k, v in saved.items()
                if k in adaptor.config and _normalise(v) != _normalise(adaptor.config[k])
            )
            if differing:
                log.info("adaptor config.json differs from the reference structure in %s; like the reference, "
                         "the SVD-xt structure is built (structure='config' honours config.json)", differing)
    state = load_file(str(folder / ADAPTOR_WEIGHTS))
    adaptor.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    return adaptor.eval().requires_grad_(False)


def _normalise(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def load_components(
    svd_path: str | os.PathLike = SVD_HUB_ID,
    adaptor_path: str | os.PathLike | None = None,
    dtype: torch.dtype = torch.float32,
    adaptor_structure: AdaptorStructure = "reference",
    svd_revision: str | None = None,
    adaptor_revision: str | None = None,
) -> MofaComponents:
    """Load every component (on CPU, in ``dtype``).

    Args:
        svd_path: SVD folder or hub id.
        adaptor_path: MOFA ``ckpts/controlnet`` folder or hub id (required).
        adaptor_structure: see :func:`load_flow_adaptor`.
        svd_revision, adaptor_revision: the hub commit to use when a path is a hub id (required then).

    Raises:
        MissingWeightsError: listing every missing file of both folders and where they were looked for.
    """
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import CLIPVisionModelWithProjection

    problems = []
    svd_folder = adaptor_folder = None
    try:
        svd_folder = resolve_folder(svd_path, ["unet/*", "vae/*", "image_encoder/*", "scheduler/*", "*.json"], "SVD",
                                    svd_revision, "decoder.svd_revision")
        missing = missing_svd_files(svd_folder)
        if missing:
            problems.append(f"SVD folder {svd_folder} lacks {missing}; {how_to_get('SVD')}")
    except MissingWeightsError as error:
        problems.append(str(error))
    if adaptor_path is None:
        problems.append(f"MOFA flow adaptor: no path given; {how_to_get('MOFA flow adaptor')}")
    else:
        try:
            adaptor_folder = resolve_folder(adaptor_path, ["*.json", "*.safetensors"], "MOFA flow adaptor",
                                            adaptor_revision, "decoder.adaptor_revision")
            missing = missing_adaptor_files(adaptor_folder)
            if missing:
                problems.append(f"MOFA adaptor folder {adaptor_folder} lacks {missing}; {how_to_get('MOFA flow adaptor')}")
        except MissingWeightsError as error:
            problems.append(str(error))
    if problems:
        raise MissingWeightsError("generative decoder weights are missing:\n  - " + "\n  - ".join(problems))

    prefer_fp16 = dtype == torch.float16
    _, unet_variant = _weight_file(svd_folder / "unet", "diffusion_pytorch_model", prefer_fp16)
    _, vae_variant = _weight_file(svd_folder / "vae", "diffusion_pytorch_model", prefer_fp16)
    _, clip_variant = _weight_file(svd_folder / "image_encoder", "model", prefer_fp16)
    unet = UNetSpatioTemporalWithResiduals.from_pretrained(svd_folder / "unet", variant=unet_variant, torch_dtype=dtype)
    vae = AutoencoderKLTemporalDecoder.from_pretrained(svd_folder / "vae", variant=vae_variant, torch_dtype=dtype)
    image_encoder = CLIPVisionModelWithProjection.from_pretrained(svd_folder / "image_encoder", variant=clip_variant, dtype=dtype)
    scheduler = EulerDiscreteScheduler.from_pretrained(svd_folder, subfolder="scheduler")
    adaptor = load_flow_adaptor(adaptor_folder, dtype, adaptor_structure)
    for module in (unet, vae, image_encoder):
        module.eval().requires_grad_(False)
    return MofaComponents(unet=unet, adaptor=adaptor, vae=vae, image_encoder=image_encoder, scheduler=scheduler)
