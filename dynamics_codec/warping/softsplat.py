"""Forward softmax splatting in pure PyTorch (CPU and GPU, no CuPy).

A port of the semantics of MOFA-Video's ``softsplat(tenIn, tenFlow, tenMetric, strMode)``
(itself Niklaus & Liu, "Softmax Splatting for Video Frame Interpolation", CVPR 2020), checked
against the fixtures in ``shared/parity/softsplat``.

Semantics (per batch item, every source pixel ``(x, y)`` with integer pixel-centre coordinates):

* target ``X = x + flow[0, y, x]``, ``Y = y + flow[1, y, x]`` in pixels of the splatted tensor
  (channel 0 = x / width, channel 1 = y / height);
* a source pixel whose ``X`` or ``Y`` is not finite contributes nothing;
* its value is added to the four integer corners around ``(X, Y)`` with bilinear weights
  ``wNW = (x0 + 1 - X)(y0 + 1 - Y)``, ``wNE = (X - x0)(y0 + 1 - Y)``,
  ``wSW = (x0 + 1 - X)(Y - y0)``, ``wSE = (X - x0)(Y - y0)`` where ``x0 = floor(X)``,
  ``y0 = floor(Y)``; corners outside ``[0, W) x [0, H)`` are dropped (no renormalisation);
* modes: ``'sum'`` returns the splatted values; ``'avg'`` returns
  ``splat(values) / (splat(ones) + 1e-7)`` (exactly 0 where nothing lands); ``'linear'`` and
  ``'soft'`` weight each source by ``metric`` or ``exp(metric)`` before the same normalisation.

The implementation accumulates the four corners with ``scatter_add_`` on flattened indices (one
call per corner, so peak memory is one ``[B, C, H*W]`` buffer per corner rather than four).
It is differentiable with respect to ``values``, ``flow`` and ``metric`` through autograd (the
corner indices are piecewise constant, as in the reference's hand-written backward kernels).
Accumulation order differs from the CUDA kernel's ``atomicAdd``; results agree within float
rounding (the parity tolerances cover summation order).
"""

from __future__ import annotations

from typing import Literal

import torch

from dynamics_codec.errors import InputError

SplatMode = Literal["sum", "avg", "linear", "soft"]
SPLAT_MODES: tuple[str, ...] = ("sum", "avg", "linear", "soft")

#: Added to the splatted weight before normalising, as the reference does (``+ 0.0000001``).
NORMALISATION_EPS: float = 1e-7


def accumulation_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The floating dtype sums are accumulated in: the promoted input dtype, at least float32."""
    dtype = dtypes[0]
    for other in dtypes[1:]:
        dtype = torch.promote_types(dtype, other)
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return dtype


def _check_inputs(values: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None, mode: str) -> None:
    if mode not in SPLAT_MODES:
        raise InputError(f"softsplat mode must be one of {SPLAT_MODES}; got {mode!r}.")
    if values.dim() != 4:
        raise InputError(f"softsplat expects values as [B, C, H, W]; got shape {tuple(values.shape)}.")
    b, _, h, w = values.shape
    if flow.dim() != 4 or tuple(flow.shape) != (b, 2, h, w):
        raise InputError(
            f"softsplat expects flow as [B, 2, H, W] = {(b, 2, h, w)} matching values {tuple(values.shape)}; "
            f"got {tuple(flow.shape)}. Resize the flow (and scale its vectors) to the splatted tensor first."
        )
    if not values.is_floating_point() or not flow.is_floating_point():
        raise InputError(f"softsplat expects floating-point tensors; got values {values.dtype}, flow {flow.dtype}.")
    if values.device != flow.device:
        raise InputError(f"values ({values.device}) and flow ({flow.device}) must be on the same device.")
    if mode in ("linear", "soft"):
        if metric is None:
            raise InputError(f"softsplat mode {mode!r} needs a metric [B, 1, H, W]; got None.")
        if tuple(metric.shape) != (b, 1, h, w):
            raise InputError(f"softsplat expects metric as [B, 1, H, W] = {(b, 1, h, w)}; got {tuple(metric.shape)}.")
    elif metric is not None:
        raise InputError(f"softsplat mode {mode!r} takes no metric; pass mode='linear' or 'soft' to use one.")


def splat_sum(values: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear forward splatting of ``values`` and of an all-ones channel.

    Args:
        values: ``[B, C, H, W]`` floating tensor (already in the accumulation dtype).
        flow: ``[B, 2, H, W]`` source -> target displacement in pixels, same dtype/device.

    Returns:
        ``(splatted, weight)``: ``[B, C, H, W]`` summed contributions and ``[B, 1, H, W]`` total
        bilinear weight landing on each target pixel (the splat of ones), both in ``values.dtype``.
    """
    b, c, h, w = values.shape
    dtype, device = values.dtype, values.device
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, w)
    ys = torch.arange(h, device=device, dtype=dtype).view(1, h, 1)
    target_x = xs + flow[:, 0]  # [B, H, W]
    target_y = ys + flow[:, 1]
    finite = torch.isfinite(target_x) & torch.isfinite(target_y)
    # Non-finite targets are replaced before any arithmetic so that neither the weights nor their
    # gradients become NaN; the mask drops them afterwards.
    target_x = torch.where(finite, target_x, torch.zeros_like(target_x))
    target_y = torch.where(finite, target_y, torch.zeros_like(target_y))
    left = torch.floor(target_x).detach()
    top = torch.floor(target_y).detach()

    frac_x_right = target_x - left  # weight factor of the right column (X - x0)
    frac_x_left = (left + 1) - target_x  # weight factor of the left column (x0 + 1 - X)
    keep = finite.to(dtype)  # non-finite sources add nothing
    frac_y_bottom = (target_y - top) * keep
    frac_y_top = ((top + 1) - target_y) * keep

    # Splat onto a canvas with a one-pixel border: corner coordinates clamped to [-1, W] x [-1, H]
    # land either inside or on the border, which is cut off (what leaves the frame is dropped
    # without a mask per corner). Integer arithmetic for the flat index (exact for any size).
    padded_w = w + 2
    col_left = left.clamp(-1, w).to(torch.int64) + 1
    col_right = (left + 1).clamp(-1, w).to(torch.int64) + 1
    row_top = (top.clamp(-1, h).to(torch.int64) + 1) * padded_w
    row_bottom = ((top + 1).clamp(-1, h).to(torch.int64) + 1) * padded_w
    # the values and an all-ones channel are splatted together: one scatter per corner
    values_flat = torch.cat([values, values.new_ones(b, 1, h, w)], dim=1).reshape(b, c + 1, h * w)
    both = values.new_zeros(b, c + 1, (h + 2) * padded_w)
    corners = (
        (row_top, col_left, frac_x_left * frac_y_top),  # north-west
        (row_top, col_right, frac_x_right * frac_y_top),  # north-east
        (row_bottom, col_left, frac_x_left * frac_y_bottom),  # south-west
        (row_bottom, col_right, frac_x_right * frac_y_bottom),  # south-east
    )
    for row, col, corner_weight in corners:
        index = (row + col).reshape(b, 1, h * w).expand(b, c + 1, h * w)
        both.scatter_add_(2, index, values_flat * corner_weight.reshape(b, 1, h * w))
    both = both.view(b, c + 1, h + 2, padded_w)[:, :, 1 : h + 1, 1 : w + 1]
    return both[:, :c], both[:, c:]


def softsplat_with_weight(
    values: torch.Tensor,
    flow: torch.Tensor,
    mode: SplatMode = "avg",
    metric: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward-warp ``values`` by ``flow`` and also return the splatted weight map.

    Args:
        values: ``[B, C, H, W]`` any floating dtype, any C/H/W (images, feature maps).
        flow: ``[B, 2, H, W]`` displacement source -> target in pixels of ``values``
            (channel 0 = x, channel 1 = y); non-finite entries drop that source pixel.
        mode: ``'avg'`` (default, MOFA's mode), ``'sum'``, ``'linear'`` or ``'soft'``.
        metric: ``[B, 1, H, W]`` importance for ``'linear'`` (weights ``metric``) and
            ``'soft'`` (weights ``exp(metric)``); must be None for the other modes.

    Returns:
        ``(output, weight)``. ``output``: ``[B, C, H, W]`` in ``values.dtype``. ``weight``:
        ``[B, 1, H, W]``, the total splatting weight per target pixel (bilinear weights, times
        the metric for 'linear'/'soft'), before the ``+1e-7``; zero marks holes. ``weight`` is
        in the accumulation dtype (float32 for float16/bfloat16 inputs, else the promoted
        input dtype) so that small weights stay distinguishable from holes.
    """
    _check_inputs(values, flow, metric, mode)
    acc = accumulation_dtype(values.dtype, flow.dtype, *(() if metric is None else (metric.dtype,)))
    values_acc = values.to(acc)
    flow_acc = flow.to(acc)
    if mode == "linear":
        importance = metric.to(acc)
    elif mode == "soft":
        importance = metric.to(acc).exp()
    else:
        importance = None

    if importance is None:
        splatted, weight = splat_sum(values_acc, flow_acc)
    else:
        # Splat value * importance and importance itself in one pass (as the reference does).
        stacked = torch.cat([values_acc * importance, importance], dim=1)
        both, _ = splat_sum(stacked, flow_acc)
        splatted, weight = both[:, :-1], both[:, -1:]

    if mode == "sum":
        output = splatted
    else:
        output = splatted / (weight + NORMALISATION_EPS)
    return output.to(values.dtype), weight


def softsplat(
    values: torch.Tensor,
    flow: torch.Tensor,
    mode: SplatMode = "avg",
    metric: torch.Tensor | None = None,
) -> torch.Tensor:
    """Forward softmax splatting; see :func:`softsplat_with_weight` for the arguments.

    Returns:
        ``[B, C, H, W]`` in ``values.dtype``; in 'avg' mode each target pixel is the bilinear-
        weighted mean of the source values landing on it, and exactly 0 where nothing lands.
    """
    output, _ = softsplat_with_weight(values, flow, mode=mode, metric=metric)
    return output
