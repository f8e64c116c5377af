"""The one RGB <-> Y'CbCr 4:2:0 8-bit conversion of the project.

Our codec's key frame, the x265 and VTM anchors and every luma metric (Y-PSNR) go through
these functions, so that all of them are measured on identical pixels.

Conventions (all fixed, none configurable):

* **Matrix**: ITU-R BT.709 (Kr = 0.2126, Kb = 0.0722, Kg = 0.7152), applied to the
  8-bit R'G'B' code values as they are (no linearisation; they are gamma-encoded).
* **Range**: limited ("TV") range: Y' in [16, 235] (scale 219), Cb/Cr in [16, 240]
  (scale 224, offset 128). Every 8-bit RGB input maps inside those ranges.
* **Arithmetic and rounding**: float64, rounded to nearest with ``np.rint`` (ties to even)
  and clipped to [0, 255], once, at the end of each direction.
* **Chroma down-sampling**: Cb/Cr are computed at full resolution (unrounded) and averaged
  over each 2x2 block. The chroma sample therefore sits at the centre of its 2x2 luma block
  (JPEG / MPEG-1 siting, y4m ``C420jpeg``, H.273 ``chroma_sample_loc_type`` 1).
* **Chroma up-sampling**: bilinear for that centre siting, separable 2x: each output sample
  is 3/4 of the nearest chroma sample plus 1/4 of the next one in that direction, with edge
  replication at the borders (the same weights as ``cv2.resize(..., INTER_LINEAR)``).
* **Geometry**: H and W must both be even; otherwise :class:`~dynamics_codec.errors.InputError`.

Measured round-trip error ``yuv420_to_rgb(rgb_to_yuv420(x))`` on natural 384x384 images
(skimage astronaut / coffee / chelsea / rocket, asserted in ``tests/io/test_io_color.py``):
mean absolute error per channel R 0.7-1.8, G 0.3-0.5, B 1.0-2.6 code values, dominated by
the 4:2:0 chroma loss on colour edges; 99.9th percentile 6-29; max 17-89 on saturated colour
edges. Greys come back within 1 code value (and stay exactly grey); smooth colour
gradients within 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamics_codec.errors import InputError

__all__ = [
    "KR",
    "KB",
    "KG",
    "Yuv420",
    "rgb_to_yuv420",
    "yuv420_to_rgb",
    "yuv444_to_rgb",
    "rgb_to_y",
    "upsample_chroma",
    "downsample_chroma",
]

KR: float = 0.2126
KB: float = 0.0722
KG: float = 1.0 - KR - KB

_Y_OFFSET, _Y_SCALE = 16.0, 219.0
_C_OFFSET, _C_SCALE = 128.0, 224.0


@dataclass(frozen=True)
class Yuv420:
    """8-bit Y'CbCr 4:2:0 planes (BT.709, limited range, centre-sited chroma).

    ``y``: uint8 ``[..., H, W]``; ``u`` (Cb) and ``v`` (Cr): uint8 ``[..., H/2, W/2]``.
    Leading dimensions (e.g. ``T``) are shared by the three planes.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        for name in ("y", "u", "v"):
            plane = getattr(self, name)
            if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8:
                raise InputError(f"Yuv420.{name} must be a uint8 numpy array, found {type(plane).__name__} "
                                 f"{getattr(plane, 'dtype', '')}")
        if self.y.ndim < 2:
            raise InputError(f"Yuv420.y must be [..., H, W], found shape {self.y.shape}")
        h, w = self.y.shape[-2:]
        if h % 2 or w % 2:
            raise InputError(f"4:2:0 needs even height and width, found Y plane {h}x{w} (HxW)")
        expected = self.y.shape[:-2] + (h // 2, w // 2)
        if self.u.shape != expected or self.v.shape != expected:
            raise InputError(f"chroma planes must have shape {expected} for a Y plane of shape {self.y.shape}; "
                             f"found u {self.u.shape}, v {self.v.shape}")

    @property
    def height(self) -> int:
        return int(self.y.shape[-2])

    @property
    def width(self) -> int:
        return int(self.y.shape[-1])

    def frame_bytes(self) -> bytes:
        """Planar I420 bytes (Y, then U, then V), frame after frame for leading dims."""
        lead = self.y.shape[:-2]
        n = int(np.prod(lead)) if lead else 1
        parts = (self.y.reshape(n, -1), self.u.reshape(n, -1), self.v.reshape(n, -1))
        return np.concatenate(parts, axis=1).tobytes()


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise InputError(f"expected a numpy uint8 RGB array [H,W,3] or [T,H,W,3], found {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise InputError(f"expected uint8 RGB, found dtype {rgb.dtype}; convert with "
                         "(np.clip(x, 0, 1) * 255).round().astype(np.uint8) for float images in [0, 1]")
    if rgb.ndim not in (3, 4) or rgb.shape[-1] != 3:
        raise InputError(f"expected RGB of shape [H,W,3] or [T,H,W,3], found {rgb.shape}")
    return rgb


def _check_even(h: int, w: int) -> None:
    if h % 2 or w % 2:
        raise InputError(f"4:2:0 conversion needs even height and width, found {h}x{w} (HxW); "
                         "crop or pad by one pixel first")


def _to_code(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _rgb_to_ycbcr_float(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unrounded limited-range Y', Cb, Cr code values (float64) at full resolution."""
    x = rgb.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    luma = KR * r + KG * g + KB * b
    y = _Y_OFFSET + _Y_SCALE * luma
    cb = _C_OFFSET + _C_SCALE * (b - luma) / (2.0 * (1.0 - KB))
    cr = _C_OFFSET + _C_SCALE * (r - luma) / (2.0 * (1.0 - KR))
    return y, cb, cr


def downsample_chroma(c: np.ndarray) -> np.ndarray:
    """2x2 mean over the last two axes: ``[..., H, W] -> [..., H/2, W/2]`` (centre siting)."""
    h, w = c.shape[-2:]
    _check_even(h, w)
    blocks = c.reshape(c.shape[:-2] + (h // 2, 2, w // 2, 2))
    return blocks.mean(axis=(-3, -1))


def _upsample_axis(c: np.ndarray, axis: int) -> np.ndarray:
    """2x centre-sited bilinear up-sampling along ``axis`` (weights 3/4, 1/4; edges replicated)."""
    n = c.shape[axis]
    prev_idx = np.clip(np.arange(n) - 1, 0, n - 1)
    next_idx = np.clip(np.arange(n) + 1, 0, n - 1)
    even = 0.75 * c + 0.25 * np.take(c, prev_idx, axis=axis)  # output 2i sits left/above sample i
    odd = 0.75 * c + 0.25 * np.take(c, next_idx, axis=axis)  # output 2i+1 sits right/below sample i
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(c.shape)
    shape[axis] = 2 * n
    return out.reshape(shape)


def upsample_chroma(c: np.ndarray) -> np.ndarray:
    """Centre-sited bilinear 2x up-sampling: ``[..., h, w] -> [..., 2h, 2w]`` float64."""
    c = np.asarray(c, dtype=np.float64)
    if c.ndim < 2:
        raise InputError(f"chroma plane must be [..., h, w], found shape {c.shape}")
    return _upsample_axis(_upsample_axis(c, c.ndim - 2), c.ndim - 1)


def rgb_to_yuv420(rgb: np.ndarray) -> Yuv420:
    """uint8 RGB ``[H,W,3]`` or ``[T,H,W,3]`` -> :class:`Yuv420` (y ``[..,H,W]``, u/v ``[..,H/2,W/2]``)."""
    rgb = _check_rgb(rgb)
    _check_even(rgb.shape[-3], rgb.shape[-2])
    y, cb, cr = _rgb_to_ycbcr_float(rgb)
    return Yuv420(y=_to_code(y), u=_to_code(downsample_chroma(cb)), v=_to_code(downsample_chroma(cr)))


def _ycbcr_float_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, *, full_range: bool = False) -> np.ndarray:
    if full_range:
        luma = y / 255.0
        pb = (cb - _C_OFFSET) / 255.0
        pr = (cr - _C_OFFSET) / 255.0
    else:
        luma = (y - _Y_OFFSET) / _Y_SCALE
        pb = (cb - _C_OFFSET) / _C_SCALE
        pr = (cr - _C_OFFSET) / _C_SCALE
    r = luma + 2.0 * (1.0 - KR) * pr
    b = luma + 2.0 * (1.0 - KB) * pb
    g = (luma - KR * r - KB * b) / KG
    return _to_code(np.stack([r, g, b], axis=-1) * 255.0)


def _check_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, chroma_shape: tuple[int, ...]) -> None:
    for name, plane in (("y", y), ("u", u), ("v", v)):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8:
            raise InputError(f"plane {name} must be a uint8 numpy array, found {getattr(plane, 'dtype', type(plane))}")
    if y.ndim < 2:
        raise InputError(f"Y plane must be [..., H, W], found shape {y.shape}")
    if u.shape != chroma_shape or v.shape != chroma_shape:
        raise InputError(f"chroma planes must have shape {chroma_shape} for Y of shape {y.shape}, "
                         f"found u {u.shape}, v {v.shape}")


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray | None = None, v: np.ndarray | None = None) -> np.ndarray:
    """Y'CbCr 4:2:0 (BT.709 limited) -> uint8 RGB ``[..., H, W, 3]``.

    Accepts three uint8 planes (y ``[..,H,W]``, u/v ``[..,H/2,W/2]``) or one :class:`Yuv420`.
    """
    if isinstance(y, Yuv420):
        y, u, v = y.y, y.u, y.v
    if u is None or v is None:
        raise InputError("yuv420_to_rgb needs y, u and v planes (or one Yuv420)")
    if not isinstance(y, np.ndarray) or y.ndim < 2:
        raise InputError(f"Y plane must be a numpy array [..., H, W], found {getattr(y, 'shape', type(y))}")
    h, w = y.shape[-2:]
    _check_even(h, w)
    _check_planes(y, u, v, y.shape[:-2] + (h // 2, w // 2))
    return _ycbcr_float_to_rgb(y.astype(np.float64), upsample_chroma(u), upsample_chroma(v))


def yuv444_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, full_range: bool = False) -> np.ndarray:
    """Y'CbCr 4:4:4 (BT.709; limited range unless ``full_range``) -> uint8 RGB ``[..., H, W, 3]``.

    Used to read 4:4:4 y4m files; same matrix and rounding as :func:`yuv420_to_rgb`.
    """
    _check_planes(y, u, v, y.shape)
    return _ycbcr_float_to_rgb(y.astype(np.float64), u.astype(np.float64), v.astype(np.float64),
                               full_range=full_range)


def rgb_to_y(rgb: np.ndarray, *, as_float: bool = False) -> np.ndarray:
    """Luma of uint8 RGB ``[..., H, W, 3]`` -> ``[..., H, W]``.

    By default the uint8 Y' plane exactly as :func:`rgb_to_yuv420` produces it (what the
    anchors code), the input of Y-PSNR. ``as_float=True`` returns the unrounded float32
    code values (same scale, [16, 235]). Odd sizes are allowed here (no chroma involved).
    """
    rgb = _check_rgb(rgb)
    x = rgb.astype(np.float64) / 255.0
    y = _Y_OFFSET + _Y_SCALE * (KR * x[..., 0] + KG * x[..., 1] + KB * x[..., 2])
    return y.astype(np.float32) if as_float else _to_code(y)
