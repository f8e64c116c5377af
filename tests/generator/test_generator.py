import pytest
import torch

from dynamics_codec.errors import InputError
from dynamics_codec.generator import DenseFlowGenerator, GeneratorConfig

TINY = dict(image_channels=(8, 8), flow_channels=(8, 8), internal_stride=4)


def test_output_full_resolution_flow_for_every_frame():
    gen = DenseFlowGenerator(GeneratorConfig(**TINY)).eval()
    key = torch.rand(2, 3, 60, 44)
    tokens = torch.randn(2, 5, 2, 20)
    flow = gen(key, tokens)
    assert flow.shape == (2, 5, 2, 60, 44) and flow.dtype == torch.float32


def test_key_features_computed_once_match_per_call():
    gen = DenseFlowGenerator(GeneratorConfig(**TINY)).eval()
    key = torch.rand(1, 3, 32, 32)
    tokens = torch.randn(1, 4, 2, 20)
    feats = gen.encode_key(key)
    assert feats.shape == (1, 40, 8, 8)
    torch.testing.assert_close(gen(key, tokens, key_features=feats), gen(key, tokens))
    # frame t's flow depends on frame t's tokens only
    single = gen(key, tokens[:, 2:3])
    torch.testing.assert_close(single[:, 0], gen(key, tokens)[:, 2], rtol=1e-5, atol=1e-5)


def test_tokens_modulate_features_channelwise():
    gen = DenseFlowGenerator(GeneratorConfig(**TINY)).eval()
    key = torch.rand(1, 3, 32, 32)
    tokens = torch.randn(1, 1, 2, 20)
    other = tokens.clone()
    other[0, 0, 1, 3] += 1.0
    assert not torch.allclose(gen(key, tokens), gen(key, other))


def test_token_shape_checked():
    gen = DenseFlowGenerator(GeneratorConfig(**TINY))
    with pytest.raises(InputError, match=r"\[B,T,2,20\]"):
        gen(torch.rand(1, 3, 16, 16), torch.randn(1, 2, 40))


def test_coordinate_channels_option():
    gen = DenseFlowGenerator(GeneratorConfig(coord_channels=True, **TINY)).eval()
    assert gen.image_features.stem.conv1.in_channels == 5
    flow = gen(torch.rand(1, 3, 40, 36), torch.randn(1, 2, 2, 20))
    assert flow.shape == (1, 2, 2, 40, 36)


LINEAR = dict(image_channels=(8, 8), internal_stride=4, flow_head="linear", flow_scale=1.0)


def test_linear_head_flow_is_a_token_weighted_sum_of_unit_rms_bases():
    gen = DenseFlowGenerator(GeneratorConfig(**LINEAR)).eval()
    key = torch.rand(1, 3, 32, 32)
    bases = gen.encode_key(key)
    assert bases.shape == (1, 80, 8, 8)
    rms = bases.reshape(40, -1).pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.ones(40), rtol=1e-3, atol=1e-3)
    a, b = torch.randn(1, 1, 2, 20), torch.randn(1, 1, 2, 20)
    fa, fb = gen(key, a, key_features=bases), gen(key, b, key_features=bases)
    torch.testing.assert_close(gen(key, 2 * a - b, key_features=bases), 2 * fa - fb, rtol=1e-4, atol=1e-4)
    one = torch.zeros(1, 1, 2, 20)
    one[0, 0, 0, 3] = 1.0  # token 3 alone gives basis 3, upsampled
    small = gen(key, one, key_features=bases, size=(8, 8))
    torch.testing.assert_close(small[0, 0], bases[0, 6:8] * 8 / 32, rtol=1e-4, atol=1e-5)


def test_projection_recovers_the_tokens_of_a_flow_in_the_span():
    gen = DenseFlowGenerator(GeneratorConfig(**LINEAR)).eval()
    key = torch.rand(2, 3, 32, 32)
    bases = torch.randn(2, 80, 8, 8, generator=torch.Generator().manual_seed(0))  # well-conditioned bases
    tokens = torch.randn(2, 3, 2, 20)
    flow = gen(key, tokens, key_features=bases, size=(8, 8))  # at the bases' resolution: exactly in the span
    flow_full = torch.nn.functional.interpolate(flow.reshape(6, 2, 8, 8), scale_factor=4, mode="nearest").reshape(2, 3, 2, 32, 32) * 4
    z = gen.project(bases, flow_full, ridge=1e-8)
    torch.testing.assert_close(z, tokens, rtol=1e-2, atol=1e-2)
    weighted = gen.project(bases, flow_full, weight=torch.ones(2, 3, 1, 32, 32), ridge=1e-8)
    torch.testing.assert_close(weighted, tokens, rtol=1e-2, atol=1e-2)
    # a zero weight ignores a region: corrupting the flow there does not move the tokens
    w = torch.ones(2, 3, 1, 32, 32)
    w[..., :16, :] = 0
    corrupt = flow_full.clone()
    corrupt[..., :16, :] += 50
    torch.testing.assert_close(gen.project(bases, corrupt, weight=w, ridge=1e-8),
                               gen.project(bases, flow_full, weight=w, ridge=1e-8), rtol=1e-3, atol=1e-3)


def test_projection_needs_the_linear_head():
    from dynamics_codec.errors import ConfigError

    gen = DenseFlowGenerator(GeneratorConfig(**TINY))
    with pytest.raises(ConfigError, match="flow_head=linear"):
        gen.project(gen.encode_key(torch.rand(1, 3, 32, 32)), torch.zeros(1, 1, 2, 32, 32))
