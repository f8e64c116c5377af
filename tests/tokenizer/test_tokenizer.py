import pytest
import torch
from dynamics_codec.nn.gdn import GDN

from dynamics_codec.errors import InputError
from dynamics_codec.tokenizer import MotionTokenizer, TokenizerConfig

TINY = dict(input_stride=4, unet_channels=(8, 8), feature_channels=8, vectorizer_channels=8, vectorizer_stages=2)


def _sparse(b=2, t=3, h=64, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(b, t, 1, h, w, generator=g) > 0.97).float().repeat(1, 1, 2, 1, 1)
    flow = torch.randn(b, t, 2, h, w, generator=g) * 5 * mask
    return flow, mask


def test_token_shape_and_leading_dims_folded():
    tok = MotionTokenizer(TokenizerConfig(**TINY)).eval()
    flow, mask = _sparse()
    out = tok(flow, mask)
    assert out.shape == (2, 3, 2, 20)
    # folding the frame dimension into the batch gives the same numbers as per-frame calls
    per_frame = torch.stack([tok(flow[:, i], mask[:, i]) for i in range(3)], dim=1)
    torch.testing.assert_close(out, per_frame, rtol=1e-5, atol=1e-6)


def test_vectorizers_use_gdn_and_tokens_depend_on_motion():
    tok = MotionTokenizer(TokenizerConfig(num_values=12, **TINY)).eval()
    assert len(tok.vectorizers) == 2
    assert sum(isinstance(m, GDN) for m in tok.vectorizers[0].modules()) == TINY["vectorizer_stages"]
    flow, mask = _sparse(b=1, t=1)
    a = tok(flow, mask)
    b = tok(flow * 2, mask)
    assert a.shape == (1, 1, 2, 12)
    assert not torch.allclose(a, b)


def test_key_frame_input_option():
    tok = MotionTokenizer(TokenizerConfig(use_key_frame=True, **TINY)).eval()
    flow, mask = _sparse(b=2, t=3)
    key = torch.rand(2, 3, 64, 48)
    out = tok(flow, mask, key)
    assert out.shape == (2, 3, 2, 20)
    with pytest.raises(InputError, match="use_key_frame"):
        tok(flow, mask)


def test_gradients_reach_every_parameter():
    tok = MotionTokenizer(TokenizerConfig(**TINY))
    flow, mask = _sparse(b=1, t=2)
    tok(flow, mask).square().sum().backward()
    missing = [n for n, p in tok.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_bad_shapes_are_reported():
    tok = MotionTokenizer(TokenizerConfig(**TINY))
    with pytest.raises(InputError, match="sparse flow and mask"):
        tok(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_coordinate_channels_option():
    tok = MotionTokenizer(TokenizerConfig(coord_channels=True, densify_sigma=0.0, **TINY)).eval()
    assert tok.features.stem.conv1.in_channels == 6
    flow, mask = _sparse(b=1, t=2)
    assert tok(flow, mask).shape == (1, 2, 2, 20)


def test_densify_interpolates_sparse_vectors_at_their_amplitude():
    from dynamics_codec.tokenizer.model import densify

    flow = torch.zeros(1, 2, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    flow[0, :, 8, 8] = torch.tensor([3.0, -1.0])
    flow[0, :, 24, 24] = torch.tensor([-2.0, 2.0])
    mask[0, 0, 8, 8] = mask[0, 0, 24, 24] = 1
    out = densify(flow, mask, sigma=3.0)
    assert out.shape == (1, 3, 32, 32)
    torch.testing.assert_close(out[0, :2, 9, 8], torch.tensor([3.0, -1.0]), atol=1e-3, rtol=0)  # near a sample
    torch.testing.assert_close(out[0, :2, 23, 24], torch.tensor([-2.0, 2.0]), atol=1e-3, rtol=0)
    mid = out[0, :2, 16, 16]
    torch.testing.assert_close(mid, torch.tensor([0.5, 0.5]), atol=1e-3, rtol=0)  # equidistant: the mean
    assert float(out[0, 2].max()) == 1.0 and float(out[0, 2, 16, 16]) < 0.1


def test_tokens_see_the_amplitude_of_the_motion():
    """With no normalisation in the U-Net, scaling the sparse flow changes the tokens a lot."""
    tok = MotionTokenizer(TokenizerConfig(**TINY)).eval()
    flow, mask = _sparse(b=1, t=1)
    a, b = tok(flow, mask), tok(3 * flow, mask)
    assert (a - b).abs().mean() > 1e-3
