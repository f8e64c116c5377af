"""The dense-to-sparse motion sampler (MOFA-Video's ``flow_sampler`` with 'grid' + 'watershed')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

import torch

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.sampler.edges import motion_edges
from dynamics_codec.sampler.points import (
    cap_points,
    check_generator,
    check_max_points,
    eliminate_neighbours,
    grid_points,
    grid_stride,
)
from dynamics_codec.sampler.watershed import (
    analysis_stride,
    check_nms_kernel,
    distance_to_edges,
    watershed_peaks,
)

MaskMode = Literal["sequence", "frame"]
STRATEGIES = ("grid", "watershed")


@dataclass
class SparseMotion:
    """Sparse motion guidance.

    Attributes:
        sparse_flow: ``[B, T, 2, H, W]`` (or ``[B, 2, H, W]``) flow in pixels at the sampled
            points, 0 elsewhere (``flow * mask``); the input's dtype and device.
        mask: same shape, 1 at the sampled points (both channels), 0 elsewhere.
    """

    sparse_flow: torch.Tensor
    mask: torch.Tensor

    @property
    def num_points(self) -> torch.Tensor:
        """``[B, T]`` (or ``[B]``) int64 number of sampled points per frame."""
        return self.mask[..., 0, :, :].flatten(-2).sum(-1).to(torch.int64)


class WatershedSampler:
    """Pick sparse guidance points from dense flow: motion-region interiors plus a coarse grid.

    Per analysed flow field (H x W, analysed every ``ds = max(1, max(H, W) // 400)`` pixels):

    1. 'watershed': motion edges (Sobel, > 10 % of the frame's max) -> Euclidean distance to
       the nearest edge -> ``nms_ks`` x ``nms_ks`` non-maximum suppression without the
       border -> neighbour elimination at ``d = (nms_ks - 1) / 2`` (random-order greedy, see
       :func:`~dynamics_codec.sampler.points.eliminate_neighbours`) -> coordinates x ds.
    2. 'grid': one point every ``int(sqrt(1 / bg_ratio))`` pixels (80 by default).
    3. Union of both; with ``max_num_guide`` a random subset of at most that many points.

    ``mask_mode="sequence"`` (MOFA's training default) samples the points once from the LAST
    frame's flow (key -> frame T-1, the largest displacement) and uses them for every frame;
    ``"frame"`` samples each frame's flow on its own. ``[B, 2, H, W]`` input is one frame per
    batch item (the mode is then irrelevant).

    Randomness: only neighbour elimination and the cap are random; both draw from the
    CPU ``torch.Generator`` given to :meth:`__call__` (None -> a fresh generator seeded
    with 0), frames in batch-major order, so a seed reproduces the points exactly.
    """

    def __init__(
        self,
        nms_ks: int = 15,
        bg_ratio: float = 1.0 / 6400,
        strategies: Iterable[str] = ("grid", "watershed"),
        max_num_guide: int | None = None,
        mask_mode: MaskMode = "sequence",
    ) -> None:
        self.nms_ks = check_nms_kernel(nms_ks)
        if isinstance(strategies, str):
            raise ConfigError(f"strategies must be a sequence such as ('grid', 'watershed'); found the string {strategies!r}")
        self.strategies = tuple(strategies)
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if not self.strategies or unknown:
            raise ConfigError(
                f"strategies must be a non-empty subset of {STRATEGIES}; found {self.strategies!r}"
            )
        grid_stride(bg_ratio)  # validates: a number in (0, 1]
        self.bg_ratio = float(bg_ratio)
        self.max_num_guide = check_max_points(max_num_guide)
        if mask_mode not in ("sequence", "frame"):
            raise ConfigError(f"mask_mode must be 'sequence' or 'frame'; found {mask_mode!r}")
        self.mask_mode: MaskMode = mask_mode

    @property
    def elimination_distance(self) -> float:
        """Neighbour-elimination distance ``(nms_ks - 1) / 2`` (analysis-grid pixels)."""
        return (self.nms_ks - 1) / 2

    def __repr__(self) -> str:
        return (
            f"WatershedSampler(nms_ks={self.nms_ks}, bg_ratio={self.bg_ratio}, strategies={self.strategies}, "
            f"max_num_guide={self.max_num_guide}, mask_mode={self.mask_mode!r})"
        )

    def sample_points(self, flow: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The sampled points of each flow field.

        Args:
            flow: ``[N, 2, H, W]`` float tensor, pixels, finite.
            generator: CPU ``torch.Generator`` (None -> seeded with 0).

        Returns:
            N tensors ``[K_n, 2]`` int64 (y, x) on the CPU, duplicates removed.
        """
        _check_sampler_input(flow, expected_ndim=(4,))
        generator = check_generator(generator)
        count, _, height, width = flow.shape
        fixed = grid_points(height, width, self.bg_ratio) if "grid" in self.strategies else torch.empty(0, 2, dtype=torch.int64)
        watershed: list[torch.Tensor] = [torch.empty(0, 2, dtype=torch.int64)] * count
        if "watershed" in self.strategies:
            stride = analysis_stride(height, width)
            edges = motion_edges(flow[..., ::stride, ::stride]).cpu()
            # float32 keeps the NMS exact: distances are sqrt(integer) below 800 * sqrt(2)
            # (the analysed side is < 800 px), where distinct values stay distinct in float32.
            peaks = watershed_peaks(distance_to_edges(edges).float(), self.nms_ks)
            watershed = [
                eliminate_neighbours(torch.nonzero(peaks[n]), self.elimination_distance, generator) * stride
                for n in range(count)
            ]
        return [cap_points(torch.cat([fixed, watershed[n]]), self.max_num_guide, generator) for n in range(count)]

    def __call__(self, flow: torch.Tensor, generator: torch.Generator | None = None) -> SparseMotion:
        """Sample sparse motion from dense flow.

        Args:
            flow: ``[B, T, 2, H, W]`` or ``[B, 2, H, W]`` float tensor, pixels (channel 0 = x),
                key -> frame t; finite; any device.
            generator: CPU ``torch.Generator`` for the random choices (None -> seeded with 0).

        Returns:
            :class:`SparseMotion` with the input's shape, dtype and device.
        """
        _check_sampler_input(flow, expected_ndim=(4, 5))
        sequence = flow if flow.ndim == 5 else flow.unsqueeze(1)
        batch, frames, _, height, width = sequence.shape
        analysed = sequence[:, -1:] if self.mask_mode == "sequence" else sequence
        fields = analysed.reshape(-1, 2, height, width)
        point_sets = self.sample_points(fields, generator)

        hits = torch.zeros(len(point_sets), height, width, dtype=torch.bool)
        field_index = torch.cat([torch.full((len(p),), n, dtype=torch.int64) for n, p in enumerate(point_sets)])
        points = torch.cat(point_sets)
        hits[field_index, points[:, 0], points[:, 1]] = True
        hits = hits.reshape(batch, analysed.shape[1], 1, height, width).to(flow.device)
        mask = hits.expand(batch, frames, 2, height, width).to(flow.dtype)
        if flow.ndim == 4:
            mask = mask[:, 0]
        return SparseMotion(sparse_flow=flow * mask, mask=mask.contiguous())


def _check_sampler_input(flow: torch.Tensor, expected_ndim: tuple[int, ...]) -> None:
    shapes = {4: "[B, 2, H, W]", 5: "[B, T, 2, H, W]"}
    wanted = " or ".join(shapes[n] for n in expected_ndim)
    if not isinstance(flow, torch.Tensor):
        raise InputError(f"flow must be a torch.Tensor {wanted}; found {type(flow).__name__}")
    if flow.ndim not in expected_ndim or flow.shape[-3] != 2:
        raise InputError(f"flow must have shape {wanted} (channel 0 = x, 1 = y); found {tuple(flow.shape)}")
    if not flow.is_floating_point():
        raise InputError(f"flow must be a floating-point tensor in pixels; found dtype {flow.dtype}")
    if flow.shape[-1] < 3 or flow.shape[-2] < 3 or flow.shape[0] < 1 or (flow.ndim == 5 and flow.shape[1] < 1):
        raise InputError(f"flow must have B, T >= 1 and H, W >= 3; found {tuple(flow.shape)}")
    if not bool(torch.isfinite(flow).all()):
        raise InputError("flow must be finite; found NaN or infinite values (check the flow estimator's output)")
