"""The fake-CUDA memory estimator: exact byte accounting, GPU-like attention, moving fake modules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dynamics_codec.utils.memory_estimate import PeakMemoryTracker, default_dtype, fake_cuda, place_on


def test_tracker_counts_new_storages_not_views_and_releases_freed_ones():
    with fake_cuda():
        tracker = PeakMemoryTracker()
        with tracker:
            a = torch.empty(1024, device="cuda")  # 4096 B
            b = a * 2  # + 4096 B
            view = b.view(32, 32)  # a view: nothing new
            assert tracker.current == 8192
            del a
            assert tracker.current == 4096
            with tracker.phase("half"):
                c = torch.empty(512, device="cuda", dtype=torch.float16)  # + 1024 B
                del c
            d = torch.empty(10, device="cpu")  # other device: not counted
            assert d.numel() == 10
        assert tracker.peak == 8192
        assert tracker.phase_peaks == {"half": 4096 + 1024}
        assert tracker.current == 4096
        del b
        assert tracker.current == 4096  # view still holds the storage
        del view
        assert tracker.current == 0


def test_tracker_on_real_cpu_tensors_matches_fake_cuda_run():
    """The same network gives the same peak on real CPU tensors and on fake CUDA tensors."""

    def run(device: str) -> tuple[int, int]:
        torch.manual_seed(0)
        with torch.device(device):
            net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 4, 3))
        tracker = PeakMemoryTracker(device_type=torch.device(device).type)
        tracker.track_module(net)
        weights = tracker.current
        x = torch.rand(2, 3, 32, 32, device=device)
        with tracker, torch.no_grad():
            y = net(x)
        assert y.shape == (2, 4, 30, 30)
        return weights, tracker.peak

    weights_cpu, peak_cpu = run("cpu")
    with fake_cuda():
        weights_fake, peak_fake = run("cuda")
    assert weights_cpu == weights_fake == 4 * (16 * 3 * 9 + 16 + 4 * 16 * 9 + 4)
    # conv1 out (2*16*32*32 floats) + relu out at the same time, then conv2 out
    assert peak_cpu == peak_fake == weights_cpu + 4 * 2 * 16 * 32 * 32 * 2


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_fused_attention_does_not_store_the_attention_matrix(dtype):
    b, h, length, dim = 1, 2, 1024, 64
    out_bytes = b * h * length * dim * torch.tensor([], dtype=dtype).element_size()
    with fake_cuda(fused_attention=True):
        q = torch.randn(b, h, length, dim, device="cuda", dtype=dtype)
        tracker = PeakMemoryTracker()
        with tracker:
            out = F.scaled_dot_product_attention(q, q, q)
        assert out.shape == q.shape and out.dtype == dtype and out.device.type == "cuda"
        assert out_bytes <= tracker.peak <= out_bytes + 4 * b * h * length + 64  # + log-sum-exp
    with fake_cuda(fused_attention=False):
        q = torch.randn(b, h, length, dim, device="cuda", dtype=dtype)
        tracker = PeakMemoryTracker()
        with tracker:
            F.scaled_dot_product_attention(q, q, q)
        assert tracker.peak >= b * h * length * length * 4  # the math kernel's float32 scores
    assert F.scaled_dot_product_attention.__name__ == "scaled_dot_product_attention"  # restored


def test_masked_attention_falls_back_to_the_math_kernel_with_the_same_result_shape():
    with fake_cuda():
        q = torch.randn(1, 2, 16, 8, device="cuda")
        mask = torch.ones(16, 16, dtype=torch.bool, device="cuda")
        out = F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        assert out.shape == q.shape


class LegacyBuffer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.register_buffer("alpha", torch.Tensor([0.5]))  # legacy constructor ignores the default device


def test_place_on_moves_fake_parameters_and_stray_cpu_buffers():
    with fake_cuda():
        with torch.device("cuda"), default_dtype(torch.float16):
            module = LegacyBuffer()
        assert module.alpha.device.type == "cpu"
        place_on(module, "cuda")
        devices = {t.device.type for t in [*module.parameters(), *module.buffers()]}
        assert devices == {"cuda"}
        assert module.linear.weight.dtype == torch.float16
        assert isinstance(module.linear.weight, torch.nn.Parameter)
        out = module.linear(torch.zeros(2, 4, device="cuda", dtype=torch.float16))
        assert out.shape == (2, 4) and out.device.type == "cuda"
    assert torch.get_default_dtype() == torch.float32
