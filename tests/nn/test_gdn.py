"""Our GDN against CompressAI's: same state-dict keys, numbers and gradients; the shipped model's
tokens are bit-identical with either (its checkpoint was written with CompressAI's layer)."""

from __future__ import annotations

import pytest
import torch

from dynamics_codec.nn.gdn import GDN

compressai_layers = pytest.importorskip("compressai.layers")


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_matches_compressai(inverse):
    g = torch.Generator().manual_seed(0)
    ours, ref = GDN(6, inverse=inverse), compressai_layers.GDN(6, inverse=inverse)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v) and ours.state_dict()[k].dtype == v.dtype, k
    # trained-looking parameters: some entries below the lower bounds (the custom gradient matters there)
    state = {"beta": torch.rand(6, generator=g) * 1.5, "gamma": torch.rand(6, 6, generator=g) * 0.5 - 0.1}
    ours.load_state_dict(state, strict=False)
    ref.load_state_dict(state, strict=False)
    x = torch.randn(2, 6, 9, 7, generator=g)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), ref(xb)
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-6)
    weights = torch.randn(ya.shape, generator=g)
    (ya * weights).sum().backward()
    (yb * weights).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-6)
    for name in ("beta", "gamma"):
        ga, gb = getattr(ours, name).grad, getattr(ref, name).grad
        assert gb.abs().sum() > 0 and torch.equal(ga == 0, gb == 0)  # same gradient pass-through pattern
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


def test_shipped_model_gives_identical_tokens_with_either_gdn():
    from dynamics_codec.motion_model import MotionModel

    model = MotionModel.load("builtin:demo").eval()
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(1, 3, 1, 96, 96, generator=g) > 0.98).float().repeat(1, 1, 2, 1, 1)
    flow = torch.randn(1, 3, 2, 96, 96, generator=g) * 4 * mask
    key = torch.rand(1, 3, 96, 96, generator=g)
    with torch.no_grad():
        ours = model.tokenizer(flow, mask, key)
        swapped = 0
        for module in list(model.tokenizer.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, GDN):
                    ref = compressai_layers.GDN(child.beta.numel())
                    ref.load_state_dict(child.state_dict(), strict=True)
                    setattr(module, name, ref)
                    swapped += 1
        assert swapped > 0
        theirs = model.tokenizer(flow, mask, key)
    assert torch.equal(ours, theirs)
