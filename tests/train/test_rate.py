import math

import torch

from dynamics_codec.train.rate import TokenRateModel, ideal_bits_reference


def test_rate_matches_closed_form_and_is_differentiable():
    model = TokenRateModel(1, 3).eval()
    with torch.no_grad():
        model.log_scale.copy_(torch.log(torch.tensor([[0.5, 1.0, 2.0]])))
    y = torch.tensor([[[0.3, -1.2, 0.0]]], requires_grad=True)
    bits = model.bits(y, step=0.1)
    expected = sum(ideal_bits_reference(v, b, 0.1) for v, b in zip([0.3, -1.2, 0.0], [0.5, 1.0, 2.0]))
    assert math.isclose(float(bits), expected, rel_tol=1e-5)
    bits.sum().backward()
    assert y.grad.abs().sum() > 0 and model.log_scale.grad is not None


def test_larger_tokens_and_finer_steps_cost_more():
    model = TokenRateModel(2, 4).eval()
    small, large = torch.full((1, 2, 4), 0.1), torch.full((1, 2, 4), 2.0)
    assert model.bits(large, 0.1) > model.bits(small, 0.1)
    assert model.bits(small, 0.05) > model.bits(small, 0.5)
