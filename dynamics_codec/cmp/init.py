"""Building CMP without touching the global RNG, and explicit random initialisation.

``build_cmp`` constructs the network on the meta device (no default initialisation, so the
global torch RNG is not consumed), materialises it on CPU and fills it deterministically:
conv weights and biases 0, BatchNorm scale 1 / shift 0 / running mean 0 / running var 1.
With a ``generator`` the conv weights are drawn from it instead, N(0, 1/fan_in): activations and
logits stay O(1) without trained BatchNorm statistics, so outputs are numerically well conditioned
(random weights are for tests and benchmarks only; real use loads the published checkpoint).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from dynamics_codec.cmp.model import CMP, CMPConfig


def build_cmp(config: CMPConfig | None = None, generator: torch.Generator | None = None) -> CMP:
    """A :class:`CMP` on CPU in eval mode; random conv weights only when ``generator`` is given."""
    with torch.device("meta"):
        model = CMP(config)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                if generator is None:
                    module.weight.zero_()
                else:
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / math.sqrt(fan_in))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
                module.num_batches_tracked.zero_()
    return model.eval()
