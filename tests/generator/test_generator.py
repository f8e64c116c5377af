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
