"""The package's layers: shared geometry sits below analysis and decoders (DESIGN.md, "Layers").

Flow analysis, the sampler, the tokenizer, training data and the warping primitives never import
a frame decoder; the encode/decode command path imports no metric, diffusers or training code.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dynamics_codec"
BELOW_DECODERS = ("flow", "sampler", "tokenizer", "data", "warping")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("block", BELOW_DECODERS)
def test_analysis_and_data_do_not_import_decoders(block):
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if m.startswith("dynamics_codec.decoder"))
                 for p in (PACKAGE / block).rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_warping_primitives_live_in_one_place():
    from dynamics_codec import decoder, warping
    from dynamics_codec.decoder import warp

    assert decoder.backward_warp is warp.backward_warp is warping.backward_warp
    assert decoder.softsplat is warping.softsplat and warp.invert_flow is warping.invert_flow
    assert not (PACKAGE / "decoder" / "softsplat.py").exists()


HEAVY = ("compressai", "diffusers", "transformers", "lpips", "DISTS_pytorch", "scipy.stats", "scipy.ndimage", "matplotlib",
         "torch.utils.tensorboard", "dynamics_codec.metrics.suite", "dynamics_codec.metrics.perceptual",
         "dynamics_codec.metrics.fvd", "dynamics_codec.metrics.msssim", "dynamics_codec.train", "dynamics_codec.cmp",
         "dynamics_codec.evaluation", "dynamics_codec.anchors", "dynamics_codec.decoder.mofa")


def test_encode_and_decode_paths_import_only_what_they_need():
    """What `scripts/encode.py` / `decode.py` import, in a fresh interpreter."""
    code = ("import sys, json; import dynamics_codec.cli, dynamics_codec.codec; "
            "from dynamics_codec.cli import read_input_video; import dynamics_codec.metrics.psnr; "
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert not [m for m in HEAVY if m in loaded]
    assert "FutureWarning" not in proc.stderr  # compressai's torch.jit.script warning is gone
