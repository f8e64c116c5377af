"""Helpers for the parity fixtures in ``../shared/parity`` (see its README).

Cases are discovered at run time; nothing here names a case. ``PARITY_DIR`` overrides the
default location (``../shared/parity`` relative to the project root).
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def parity_root() -> Path:
    env = os.environ.get("PARITY_DIR")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "parity")


@dataclass
class ParityCase:
    model: str
    name: str
    meta: dict
    tensors: dict[str, torch.Tensor]

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        return {k[3:]: v for k, v in self.tensors.items() if k.startswith("in.")}

    @property
    def outputs(self) -> dict[str, torch.Tensor]:
        return {k[4:]: v for k, v in self.tensors.items() if k.startswith("out.")}

    @property
    def aux(self) -> dict[str, torch.Tensor]:
        return {k[4:]: v for k, v in self.tensors.items() if k.startswith("aux.")}

    def tolerance(self, output: str | None = None) -> dict[str, float]:
        """atol/rtol for ``output`` (per-output values when the case lists them)."""
        per = (self.meta.get("outputs") or {}).get(output or "", {}) if output else {}
        if isinstance(per, dict) and "atol" in per and "rtol" in per:
            return {"atol": float(per["atol"]), "rtol": float(per["rtol"])}
        return {"atol": float(self.meta["atol"]), "rtol": float(self.meta["rtol"])}


def case_files(model: str) -> list[Path]:
    """Every ``<model>/<case>.json`` except ``schema.json`` (sorted)."""
    d = parity_root() / model
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.json") if p.name != "schema.json")


def case_params(model: str) -> list:
    """pytest parameters for every case of ``model``; one visible skip when absent."""
    files = case_files(model)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no parity cases for '{model}' under {parity_root()}"), id="absent")]
    return [pytest.param(p, id=p.stem) for p in files]


def load_case(path: Path) -> ParityCase:
    meta = json.loads(path.read_text())
    st = path.with_suffix(".safetensors")
    tensors = load_file(str(st)) if st.exists() else {}
    return ParityCase(model=path.parent.name, name=path.stem, meta=meta, tensors=tensors)


def load_schema(model: str) -> dict:
    return json.loads((parity_root() / model / "schema.json").read_text())


def parity_tensor(name: str, shape: list[int], dtype: str = "float32") -> torch.Tensor:
    """The deterministic weight the fixtures' README prescribes for entry ``name``."""
    torch_dtype = getattr(torch, dtype)
    if not torch_dtype.is_floating_point:
        return torch.zeros(shape, dtype=torch_dtype)
    g = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))
    u = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    if len(shape) >= 2:
        numel = math.prod(shape)
        t = u / math.sqrt(numel // shape[0])
    elif name.endswith("running_var"):
        t = 1 + 0.25 * (u + 1)
    elif name.endswith("running_mean"):
        t = 0.1 * u
    elif len(shape) == 1 and name.endswith("weight"):
        t = 1 + 0.1 * u
    else:
        t = 0.1 * u
    return t.to(torch_dtype)


def parity_state_dict(schema: dict) -> dict[str, torch.Tensor]:
    """The full parity state dict of a schema, named as the published checkpoint."""
    return {e["name"]: parity_tensor(e["name"], list(e["shape"]), e.get("dtype", "float32")) for e in schema["state_dict"]}
