"""ColorVideoVDP (Mantiuk et al., SIGGRAPH 2024) on a whole video: quality in JOD, 10 = no visible difference.

The ``cvvdp`` package (``pycvvdp``, MIT) is a psychophysical full-reference video metric: a
model of human contrast sensitivity, masking and temporal channels, calibrated on subjective
data, so it sees blur, noise, colour shifts and temporal artefacts (flicker, frozen motion)
as a viewer on a given display would. It needs no network weights: the base model's
calibration (``cvvdp_parameters.json``), its CSF tables and the display models ship inside the
package (``pycvvdp/vvdp_data``). Only the package's ML variants (``cvvdp_ml_*``) download from
the Hugging Face hub; they are never built here. To keep the model fixed, the configuration is
read from the package's own folder only (``config_paths`` pinned to it, so ``$CVVDP_PATH`` cannot
swap the calibration), and the parameters file's SHA-256 is reported.

The display model is fixed per run and stated in :meth:`CvvdpMetric.describe` (default
``standard_fhd``: a 24-inch Full HD monitor, 200 cd/m^2 peak, office light, viewed from 0.6 m;
the video is shown at its native resolution). Videos are uint8 sRGB ``[T, H, W, 3]`` and are
scored as one video at their frame rate (a single frame is scored as an image).

Cost on a CPU: the metric runs frame by frame (about 0.7 CPU-seconds per 384x384 frame;
``benchmarks/metrics.py`` measures it); on CUDA the package processes blocks of frames itself.
Scoring several decoded videos against one reference in a batch gives the same values but,
measured on a 2-core CPU, no speed-up, so each video is scored in its own call.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamics_codec.errors import ConfigError, InputError, MissingWeightsError

__all__ = ["CvvdpMetric", "CVVDP_MAX_JOD", "DEFAULT_DISPLAY"]

#: JOD of a video identical to its reference
CVVDP_MAX_JOD = 10.0
DEFAULT_DISPLAY = "standard_fhd"


def _package_data_dir() -> Path:
    import pycvvdp

    return Path(pycvvdp.__file__).resolve().parent / "vvdp_data"


class CvvdpMetric:
    """ColorVideoVDP of a decoded video against its reference, in JOD (higher is better, 10 at most).

    Args:
        display: a display model of the package's ``display_models.json`` (``standard_fhd``,
            ``standard_4k``, ...).
        device: where the metric runs (``cpu`` or ``cuda``).
    """

    def __init__(self, display: str = DEFAULT_DISPLAY, device: str | torch.device = "cpu") -> None:
        try:
            import pycvvdp
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise MissingWeightsError("the cvvdp metric needs the 'cvvdp' package (pip install cvvdp); it is a "
                                      "dependency of dynamics_codec, so reinstall the package") from exc
        data_dir = _package_data_dir()
        models = json.loads((data_dir / "display_models.json").read_text())
        if display not in models:
            standard = sorted(k for k in models if k.startswith("standard_"))
            raise ConfigError(f"cvvdp display model {display!r} is not one of the package's display models; set "
                              f"eval.metrics.cvvdp.display to one of {standard}")
        self.display = display
        self.display_description = str(models[display].get("name", display))
        self.device = torch.device(device)
        self._config_paths = [str(data_dir)]
        self._metric = pycvvdp.cvvdp(display_name=display, device=self.device, quiet=True,
                                     config_paths=self._config_paths)
        params = data_dir / "cvvdp_parameters.json"
        self._parameters_sha256 = hashlib.sha256(params.read_bytes()).hexdigest()
        self._model_version = str(json.loads(params.read_text()).get("version", "unknown"))
        try:
            self._package_version = metadata.version("cvvdp")
        except metadata.PackageNotFoundError:  # pragma: no cover
            self._package_version = "unknown"

    def describe(self) -> dict[str, Any]:
        m = self._metric
        return {"metric": "ColorVideoVDP", "unit": "JOD (10 = no visible difference)", "package": "cvvdp "
                f"{self._package_version}", "model_version": self._model_version, "display": self.display,
                "display_description": self.display_description, "pixels_per_degree": float(m.pix_per_deg),
                "parameters_sha256": self._parameters_sha256,
                "pooling": "whole video at its frame rate (temporal channels), one JOD per video"}

    @torch.no_grad()
    def __call__(self, reference: np.ndarray, test: np.ndarray, fps: float) -> float:
        """JOD of uint8 ``test`` ``[T, H, W, 3]`` against ``reference`` of the same shape at ``fps``."""
        if reference.shape != test.shape or reference.dtype != np.uint8 or test.dtype != np.uint8 \
                or reference.ndim != 4 or reference.shape[-1] != 3:
            raise InputError(f"cvvdp needs two uint8 [T,H,W,3] videos of equal shape, found {reference.dtype} "
                             f"{reference.shape} and {test.dtype} {test.shape}")
        if reference.shape[0] > 1 and not (fps and fps > 0):
            raise InputError(f"cvvdp scores a {reference.shape[0]}-frame video at its frame rate; pass fps > 0, "
                             f"found {fps!r}")
        as_tensor = lambda v: torch.from_numpy(np.ascontiguousarray(v)).permute(3, 0, 1, 2)[None]  # noqa: E731 [1,C,F,H,W]
        fps = float(fps) if reference.shape[0] > 1 else 0.0
        jod, _ = self._metric.predict(as_tensor(test), as_tensor(reference), dim_order="BCFHW", frames_per_second=fps)
        return float(jod)
