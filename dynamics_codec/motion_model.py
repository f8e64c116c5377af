"""The trained part of the codec: tokenizer + dense-flow generator, saved together.

A checkpoint is a folder holding ``model.safetensors`` (weights, tensor names prefixed
``tokenizer.`` / ``generator.``) and ``config.json`` (both networks' configurations and a
free-form ``info`` block). The bitstream names the weights it needs by
:meth:`MotionModel.content_hash`, a hash of the tensors themselves (names, dtypes, shapes,
values), so encoder and decoder can check that they hold the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dynamics_codec.errors import ConfigError, MissingWeightsError
from dynamics_codec.generator import DenseFlowGenerator, GeneratorConfig
from dynamics_codec.tokenizer import MotionTokenizer, TokenizerConfig
from dynamics_codec.utils.files import atomic_output_path, atomic_write_text

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: checkpoints shipped inside the package, addressed as ``builtin:<name>``
BUILTIN_DIR = Path(__file__).resolve().parent / "checkpoints"


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder; ``builtin:<name>`` names one shipped with the package."""
    text = str(path)
    if text.startswith("builtin:"):
        name = text[len("builtin:"):]
        folder = BUILTIN_DIR / name
        if not folder.is_dir():
            known = sorted(p.name for p in BUILTIN_DIR.iterdir() if p.is_dir()) if BUILTIN_DIR.is_dir() else []
            raise MissingWeightsError(f"no built-in checkpoint '{name}' (shipped: {known})")
        return folder
    return Path(path)


class MotionModel(nn.Module):
    def __init__(self, tokenizer_config: TokenizerConfig, generator_config: GeneratorConfig, info: dict | None = None):
        super().__init__()
        if (tokenizer_config.num_vectors, tokenizer_config.num_values) != (
            generator_config.num_vectors,
            generator_config.num_values,
        ):
            raise ConfigError(
                "tokenizer and generator disagree on the token shape: tokenizer "
                f"V={tokenizer_config.num_vectors}, N={tokenizer_config.num_values}; generator "
                f"V={generator_config.num_vectors}, N={generator_config.num_values}. Set both to the same values."
            )
        self.tokenizer = MotionTokenizer(tokenizer_config)
        self.generator = DenseFlowGenerator(generator_config)
        self.info: dict = dict(info or {})

    @property
    def num_vectors(self) -> int:
        return self.tokenizer.config.num_vectors

    @property
    def num_values(self) -> int:
        return self.tokenizer.config.num_values

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_config(cls, tokenizer: dict, generator: dict, seed: int = 0, info: dict | None = None) -> "MotionModel":
        """Freshly initialised networks; the initialisation is a function of ``seed`` only.

        Torch's global RNG is forked, so the caller's random state is left untouched.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = cls(TokenizerConfig.from_dict(tokenizer), GeneratorConfig.from_dict(generator), info)
        model.info.setdefault("weights", f"untrained (random initialisation, seed {int(seed)})")
        return model

    @classmethod
    def load(cls, folder: str | os.PathLike, map_location: str | torch.device = "cpu") -> "MotionModel":
        """Load a checkpoint folder (or ``builtin:<name>``, a checkpoint shipped with the package)."""
        label = str(folder)
        folder = resolve_checkpoint(folder)
        weights, config = folder / WEIGHTS_FILE, folder / CONFIG_FILE
        missing = [str(p) for p in (weights, config) if not p.is_file()]
        if missing:
            raise MissingWeightsError(
                f"motion-model checkpoint incomplete: missing {missing}. A checkpoint folder holds "
                f"{WEIGHTS_FILE} and {CONFIG_FILE} (written by MotionModel.save / scripts/train.py)."
            )
        fix = f"the checkpoint {label} is damaged: copy it again, or pass model.checkpoint=<an intact folder> (e.g. builtin:demo)"
        try:
            cfg = json.loads(config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{config}: not valid JSON ({err}); {fix}") from err
        missing_keys = [k for k in ("tokenizer", "generator") if not isinstance(cfg, dict) or not isinstance(cfg.get(k), dict)]
        if missing_keys:
            raise ConfigError(f"{config}: no {missing_keys} section(s) (a motion-model config.json written by "
                              f"MotionModel.save holds 'tokenizer' and 'generator'); {fix}")
        try:
            model = cls(TokenizerConfig.from_dict(cfg["tokenizer"]), GeneratorConfig.from_dict(cfg["generator"]),
                        cfg.get("info") if isinstance(cfg.get("info"), dict) else None)
        except ConfigError as err:
            raise ConfigError(f"{config}: {err}; {fix}") from err
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{config}: invalid network configuration ({err}); {fix}") from err
        try:
            state = load_file(str(weights), device=str(map_location))
        except Exception as err:  # safetensors raises SafetensorError (and OSError) for damaged files
            raise MissingWeightsError(f"{weights}: not a readable safetensors file ({type(err).__name__}: {err}); "
                                      f"{fix}") from err
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).splitlines()[0] if str(err) else ""
            raise MissingWeightsError(f"{weights}: the weights do not fit the networks {config} describes "
                                      f"({first}); {fix}") from err
        model.info["weights"] = label
        return model

    def save(self, folder: str | os.PathLike, info: dict | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` atomically into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_output_path(folder / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp), metadata={"content_hash": self.content_hash().hex()})
        merged = {k: v for k, v in {**self.info, **(info or {})}.items() if k != "weights"}
        cfg = {
            "tokenizer": self.tokenizer.config.to_dict(),
            "generator": self.generator.config.to_dict(),
            "content_hash": self.content_hash().hex(),
            "info": merged,
        }
        atomic_write_text(folder / CONFIG_FILE, json.dumps(cfg, indent=2) + "\n")
        return folder

    # ---------------------------------------------------------------- identity
    def content_hash(self, nbytes: int = 8) -> bytes:
        """First ``nbytes`` of SHA-256 over every tensor's name, dtype, shape and values."""
        return _tensor_hash(self, b"dynamics_codec.motion_model.v1", nbytes)

    def tokenizer_hash(self, nbytes: int = 8) -> bytes:
        """Content hash of the tokenizer weights alone (stored in the stream header)."""
        return _tensor_hash(self.tokenizer, b"dynamics_codec.tokenizer.v1", nbytes)

    def generator_hash(self, nbytes: int = 8) -> bytes:
        """Content hash of the generator weights alone: what a decoder must hold."""
        return _tensor_hash(self.generator, b"dynamics_codec.generator.v1", nbytes)

    def describe(self) -> str:
        return str(self.info.get("weights", "unknown weights"))


def _tensor_hash(module: nn.Module, domain: bytes, nbytes: int) -> bytes:
    h = hashlib.sha256(domain)
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.digest()[:nbytes]
