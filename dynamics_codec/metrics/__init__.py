"""Quality metrics: PSNR (RGB, Y), MS-SSIM, LPIPS, DISTS per frame; FVD and ColorVideoVDP per sequence.

Nothing here downloads weights: networks are built from files found on disk (or injected
state dicts) and a missing file raises :class:`~dynamics_codec.errors.MissingWeightsError`
that says which file and where to put it. ColorVideoVDP (``cvvdp``) needs no download: its
calibration ships with its package. Importing this package builds no network.
"""

import importlib

# eager: light (numpy only), and the function ``psnr`` must win over the submodule of the same name
# (importing ``dynamics_codec.metrics.psnr`` later does not rebind the package attribute)
from dynamics_codec.metrics.psnr import mse, psnr, psnr_per_frame, psnr_y

# name -> submodule; imported on first use, so `from dynamics_codec.metrics import psnr_per_frame`
# (the encode/decode path) does not load the perceptual metrics, FVD or the suite.
_EXPORTS = {
    "msssim": ["ms_ssim", "msssim_levels"],
    "perceptual": ["LpipsMetric", "DistsMetric"],
    "cvvdp": ["CvvdpMetric", "CVVDP_MAX_JOD"],
    "fvd": ["I3DFeatureExtractor", "FvdResult", "frechet_distance", "fvd_from_features", "fvd_windows",
            "gaussian_stats"],
    "suite": ["MetricSuite", "SequenceMetrics", "METRIC_NAMES", "PERCEPTUAL_METRICS", "FALLBACK_PERCEPTUAL",
              "PSNR_CAP_DB"],
    "weights": ["TORCHVISION_WEIGHTS", "find_weights_file"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = ["mse", "psnr", "psnr_per_frame", "psnr_y"] + [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
