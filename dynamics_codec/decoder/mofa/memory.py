"""GPU memory and FLOPs of a generative decode, estimated without the GPU and without the weights.

:func:`estimate_decode` runs :meth:`MofaSVDDecoder.decode <dynamics_codec.decoder.mofa_svd.MofaSVDDecoder.decode>`
unchanged on fake CUDA tensors (:mod:`dynamics_codec.utils.memory_estimate`: shapes only,
attention allocating as the GPU's flash / memory-efficient kernels) and reports the bytes of
live CUDA tensors at the peak of each phase (what ``torch.cuda.max_memory_allocated`` would
show, less allocator overhead, CUDA context and library workspaces) and the FLOPs of matrix
products, convolutions and attention. Use it to check that a setting (size, frames, window,
VAE chunk, dtype) fits a card before fetching 10 GB of weights; ``benchmarks/decoder.py``
prints it for the paper's setting.

Two substitutions, because fake tensors have no values:

* the Euler scheduler is replaced by :class:`EulerStandIn`, with the same tensor traffic per
  step (diffusers' scheduler branches on tensor values);
* the key frame's VAE encode runs without the float32 upcast (``Module.to`` cannot cast fake
  tensors): the upcast adds the VAE's weights in float32 (~0.2 GiB at full size) while the key
  frame is encoded, when nothing else is live.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from dynamics_codec.decoder.mofa.components import ComponentSize, construct_components
from dynamics_codec.decoder.mofa_svd import _DTYPES, MofaSVDDecoder
from dynamics_codec.errors import ConfigError
from dynamics_codec.utils.memory_estimate import PeakMemoryTracker, default_dtype, fake_cuda, place_on

#: the pipeline's phases, in order
PHASES = ("encode_key", "sample", "decode_latents")


class EulerStandIn:
    """Tensor traffic of diffusers' ``EulerDiscreteScheduler`` (float32 upcast of the sample,
    denoised estimate, derivative, step) without its value-dependent branches."""

    init_noise_sigma = 700.0

    def set_timesteps(self, num_inference_steps: int, device: torch.device | None = None) -> None:
        self.timesteps = torch.linspace(1.6, -1.5, num_inference_steps, device=device)

    def scale_model_input(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        return sample * 0.5

    def step(self, model_output, timestep, sample, generator=None):
        sample = sample.float()
        denoised = model_output * -0.5 + sample * 0.5
        derivative = (sample - denoised) / 2.0
        return type("EulerOutput", (), {"prev_sample": (sample + derivative * -0.1).to(model_output.dtype)})


@dataclass
class DecodeEstimate:
    """Bytes and FLOPs of one decode (see the module docstring)."""

    output_shape: tuple[int, ...]
    weight_bytes: int
    phase_peak_bytes: dict[str, int]  # live CUDA bytes at each phase's peak, weights included
    peak_bytes: int
    flops: int

    def flops_per_frame(self) -> float:
        return self.flops / self.output_shape[1]


def estimate_decode(
    size: ComponentSize = "full",
    frames: int = 50,
    height: int = 384,
    width: int = 384,
    dtype: str = "float16",
    **decoder_options,
) -> DecodeEstimate:
    """Estimate decoding ``frames`` frames (key frame included) at ``height`` x ``width`` with the
    ``size`` architecture in ``dtype`` on a CUDA device; ``decoder_options`` go to
    :class:`~dynamics_codec.decoder.mofa_svd.MofaSVDDecoder` (num_inference_steps, window_size,
    decode_chunk_size, max_guidance_scale, ...)."""
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype must be one of {sorted(_DTYPES)}; got {dtype!r}.")
    if frames < 2:
        raise ConfigError(f"a decode estimate needs at least 2 frames (key frame + 1); got {frames}.")
    device = torch.device("cuda", 0)
    with fake_cuda():
        with torch.device(device), default_dtype(_DTYPES[dtype]):
            components = construct_components(size, scheduler=EulerStandIn(), force_upcast=False)
        tracker = PeakMemoryTracker()
        for module in components.networks().values():
            place_on(module, device).eval().requires_grad_(False)
            tracker.track_module(module)
        weights = tracker.current
        decoder = MofaSVDDecoder(components=components, dtype=dtype, **decoder_options)
        pipe = decoder.pipeline(device)
        for name in PHASES:
            setattr(pipe, name, tracker.wrap_phase(name, getattr(pipe, name)))
        key = torch.rand(1, 3, height, width, device=device)
        flow = torch.randn(1, frames - 1, 2, height, width, device=device)
        with tracker, FlopCounterMode(display=False) as counter:
            decoded = decoder.decode(key, flow)
    return DecodeEstimate(
        output_shape=tuple(decoded.shape),
        weight_bytes=weights,
        phase_peak_bytes={name: tracker.phase_peaks.get(name, 0) for name in PHASES},
        peak_bytes=tracker.peak,
        flops=int(counter.get_total_flops()),
    )
