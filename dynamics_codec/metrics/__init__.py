"""Quality metrics: PSNR (RGB, Y), MS-SSIM, LPIPS, DISTS per frame; FVD and ColorVideoVDP per sequence.

Nothing here downloads weights: networks are built from files found on disk (or injected
state dicts) and a missing file raises :class:`~dynamics_codec.errors.MissingWeightsError`
that says which file and where to put it. ColorVideoVDP (``cvvdp``) needs no download: its
calibration ships with its package. Importing this package builds no network.
"""

from dynamics_codec.metrics.cvvdp import CVVDP_MAX_JOD, CvvdpMetric
from dynamics_codec.metrics.fvd import (
    FvdResult,
    I3DFeatureExtractor,
    frechet_distance,
    fvd_from_features,
    fvd_windows,
    gaussian_stats,
)
from dynamics_codec.metrics.msssim import ms_ssim, msssim_levels
from dynamics_codec.metrics.perceptual import DistsMetric, LpipsMetric
from dynamics_codec.metrics.psnr import mse, psnr, psnr_per_frame, psnr_y
from dynamics_codec.metrics.suite import (
    FALLBACK_PERCEPTUAL,
    METRIC_NAMES,
    PERCEPTUAL_METRICS,
    PSNR_CAP_DB,
    MetricSuite,
    SequenceMetrics,
)
from dynamics_codec.metrics.weights import TORCHVISION_WEIGHTS, find_weights_file

__all__ = [
    "mse", "psnr", "psnr_per_frame", "psnr_y",
    "ms_ssim", "msssim_levels",
    "LpipsMetric", "DistsMetric",
    "I3DFeatureExtractor", "FvdResult", "frechet_distance", "fvd_from_features", "fvd_windows", "gaussian_stats",
    "CvvdpMetric", "CVVDP_MAX_JOD",
    "MetricSuite", "SequenceMetrics", "METRIC_NAMES", "PERCEPTUAL_METRICS", "FALLBACK_PERCEPTUAL", "PSNR_CAP_DB",
    "TORCHVISION_WEIGHTS", "find_weights_file",
]
