"""The weightless warping decoder: accuracy on known motions, holes, flow inversion, plumbing."""

from __future__ import annotations

import math

import pytest
import torch

from dynamics_codec.decoder import (
    FrameDecoder,
    WarpDecoder,
    available_decoders,
    backward_warp,
    build_decoder,
    invert_flow,
    register_decoder,
)
from dynamics_codec.decoder import base as decoder_base
from dynamics_codec.errors import ConfigError, InputError

H, W = 64, 80
MARGIN = 8  # interior used for accuracy numbers (border pixels read clamped or filled content)
MODES = ("softsplat", "backward")


class Texture:
    """A band-limited analytic RGB texture in [0.2, 0.8] (periods >= 12 px), evaluable anywhere."""

    def __init__(self, seed: int = 0, components: int = 6) -> None:
        g = torch.Generator().manual_seed(seed)
        self.freqs = (torch.rand(3, components, 2, generator=g, dtype=torch.float64) * 2 - 1) * (2 * math.pi / 12)
        self.phases = torch.rand(3, components, generator=g, dtype=torch.float64) * 2 * math.pi
        self.amplitude = 0.3 / components

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[3, H, W]`` float32 colours at float64 positions ``x``, ``y`` ``[H, W]``."""
        arg = self.freqs[..., 0, None, None] * x + self.freqs[..., 1, None, None] * y + self.phases[..., None, None]
        return (0.5 + self.amplitude * torch.sin(arg).sum(1)).float()


def grid() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")


def similarity_motion(texture: Texture, angle: float, scale: float, shift: tuple[float, float]):
    """Key frame, key -> frame flow ``[2, H, W]`` of a rotation/zoom about the centre plus a shift,
    and the exact frame (the texture evaluated at the inverse-mapped positions)."""
    ys, xs = grid()
    cx, cy = (W - 1) / 2, (H - 1) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    new_x = scale * (cos * (xs - cx) - sin * (ys - cy)) + cx + shift[0]
    new_y = scale * (sin * (xs - cx) + cos * (ys - cy)) + cy + shift[1]
    flow = torch.stack([new_x - xs, new_y - ys]).float()
    px, py = xs - cx - shift[0], ys - cy - shift[1]
    src_x = (cos * px + sin * py) / scale + cx
    src_y = (-sin * px + cos * py) / scale + cy
    return texture(xs, ys), flow, texture(src_x, src_y)


def interior_errors(output: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """(PSNR in dB, max abs error) over the interior."""
    diff = (output - truth)[..., MARGIN:-MARGIN, MARGIN:-MARGIN].double()
    mse = diff.pow(2).mean().item()
    return (10 * math.log10(1 / mse) if mse > 0 else math.inf), diff.abs().max().item()


def decode_one(decoder: FrameDecoder, key: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    return decoder.decode(key[None], flow[None, None])[0, 0]


@pytest.mark.parametrize("mode", MODES)
def test_integer_translation_is_reconstructed_exactly_inside(mode: str) -> None:
    key, flow, truth = similarity_motion(Texture(1), 0.0, 1.0, (3.0, -2.0))
    output = decode_one(WarpDecoder(mode=mode), key, flow)
    # Also against the shifted key frame itself (no analytic evaluation involved).
    torch.testing.assert_close(output[:, :-2, 3:], key[:, 2:, :-3], atol=2e-7, rtol=0)  # frame(x, y) = key(x - 3, y + 2)
    _, max_error = interior_errors(output, truth)
    assert max_error < 1e-6


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shift", [(0.5, -0.25), (2.3, 1.7)])
def test_subpixel_translation(mode: str, shift: tuple[float, float]) -> None:
    key, flow, truth = similarity_motion(Texture(2), 0.0, 1.0, shift)
    psnr, max_error = interior_errors(decode_one(WarpDecoder(mode=mode), key, flow), truth)
    # Bilinear interpolation of periods >= 12 px: measured ~54 dB / 0.007.
    assert psnr > 50 and max_error < 0.01


@pytest.mark.parametrize("mode", MODES)
def test_smooth_rotation(mode: str) -> None:
    key, flow, truth = similarity_motion(Texture(3), 0.1, 1.0, (1.5, 0.0))
    psnr, max_error = interior_errors(decode_one(WarpDecoder(mode=mode), key, flow), truth)
    assert psnr > 50 and max_error < 0.01  # measured ~55 dB / 0.0075


def test_inverse_iterations_matter_for_rotation_and_zoom() -> None:
    for angle, scale in ((0.1, 1.0), (0.0, 1.2)):
        key, flow, truth = similarity_motion(Texture(4), angle, scale, (0.0, 0.0))
        first_order, _ = interior_errors(decode_one(WarpDecoder("backward", inverse_iterations=0), key, flow), truth)
        iterated, _ = interior_errors(decode_one(WarpDecoder("backward", inverse_iterations=5), key, flow), truth)
        assert iterated > 50 and iterated > first_order + 8, (angle, scale, first_order, iterated)


def test_zoom_in_softsplat_stays_close() -> None:
    key, flow, truth = similarity_motion(Texture(5), 0.0, 1.2, (0.0, 0.0))
    psnr, _ = interior_errors(decode_one(WarpDecoder("softsplat"), key, flow), truth)
    assert psnr > 45  # splat averaging blurs a little when spreading (measured ~49 dB)


def test_invert_flow_solves_the_fixed_point() -> None:
    _, flow, _ = similarity_motion(Texture(6), 0.15, 1.1, (2.0, -1.0))
    flow = flow[None]

    def residual(iterations: int) -> float:
        inverse = invert_flow(flow, iterations)  # frame -> key: q = p + inverse(p)
        moved_on = backward_warp(flow, inverse)  # F(q)
        return (inverse + moved_on)[..., MARGIN:-MARGIN, MARGIN:-MARGIN].abs().max().item()  # |q + F(q) - p|

    residuals = [residual(n) for n in (0, 1, 3, 8)]
    assert all(a > b for a, b in zip(residuals, residuals[1:])), residuals
    assert residuals[-1] < 1e-3
    translation = torch.zeros(1, 2, 6, 7)
    translation[:, 0], translation[:, 1] = 1.25, -0.5
    assert torch.equal(invert_flow(translation, 0), -translation)
    with pytest.raises(ConfigError):
        invert_flow(translation, -1)


@pytest.mark.parametrize("mode", MODES)
def test_zero_flow_is_identity(mode: str) -> None:
    key = Texture(7)(*grid()[::-1])
    output = decode_one(WarpDecoder(mode=mode), key, torch.zeros(2, H, W))
    torch.testing.assert_close(output, key, atol=1e-6, rtol=0)


def disocclusion_motion() -> tuple[torch.Tensor, torch.Tensor]:
    """A foreground square moving 6 px right over a static background, plus a 4 px pan down of
    the whole frame: uncovers background on the square's left and a strip at the top."""
    key = Texture(8)(*grid()[::-1])
    flow = torch.zeros(2, H, W)
    flow[1] = 4.0
    flow[0, 20:40, 25:45] = 6.0
    return key, flow


def test_holes_are_filled() -> None:
    key, flow = disocclusion_motion()
    unfilled = decode_one(WarpDecoder("softsplat", hole_fill="none"), key, flow)
    holes = unfilled.amax(0) == 0
    assert holes[:4].all() and holes[24:44, 25:31].any(), "the motion must open holes (test setup)"
    backward_fill = backward_warp(key[None], invert_flow(flow[None], 5))[0]
    for fill, expected_fill in (("backward", backward_fill), ("key", key)):
        output = decode_one(WarpDecoder("softsplat", hole_fill=fill), key, flow)
        assert output.min() > 0.19, fill  # the key frame is in [0.2, 0.8]: no black holes anywhere
        # Holes (zero weight) take the fill; pixels with full splatted weight keep the splat result.
        torch.testing.assert_close(output[:, holes], expected_fill[:, holes], atol=1e-6, rtol=0)
        torch.testing.assert_close(output[:, 30:, 50:], unfilled[:, 30:, 50:], atol=0, rtol=0)


def test_holes_from_strong_zoom_are_filled() -> None:
    key, flow, _ = similarity_motion(Texture(9), 0.0, 2.5, (0.0, 0.0))
    assert (decode_one(WarpDecoder(hole_fill="none"), key, flow) == 0).any()
    assert decode_one(WarpDecoder(), key, flow).min() > 0.19


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_shapes_dtype_and_batching(mode: str, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(10)
    b, t, h, w = 2, 3, 12, 16
    key = torch.rand(b, 3, h, w, generator=g).to(dtype)
    flow = ((torch.rand(b, t, 2, h, w, generator=g) * 2 - 1) * 4).to(dtype)
    decoder = build_decoder("warp", mode=mode)
    frames = decoder(key, flow, generator=torch.Generator().manual_seed(0))
    assert frames.shape == (b, t, 3, h, w) and frames.dtype == dtype and frames.device == key.device
    assert frames.min() >= 0 and frames.max() <= 1
    # Batched over B*T: each frame equals decoding it alone.
    single = decoder.decode(key[1:2], flow[1:2, 2:3])
    torch.testing.assert_close(frames[1:2, 2:3], single)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", MODES)
def test_follows_cuda_device(mode: str) -> None:
    key, flow, truth = similarity_motion(Texture(11), 0.1, 1.0, (1.5, 0.0))
    decoder = WarpDecoder(mode=mode)
    on_gpu = decoder.decode(key[None].cuda(), flow[None, None].cuda())
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), decoder.decode(key[None], flow[None, None]), atol=1e-5, rtol=0)


def test_output_is_clamped() -> None:
    key = torch.full((1, 3, 8, 8), 1.0)
    key[..., ::2, :] = 1.5  # out-of-range input still yields frames in [0, 1]
    for mode in MODES:
        frames = WarpDecoder(mode=mode).decode(key, torch.full((1, 2, 2, 8, 8), 0.3))
        assert frames.max() == 1.0


def test_registry() -> None:
    assert "warp" in available_decoders()
    decoder = build_decoder("warp", mode="backward", inverse_iterations=2)
    assert isinstance(decoder, WarpDecoder) and decoder.mode == "backward" and decoder.inverse_iterations == 2
    assert isinstance(build_decoder("warp"), WarpDecoder)
    with pytest.raises(ConfigError, match="known decoders: .*warp"):
        build_decoder("no_such_decoder")
    with pytest.raises(ConfigError, match="does not accept"):
        build_decoder("warp", strength=3)
    for bad in ({"mode": "sideways"}, {"hole_fill": "magic"}, {"hole_threshold": 0.0}, {"inverse_iterations": -1}):
        with pytest.raises(ConfigError):
            build_decoder("warp", **bad)


def test_register_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder_base, "_DECODERS", dict(decoder_base._DECODERS))

    @register_decoder("constant_test")
    class ConstantDecoder(FrameDecoder):
        def decode(self, key, flow, generator=None):
            return key.unsqueeze(1).expand(-1, flow.shape[1], -1, -1, -1)

    frames = build_decoder("constant_test")(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 2, 4, 4))
    assert frames.shape == (1, 2, 3, 4, 4)
    with pytest.raises(ConfigError, match="already registered"):
        register_decoder("warp")(ConstantDecoder)
    with pytest.raises(TypeError):
        register_decoder("not_a_decoder")(int)
    with pytest.raises(TypeError):
        FrameDecoder()


def test_bad_inputs_raise_input_error() -> None:
    decoder = WarpDecoder()
    with pytest.raises(InputError, match=r"\[B, 3, H, W\]"):
        decoder.decode(torch.zeros(1, 4, 8, 8), torch.zeros(1, 2, 2, 8, 8))
    with pytest.raises(InputError, match=r"\[B, T, 2, H, W\]"):
        decoder.decode(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 8))
    with pytest.raises(InputError, match=r"\[B, T, 2, H, W\]"):
        decoder.decode(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 2, 8, 9))
    with pytest.raises(InputError, match="floating"):
        decoder.decode(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 2, 2, 8, 8))
