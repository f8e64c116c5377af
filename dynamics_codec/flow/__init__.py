"""Dense optical flow, key frame -> frame t (see :mod:`dynamics_codec.flow.base`)."""

from dynamics_codec.flow.base import FlowBackend, build_flow_backend
from dynamics_codec.flow.cache import FlowCache

__all__ = ["FlowBackend", "build_flow_backend", "FlowCache"]
