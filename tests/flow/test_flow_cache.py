import numpy as np
import torch

from dynamics_codec.flow import FlowCache
from dynamics_codec.flow.base import FlowBackend
from dynamics_codec.flow.cache import flow_cache_key


class CountingBackend(FlowBackend):
    name = "counting"

    def __init__(self, tag: str = "a"):
        super().__init__()
        self.tag, self.calls = tag, 0

    def identity(self) -> str:
        return f"counting[{self.tag}]"

    def forward(self, key, frames):
        self.calls += 1
        b, t, _, h, w = frames.shape
        return (frames.mean(2, keepdim=True) - key[:, None].mean(2, keepdim=True)).repeat(1, 1, 2, 1, 1) * 7.3


def test_cache_computes_once_and_returns_identical_values(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(4, 16, 20, 3), dtype=np.uint8)
    cache, backend = FlowCache(tmp_path), CountingBackend()
    first = cache.get_or_compute(frames, backend)
    second = cache.get_or_compute(frames, backend)
    assert backend.calls == 1
    assert first.shape == (3, 2, 16, 20) and first.dtype == torch.float32
    assert torch.equal(first, second)
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 1 and not list(tmp_path.rglob("*.tmp*"))
    # float16 storage: within half precision of the exact flow
    exact = backend(torch.from_numpy(frames[:1]).permute(0, 3, 1, 2).float() / 255,
                    torch.from_numpy(frames[None, 1:]).permute(0, 1, 4, 2, 3).float() / 255)[0]
    assert torch.allclose(first, exact, rtol=1e-3, atol=1e-3)


def test_cache_key_changes_with_backend_and_content():
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    k = flow_cache_key(frames, "dis[medium]")
    assert k != flow_cache_key(frames, "dis[fast]")
    other = frames.copy()
    other[1, 0, 0, 0] = 1
    assert k != flow_cache_key(other, "dis[medium]")
    assert k != flow_cache_key(frames[:, :, :4], "dis[medium]")
    assert k == flow_cache_key(frames.copy(), "dis[medium]")
