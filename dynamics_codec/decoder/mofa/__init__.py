"""The generative decoder's parts: MOFA's flow adaptor on Stable Video Diffusion.

    adaptor           FlowAdaptor: MOFA's flow ControlNet (published checkpoint names)
    unet              UNetSpatioTemporalWithResiduals: SVD's UNet + ControlNet residual inputs
    temporal_context  the temporal cross-attention context order MOFA ran with (diffusers 0.24)
    embedding         time / added-time embeddings shared by both networks
    components        MofaComponents, random-weight builders (tiny for tests, full for benchmarks)
    loading           local folders / hub ids -> components; MissingWeightsError listing what is missing
    pipeline          MofaSVDPipeline: key conditioning, Euler sampling with guidance, chunked VAE decode
    windows           any sequence length as windows [key, next frames] started from the key frame
    memory            GPU memory / FLOPs of a decode estimated on fake CUDA tensors (no GPU, no weights)

The registered decoder is :class:`dynamics_codec.decoder.mofa_svd.MofaSVDDecoder` ("mofa_svd").
Importing this package imports diffusers and transformers.
"""

from dynamics_codec.decoder.mofa.adaptor import FlowAdaptor, FlowAdaptorOutput
from dynamics_codec.decoder.mofa.components import MofaComponents, build_random_components
from dynamics_codec.decoder.mofa.loading import load_components, load_flow_adaptor
from dynamics_codec.decoder.mofa.pipeline import KeyConditioning, MofaSVDPipeline, SamplingConfig
from dynamics_codec.decoder.mofa.temporal_context import set_temporal_context_order
from dynamics_codec.decoder.mofa.unet import UNetSpatioTemporalWithResiduals, residual_multiplicities
from dynamics_codec.decoder.mofa.windows import Window, merge_windows, plan_windows

__all__ = [
    "FlowAdaptor",
    "FlowAdaptorOutput",
    "KeyConditioning",
    "MofaComponents",
    "MofaSVDPipeline",
    "SamplingConfig",
    "UNetSpatioTemporalWithResiduals",
    "Window",
    "build_random_components",
    "load_components",
    "load_flow_adaptor",
    "merge_windows",
    "plan_windows",
    "residual_multiplicities",
    "set_temporal_context_order",
]
