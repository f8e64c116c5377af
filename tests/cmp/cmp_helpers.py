"""Helpers of the CMP tests (imported by module name; tests/cmp has no __init__.py)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch


def write_published_container(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """Save ``state`` the way CMP's SingleStageModel.save_state does (with a real SGD optimizer state)."""
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    params[0].grad = torch.ones(3)
    optimizer.step()
    torch.save({"step": 42000, "state_dict": OrderedDict(state), "optimizer": optimizer.state_dict()}, path)
    return path
