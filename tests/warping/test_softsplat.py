"""Softmax splatting: parity with MOFA's reference numbers, an independent loop oracle, properties."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics_codec.warping import NORMALISATION_EPS, softsplat, softsplat_with_weight
from dynamics_codec.errors import InputError
from parity import case_params, load_case

ONE_PLUS_EPS = torch.tensor(1 + NORMALISATION_EPS, dtype=torch.float32)


def _mode_of(meta: dict) -> str:
    match = re.search(r"strMode='(\w+)'", meta.get("call", ""))
    return match.group(1) if match else "avg"


@pytest.mark.parametrize("case_path", case_params("softsplat"))
def test_softsplat_matches_reference(case_path) -> None:
    case = load_case(case_path)
    inputs = case.inputs
    mode = _mode_of(case.meta)
    output = softsplat(inputs["tenIn"], inputs["tenFlow"], mode=mode)
    expected = case.outputs["output"]
    assert output.dtype == expected.dtype and output.shape == expected.shape
    torch.testing.assert_close(output, expected, **case.tolerance("output"))
    if torch.cuda.is_available():
        on_gpu = softsplat(inputs["tenIn"].cuda(), inputs["tenFlow"].cuda(), mode=mode)
        assert on_gpu.is_cuda
        torch.testing.assert_close(on_gpu.cpu(), expected, **case.tolerance("output"))


def literal_splat(values: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element transcription of the kernel semantics (slow oracle, float64 accumulation)."""
    b, c, h, w = values.shape
    out = torch.zeros(b, c, h, w, dtype=torch.float64)
    weight = torch.zeros(b, 1, h, w, dtype=torch.float64)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                tx = float(x) + float(flow[n, 0, y, x])
                ty = float(y) + float(flow[n, 1, y, x])
                if not (torch.isfinite(torch.tensor(tx)) and torch.isfinite(torch.tensor(ty))):
                    continue
                x0, y0 = int(torch.floor(torch.tensor(tx))), int(torch.floor(torch.tensor(ty)))
                for cx, cy, wt in (
                    (x0, y0, (x0 + 1 - tx) * (y0 + 1 - ty)),
                    (x0 + 1, y0, (tx - x0) * (y0 + 1 - ty)),
                    (x0, y0 + 1, (x0 + 1 - tx) * (ty - y0)),
                    (x0 + 1, y0 + 1, (tx - x0) * (ty - y0)),
                ):
                    if 0 <= cx < w and 0 <= cy < h:
                        out[n, :, cy, cx] += values[n, :, y, x].double() * wt
                        weight[n, 0, cy, cx] += wt
    return out, weight


def test_matches_literal_kernel_loop_on_odd_shapes() -> None:
    g = torch.Generator().manual_seed(11)
    values = torch.randn(2, 5, 7, 9, generator=g, dtype=torch.float64)
    flow = (torch.rand(2, 2, 7, 9, generator=g, dtype=torch.float64) * 2 - 1) * 6
    flow[1, 0, 2, 3] = float("nan")
    flow[1, 1, 4, 4] = float("inf")
    expected_sum, expected_weight = literal_splat(values, flow)
    summed, weight = softsplat_with_weight(values, flow, mode="sum")
    torch.testing.assert_close(summed, expected_sum, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(weight, expected_weight, atol=1e-12, rtol=1e-12)
    averaged = softsplat(values, flow, mode="avg")
    torch.testing.assert_close(averaged, expected_sum / (expected_weight + 1e-7), atol=1e-12, rtol=1e-12)
    assert (weight == 0).any(), "the random flow should leave holes"
    assert (averaged[(weight == 0).expand_as(averaged)] == 0).all()


@settings(max_examples=25, deadline=None)
@given(
    dx=st.integers(-6, 6),
    dy=st.integers(-6, 6),
    channels=st.integers(1, 5),
    height=st.integers(2, 12),
    width=st.integers(2, 12),
    seed=st.integers(0, 2**31 - 1),
)
def test_integer_translation_is_exact_shift(dx: int, dy: int, channels: int, height: int, width: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(1, channels, height, width, generator=g)
    flow = torch.empty(1, 2, height, width)
    flow[:, 0], flow[:, 1] = float(dx), float(dy)
    output, weight = softsplat_with_weight(values, flow)
    expected = torch.zeros_like(values)
    expected_weight = torch.zeros(1, 1, height, width)
    src_y = slice(max(-dy, 0), height - max(dy, 0))
    src_x = slice(max(-dx, 0), width - max(dx, 0))
    dst_y = slice(max(dy, 0), height - max(-dy, 0))
    dst_x = slice(max(dx, 0), width - max(-dx, 0))
    if abs(dx) < width and abs(dy) < height:  # otherwise everything leaves the image
        expected[..., dst_y, dst_x] = values[..., src_y, src_x] / ONE_PLUS_EPS
        expected_weight[..., dst_y, dst_x] = 1.0
    assert torch.equal(output, expected)
    assert torch.equal(weight, expected_weight)


def test_zero_flow_is_identity_over_one_plus_eps() -> None:
    g = torch.Generator().manual_seed(3)
    values = torch.rand(3, 6, 10, 13, generator=g)
    output, weight = softsplat_with_weight(values, torch.zeros(3, 2, 10, 13))
    assert torch.equal(output, values / ONE_PLUS_EPS)
    assert torch.equal(weight, torch.ones(3, 1, 10, 13))


def test_sum_mode_conserves_mass_for_in_bounds_flow() -> None:
    g = torch.Generator().manual_seed(5)
    b, c, h, w = 2, 3, 11, 14
    values = torch.rand(b, c, h, w, generator=g, dtype=torch.float64)
    # Targets strictly inside [0, W-1) x [0, H-1): all four corners land in the image.
    targets = torch.rand(b, 2, h, w, generator=g, dtype=torch.float64)
    targets[:, 0] *= w - 1 - 1e-6
    targets[:, 1] *= h - 1 - 1e-6
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    flow = targets - torch.stack([xs, ys])
    summed, weight = softsplat_with_weight(values, flow, mode="sum")
    torch.testing.assert_close(summed.sum(dim=(2, 3)), values.sum(dim=(2, 3)), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(weight.sum(dim=(2, 3)), torch.full((b, 1), float(h * w), dtype=torch.float64))


def test_out_of_range_contributions_are_dropped_in_sum_mode() -> None:
    values = torch.ones(1, 1, 4, 4)
    flow = torch.zeros(1, 2, 4, 4)
    flow[:, 0] = 0.5  # the right column splats half of its weight outside the image
    summed, _ = softsplat_with_weight(values, flow, mode="sum")
    assert summed.sum().item() == pytest.approx(16 - 4 * 0.5)


def test_nonfinite_flow_contributes_nothing_and_keeps_gradients_finite() -> None:
    values = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    flow = torch.full((1, 2, 5, 6), 0.3, dtype=torch.float64)
    flow[0, 0, 1, 1] = float("nan")
    flow[0, 1, 3, 2] = float("-inf")
    flow.requires_grad_(True)
    output = softsplat(values, flow)
    assert torch.isfinite(output).all()
    output.sum().backward()
    assert torch.isfinite(values.grad).all() and torch.isfinite(flow.grad).all()
    assert values.grad[0, :, 1, 1].abs().max() == 0 and values.grad[0, :, 3, 2].abs().max() == 0
    # Exactly as if those two source pixels had been sent far outside the image.
    sent_away = flow.detach().clone()
    sent_away[0, :, 1, 1] = 1000.0
    sent_away[0, :, 3, 2] = 1000.0
    for mode in ("avg", "sum"):
        got, got_weight = softsplat_with_weight(values.detach(), flow.detach(), mode=mode)
        want, want_weight = softsplat_with_weight(values.detach(), sent_away, mode=mode)
        assert torch.equal(got, want) and torch.equal(got_weight, want_weight)


@pytest.mark.parametrize("mode", ["avg", "sum"])
def test_gradients_reach_values_and_flow(mode: str) -> None:
    g = torch.Generator().manual_seed(7)
    values = torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    # Fractional parts kept away from integers so the bilinear weights are smooth around the point.
    base = torch.randint(-2, 3, (1, 2, 5, 6), generator=g).double()
    frac = 0.2 + 0.6 * torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64)
    flow = (base + frac).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v, f: softsplat(v, f, mode=mode), (values, flow), eps=1e-6, atol=1e-6)
    softsplat(values, flow, mode=mode).pow(2).sum().backward()
    assert values.grad.abs().sum() > 0 and flow.grad.abs().sum() > 0


def test_soft_mode_prefers_the_larger_metric_at_collisions() -> None:
    values = torch.zeros(1, 1, 1, 4)
    values[0, 0, 0, 0], values[0, 0, 0, 2] = 10.0, 20.0
    flow = torch.zeros(1, 2, 1, 4)
    flow[0, 0, 0, 0] = 2.0  # pixel 0 lands on pixel 2, where pixel 2 stays
    metric = torch.zeros(1, 1, 1, 4)
    metric[0, 0, 0, 0] = 8.0
    averaged = softsplat(values, flow, mode="avg")
    soft = softsplat(values, flow, mode="soft", metric=metric)
    linear = softsplat(values, flow, mode="linear", metric=metric + 1)
    assert averaged[0, 0, 0, 2].item() == pytest.approx(15.0, rel=1e-6)
    assert soft[0, 0, 0, 2].item() == pytest.approx((10 * 2980.958 + 20) / (2980.958 + 1), rel=1e-5)
    assert linear[0, 0, 0, 2].item() == pytest.approx((10 * 9 + 20) / 10, rel=1e-6)
    torch.testing.assert_close(softsplat(values, flow, mode="soft", metric=torch.zeros(1, 1, 1, 4)), averaged)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(9)
    values = torch.rand(2, 3, 8, 8, generator=g)
    flow = (torch.rand(2, 2, 8, 8, generator=g) * 2 - 1) * 3
    output, weight = softsplat_with_weight(values.to(dtype), flow.to(dtype))
    reference = softsplat(values.to(dtype).float(), flow.to(dtype).float())
    assert output.dtype == dtype and weight.dtype == torch.float32
    torch.testing.assert_close(output, reference.to(dtype))


def test_invalid_inputs_raise_input_error() -> None:
    values, flow = torch.zeros(1, 3, 4, 5), torch.zeros(1, 2, 4, 5)
    with pytest.raises(InputError, match="mode"):
        softsplat(values, flow, mode="max")
    with pytest.raises(InputError, match=r"\[B, 2, H, W\]"):
        softsplat(values, torch.zeros(1, 2, 5, 4))
    with pytest.raises(InputError, match=r"\[B, C, H, W\]"):
        softsplat(values[0], flow[0])
    with pytest.raises(InputError, match="metric"):
        softsplat(values, flow, mode="soft")
    with pytest.raises(InputError, match="floating"):
        softsplat(values.long(), flow)
