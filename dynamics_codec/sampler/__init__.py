"""Dense-to-sparse motion sampling with MOFA-Video's 'watershed' semantics.

``WatershedSampler`` turns dense flow ``[B, T, 2, H, W]`` into sparse flow and a {0, 1} mask
of the same shape. The steps are public for tests, benchmarks and visualisation:
``motion_edge_strength`` / ``motion_edges`` (Sobel edges of the flow), ``distance_to_edges``
(Euclidean distance transform), ``watershed_peaks`` / ``watershed_candidates`` (NMS),
``grid_points``, ``eliminate_neighbours`` and ``cap_points``.
"""

from dynamics_codec.sampler.edges import motion_edge_strength, motion_edges, normalised_edges
from dynamics_codec.sampler.points import cap_points, eliminate_neighbours, grid_points, grid_stride, neighbour_keep_mask
from dynamics_codec.sampler.sampler import SparseMotion, WatershedSampler
from dynamics_codec.sampler.watershed import (
    analysis_stride,
    distance_to_edges,
    watershed_candidates,
    watershed_peaks,
)

__all__ = [
    "SparseMotion",
    "WatershedSampler",
    "analysis_stride",
    "cap_points",
    "distance_to_edges",
    "eliminate_neighbours",
    "grid_points",
    "grid_stride",
    "motion_edge_strength",
    "motion_edges",
    "neighbour_keep_mask",
    "normalised_edges",
    "watershed_candidates",
    "watershed_peaks",
]
