"""Encoder-side token refinement: quantiser-aware, lowers the decoder-side loss, stream unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynamics_codec.codec import Encoder, StreamDecoder
from dynamics_codec.data import make_synthetic_clip
from dynamics_codec.decoder import build_decoder
from dynamics_codec.encoder import MotionDecisionConfig, RefineConfig, closed_loop_reconstruction, refine_tokens
from dynamics_codec.entropy import TokenCodingConfig, quantize_closed_loop
from dynamics_codec.errors import ConfigError
from dynamics_codec.flow import build_flow_backend
from dynamics_codec.keyframe import get_keyframe_codec
from dynamics_codec.metrics import psnr_per_frame
from dynamics_codec.motion_model import MotionModel
from dynamics_codec.sampler import WatershedSampler

TOK = dict(input_stride=4, unet_channels=[8, 8], feature_channels=8, vectorizer_channels=8, vectorizer_stages=2)
GEN = dict(image_channels=[8, 8], flow_channels=[8, 16], internal_stride=4, flow_scale=4.0)


@pytest.fixture(scope="module")
def clip():
    return make_synthetic_clip("coffee", size=64, num_frames=7, fps=25, max_displacement=3.0,
                               rng=np.random.default_rng(3))


@pytest.fixture(scope="module")
def model():
    return MotionModel.from_config(TOK, GEN, seed=2)


def test_closed_loop_reconstruction_matches_the_coder():
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(9, 2, 5)).astype(np.float32)
    for step, alpha in ((0.1, 1.0), (0.3, 0.5)):
        _, expected = quantize_closed_loop(tokens, step, alpha)
        recon, scaled = closed_loop_reconstruction(torch.from_numpy(tokens), step, alpha)
        assert np.allclose(recon.numpy(), expected, atol=1e-5)
        assert scaled.shape == tokens.shape
    y = torch.from_numpy(tokens).requires_grad_()
    closed_loop_reconstruction(y, 0.1, 1.0)[0].sum().backward()
    assert torch.all(y.grad != 0)  # straight-through: the rounding passes gradients


def _encoder(model, refine: RefineConfig, decision=MotionDecisionConfig(enabled=False, key_frame_fallback=False)):
    return Encoder(get_keyframe_codec("x265", preset="ultrafast"), 30, build_flow_backend("dis", preset="fast"),
                   WatershedSampler(nms_ks=9), model, TokenCodingConfig(step=0.05),
                   frame_decoder=build_decoder("warp"), decision=decision, refine=refine)


def test_refinement_lowers_the_decoder_side_loss_and_the_stream_still_decodes(clip, model):
    key = torch.from_numpy(clip.frames[0]).permute(2, 0, 1)[None].float() / 255
    frames = torch.from_numpy(clip.frames[1:]).permute(0, 3, 1, 2).float() / 255
    tokens = torch.zeros(len(frames), 2, 20)
    warp = build_decoder("warp")
    result = refine_tokens(tokens, key, model.generator, step=0.05, alpha=1.0, frames=frames, render=warp.decode,
                           config=RefineConfig(iterations=25, lr=0.1, scale=1.0, patience=25))
    assert result.iterations > 0
    assert float(result.final_loss.mean()) < 0.97 * float(result.initial_loss.mean())
    assert torch.all(result.final_loss <= result.initial_loss)  # each frame keeps its best tokens

    # through the encoder: the unchanged decoder decodes the refined stream, closer to the frames
    plain = _encoder(model, RefineConfig(enabled=False)).encode(clip.frames, clip.fps)
    refined = _encoder(model, RefineConfig(iterations=25, lr=0.1, scale=1.0)).encode(clip.frames, clip.fps)
    assert "refine" in refined.timings
    decoder = StreamDecoder(model, build_decoder("warp"))
    p_plain = np.mean(psnr_per_frame(clip.frames[1:], decoder.decode(plain.bitstream).frames[1:]))
    p_refined = np.mean(psnr_per_frame(clip.frames[1:], decoder.decode(refined.bitstream).frames[1:]))
    assert p_refined > p_plain + 0.05, (p_plain, p_refined)


def test_refinement_on_the_flow_target_lowers_the_flow_error(clip, model):
    key = torch.from_numpy(clip.frames[0]).permute(2, 0, 1)[None].float() / 255
    target = torch.from_numpy(clip.flow[1:]).float()
    result = refine_tokens(torch.zeros(len(target), 2, 20), key, model.generator, step=0.05, alpha=1.0,
                           target_flow=target, config=RefineConfig(iterations=20, lr=0.1, target="flow"))
    assert float(result.final_loss.mean()) < 0.97 * float(result.initial_loss.mean())


def test_rate_term_makes_cheaper_tokens(clip, model):
    from dynamics_codec.entropy import estimate_bits

    key = torch.from_numpy(clip.frames[0]).permute(2, 0, 1)[None].float() / 255
    frames = torch.from_numpy(clip.frames[1:]).permute(0, 3, 1, 2).float() / 255
    start = torch.from_numpy(np.random.default_rng(1).normal(0, 0.5, (len(frames), 2, 20)).astype(np.float32))
    warp = build_decoder("warp")
    common = dict(step=0.05, alpha=1.0, frames=frames, render=warp.decode)
    free = refine_tokens(start, key, model.generator, config=RefineConfig(iterations=20, lr=0.05), **common)
    priced = refine_tokens(start, key, model.generator, config=RefineConfig(iterations=20, lr=0.05, rate_lambda=0.05),
                           **common)
    coding = TokenCodingConfig(step=0.05)
    assert estimate_bits(priced.tokens.numpy(), coding) < estimate_bits(free.tokens.numpy(), coding)


def test_bad_refine_options_are_config_errors():
    with pytest.raises(ConfigError, match="loss"):
        RefineConfig(loss="ssim")
    with pytest.raises(ConfigError, match="unknown"):
        RefineConfig.from_dict({"iters": 3})
    with pytest.raises(ConfigError, match="scale"):
        RefineConfig(scale=0)


def test_linear_model_is_analysed_by_projection_and_refined_on_pixels(clip):
    """A motion-basis model: the encoder projects the analysed flow on the bases (no sampler, no
    tokenizer), and refinement lowers the decoded error further; the stream decodes unchanged."""
    model = MotionModel.from_config(TOK, dict(image_channels=[8, 8], internal_stride=4, flow_head="linear",
                                              flow_scale=1.0), seed=0)
    plain = _encoder(model, RefineConfig(enabled=False)).encode(clip.frames, clip.fps)
    assert "projection" in plain.timings and "sampler" not in plain.timings and "tokenizer" not in plain.timings
    refined = _encoder(model, RefineConfig(iterations=30, lr=0.1, scale=1.0)).encode(clip.frames, clip.fps)
    decoder = StreamDecoder(model, build_decoder("warp"))
    key = decoder.decode(plain.bitstream).frames[0]
    p_zero = np.mean(psnr_per_frame(clip.frames[1:], np.repeat(key[None], len(clip.frames) - 1, axis=0)))
    p_plain = np.mean(psnr_per_frame(clip.frames[1:], decoder.decode(plain.bitstream).frames[1:]))
    p_refined = np.mean(psnr_per_frame(clip.frames[1:], decoder.decode(refined.bitstream).frames[1:]))
    assert p_refined > p_plain > p_zero, (p_zero, p_plain, p_refined)
    with pytest.raises(ConfigError, match="flow_head=linear"):
        Encoder(get_keyframe_codec("x265"), 30, build_flow_backend("dis"), WatershedSampler(), MotionModel.from_config(TOK, GEN),
                TokenCodingConfig(step=0.05), analysis="projection")
