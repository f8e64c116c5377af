"""Synthetic scene dynamics: a photo animated by a smooth oscillating flow field.

The motion imitates the paper's content (foliage in wind, water, flags): inside a soft region
of the image, a sum of a few low-frequency spatial sinusoids, each oscillating in time at its
own frequency and phase, plus an optional slow drift. The ground-truth key -> frame t flow is
known exactly; frames are rendered by sampling the key frame at the inverse flow
(:func:`dynamics_codec.decoder.warp.invert_flow`, exact to well below 0.01 px for these smooth
fields), so ``frame_t(q + F_t(q)) = key(q)``.

Photos come from scikit-image's bundled data (no download).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dynamics_codec.warping import backward_warp, invert_flow
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.io.prepare import resize_short_side_center_crop

#: scikit-image photos that ship inside the package (no network access needed)
BUNDLED_IMAGES: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


def bundled_image(name: str) -> np.ndarray:
    """uint8 [H,W,3] RGB photo bundled with scikit-image."""
    if name not in BUNDLED_IMAGES:
        raise ConfigError(f"unknown bundled image '{name}'; choose one of {list(BUNDLED_IMAGES)}")
    from skimage import data as skdata

    return np.ascontiguousarray(getattr(skdata, name)()[..., :3])


@dataclass
class SyntheticClip:
    frames: np.ndarray  # uint8 [T, H, W, 3]; frame 0 is the key frame
    flow: np.ndarray  # float32 [T, 2, H, W]; key -> frame t, flow[0] = 0
    fps: float
    region: np.ndarray  # float32 [H, W] in [0, 1]: where the scene moves


def smooth_motion_field(
    height: int,
    width: int,
    num_frames: int,
    fps: float,
    rng: np.random.Generator,
    *,
    max_displacement: float = 4.0,
    components: int = 3,
    drift: float = 0.0,
    frame_indices: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Key -> frame flow [T,2,H,W] (flow[0] = 0) and the motion region [H,W].

    ``frame_indices`` returns the flow of those frames only (same random field: the result
    equals the corresponding rows of the full sequence's flow), for training samples that need
    one frame of a long clip.

    Every component is a plane wave ``sin(k . p + phi)`` with a wavelength of 1/2 to 2 image
    sizes (sway, not ripples), oscillating at 0.3-2 Hz, inside a soft region of one or two large
    Gaussian blobs; the field is scaled so that its largest displacement is
    ``max_displacement`` pixels (to about 1 %: the peak is found on a 4-pixel grid). ``drift`` adds a uniform translation growing linearly in time
    (pixels per second, random direction) inside the region.
    """
    if num_frames < 1 or height < 8 or width < 8:
        raise InputError(f"synthetic motion needs >= 1 frame of >= 8x8 pixels; got {num_frames} x {height}x{width}")
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    # soft motion region: a union of 1-2 large Gaussian blobs
    region = np.zeros((height, width))
    for _ in range(int(rng.integers(1, 3))):
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        sy, sx = rng.uniform(0.25, 0.5) * height, rng.uniform(0.25, 0.5) * width
        region = np.maximum(region, np.exp(-(((ys - cy) / sy) ** 2 + ((xs - cx) / sx) ** 2)))
    t_all = np.arange(num_frames) / float(fps)
    t = t_all if frame_indices is None else t_all[np.asarray(frame_indices)]
    flow = np.zeros((len(t), 2, height, width))
    spatial_terms = []
    for _ in range(components):
        wavelength = rng.uniform(0.5, 2.0) * max(height, width)
        angle = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / wavelength * np.array([np.cos(angle), np.sin(angle)])
        spatial = np.sin(k[0] * xs + k[1] * ys + rng.uniform(0, 2 * np.pi))
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction) + 1e-12
        freq, phase = rng.uniform(0.3, 2.0), rng.uniform(0, 2 * np.pi)
        spatial_terms.append((spatial, direction, freq, phase))
        temporal = np.sin(2 * np.pi * freq * t + phase) - np.sin(phase)  # 0 at the key frame
        flow += temporal[:, None, None, None] * direction[None, :, None, None] * spatial[None, None]
    # the scale is set on the whole sequence so that subsets agree with the full field
    peak = _peak_displacement(spatial_terms, t_all, region)
    flow = flow * region * (max_displacement / peak if peak > 0 else 0.0)
    if drift:
        angle = rng.uniform(0, 2 * np.pi)
        d = drift * np.array([np.cos(angle), np.sin(angle)])
        flow += t[:, None, None, None] * d[None, :, None, None] * region[None, None]
    return flow.astype(np.float32), region.astype(np.float32)


def _peak_displacement(terms, times: np.ndarray, region: np.ndarray, stride: int = 4) -> float:
    """Largest |flow| component over the whole sequence (before scaling), on a ``stride`` grid.

    The fields are smooth (wavelength >= 1/2 of the image), so the sub-sampled maximum is within
    about 1 % of the exact one; computing it on the full sequence keeps frame subsets consistent.
    """
    reg = region[::stride, ::stride]
    f = np.zeros((len(times), 2) + reg.shape)
    for spatial, direction, freq, phase in terms:
        temporal = np.sin(2 * np.pi * freq * times + phase) - np.sin(phase)
        f += temporal[:, None, None, None] * direction[None, :, None, None] * spatial[None, None, ::stride, ::stride]
    return float(np.abs(f * reg).max())


def make_synthetic_clip(
    image: np.ndarray | str = "astronaut",
    *,
    size: int = 384,
    num_frames: int = 50,
    fps: float = 25.0,
    max_displacement: float = 4.0,
    drift: float = 0.0,
    rng: np.random.Generator,
) -> SyntheticClip:
    """A clip of ``num_frames`` frames of a ``size`` x ``size`` photo moving smoothly."""
    photo = bundled_image(image) if isinstance(image, str) else image
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise InputError(f"synthetic clip needs a uint8 [H,W,3] RGB image; got {photo.dtype} {photo.shape}")
    key = resize_short_side_center_crop(photo, size)
    flow, region = smooth_motion_field(
        size, size, num_frames, fps, rng, max_displacement=max_displacement, drift=drift
    )
    key_t = torch.from_numpy(key).permute(2, 0, 1).float().div(255)[None].expand(num_frames, -1, -1, -1)
    inverse = invert_flow(torch.from_numpy(flow), iterations=8)
    frames = backward_warp(key_t.contiguous(), inverse)
    frames_u8 = frames.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    frames_u8[0] = key
    return SyntheticClip(frames=np.ascontiguousarray(frames_u8), flow=flow, fps=float(fps), region=region)
