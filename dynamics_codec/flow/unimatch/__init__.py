"""Unimatch (GMFlow, scale2-regrefine6) optical flow: our implementation of the published network.

- :class:`UnimatchFlow`: the project's flow backend (``key [B,3,H,W]``, ``frames [B,T,3,H,W]``
  in [0, 1] -> flow ``[B,T,2,H,W]`` pixels, key -> frame).
- :class:`UniMatchFlowNet`: the network, state dict named exactly as the published checkpoint.
- :func:`load_unimatch_state_dict`: read the published ``.pth``.
"""

from .backend import UnimatchFlow
from .checkpoint import CHECKPOINT_FILENAME, CHECKPOINT_URL, load_into, load_unimatch_state_dict
from .model import UniMatchFlowNet

__all__ = [
    "CHECKPOINT_FILENAME",
    "CHECKPOINT_URL",
    "UniMatchFlowNet",
    "UnimatchFlow",
    "load_into",
    "load_unimatch_state_dict",
]
