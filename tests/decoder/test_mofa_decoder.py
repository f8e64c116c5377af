"""The generative decoder end to end on CPU with tiny random diffusion components (no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynamics_codec.codec import Encoder, StreamDecoder
from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.decoder import build_decoder
from dynamics_codec.decoder.mofa.components import build_random_components
from dynamics_codec.decoder.mofa_svd import MofaSVDDecoder, processing_size, resize_flow
from dynamics_codec.entropy import TokenCodingConfig
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.flow import build_flow_backend
from dynamics_codec.keyframe import get_keyframe_codec
from dynamics_codec.motion_model import MotionModel
from dynamics_codec.sampler import WatershedSampler

TOK = dict(input_stride=4, unet_channels=[8, 8], feature_channels=8, vectorizer_channels=8, vectorizer_stages=2)
GEN = dict(image_channels=[8, 8], flow_channels=[8, 8], internal_stride=8)
TINY = dict(num_inference_steps=2, window_size=4, window_overlap=1, decode_chunk_size=2)


@pytest.fixture(scope="module")
def components():
    return build_random_components("tiny", seed=0)


@pytest.fixture(scope="module")
def encoded():
    clip = make_synthetic_clip("coffee", size=64, num_frames=5, fps=25, max_displacement=3.0, rng=np.random.default_rng(0))
    model = MotionModel.from_config(TOK, GEN, seed=0)
    encoder = Encoder(get_keyframe_codec("x265", preset="ultrafast"), 32, build_flow_backend("dis", preset="fast"),
                      WatershedSampler(nms_ks=9), model, TokenCodingConfig(step=0.05), seed=0)
    return clip, model, encoder.encode(clip.frames, clip.fps)


def test_registered_and_built_from_options_without_loading():
    decoder = build_decoder("mofa_svd", adaptor_path="/nonexistent", num_inference_steps=3, window_size=25)
    assert isinstance(decoder, MofaSVDDecoder) and decoder._components is None
    with pytest.raises(ConfigError):
        build_decoder("mofa_svd", window_size=5, window_overlap=4)
    with pytest.raises(ConfigError):
        build_decoder("mofa_svd", dtype="float8")


def test_bitstream_decodes_end_to_end_deterministically(encoded, components):
    clip, model, enc = encoded
    decoder = MofaSVDDecoder(components=components, **TINY)
    first = StreamDecoder(model, decoder, generator_seed=7).decode(enc.bitstream)
    assert first.frames.shape == clip.frames.shape and first.frames.dtype == np.uint8
    again = StreamDecoder(model, decoder, generator_seed=7).decode(enc.bitstream)
    assert np.array_equal(first.frames, again.frames), "same seed must give the same frames"
    other = StreamDecoder(model, decoder, generator_seed=8).decode(enc.bitstream)
    assert not np.array_equal(first.frames[1:], other.frames[1:]), "the seed must drive the sampler's noise"
    # the key frame comes from the key-frame codec, untouched by the generative decoder
    assert np.array_equal(first.frames[0], again.frames[0])


@pytest.mark.parametrize("key_slot", [True, False])
def test_any_length_gives_exactly_that_many_frames(components, key_slot):
    decoder = MofaSVDDecoder(components=components, num_inference_steps=1, window_size=3, window_overlap=0,
                             key_slot=key_slot, max_guidance_scale=1.0)
    key = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    flow = torch.zeros(1, 5, 2, 64, 64)
    out = decoder.decode(key, flow, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 5, 3, 64, 64) and out.dtype == key.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_flow_changes_the_output(components):
    decoder = MofaSVDDecoder(components=components, num_inference_steps=1, window_size=3, max_guidance_scale=1.0)
    key = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    still = torch.zeros(1, 2, 2, 64, 64)
    moving = still.clone()
    moving[:, :, 0] = 6.0
    a = decoder.decode(key, still, generator=torch.Generator().manual_seed(0))
    b = decoder.decode(key, moving, generator=torch.Generator().manual_seed(0))
    assert (a - b).abs().max() > 1e-4, "the adaptor must carry the flow into the frames"


def test_rejects_bad_inputs(components):
    decoder = MofaSVDDecoder(components=components, **TINY)
    with pytest.raises(InputError):
        decoder.decode(torch.rand(1, 3, 64, 64), torch.zeros(1, 2, 2, 32, 32))


def test_processing_size_and_flow_resize():
    assert processing_size(384, 384) == (384, 384)
    assert processing_size(96, 200) == (128, 256)
    flow = torch.zeros(1, 2, 32, 48)
    flow[:, 0], flow[:, 1] = 3.0, -2.0
    resized = resize_flow(flow, (64, 64))
    assert torch.allclose(resized[:, 0], torch.full((1, 64, 64), 3.0 * 64 / 48))
    assert torch.allclose(resized[:, 1], torch.full((1, 64, 64), -2.0 * 64 / 32))
