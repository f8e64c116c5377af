"""GPU memory and FLOPs of a computation, estimated on a machine without that GPU.

The computation runs on *fake* CUDA tensors (PyTorch's ``FakeTensorMode``: shapes, dtypes and
devices, no data, no memory, no kernels), and :class:`PeakMemoryTracker` adds up the bytes of
every CUDA storage while it is alive. That is what ``torch.cuda.max_memory_allocated`` reports
on a real GPU, less the caching allocator's rounding and fragmentation, the CUDA context and
library workspaces (cuBLAS, cuDNN): compare an estimate with a card's size with a margin.

Attention: without a GPU, PyTorch's SDPA dispatcher falls back to the math kernel, which
materialises the ``L x L`` attention matrix (in float32). On a GPU, fp16/bf16 attention runs in
the flash kernel and float32 attention in the memory-efficient kernel, neither of which stores
that matrix. :func:`fake_cuda` therefore routes ``F.scaled_dot_product_attention`` without mask
to those kernels' own shape functions, so the estimate allocates what a GPU would.

Data-dependent Python control flow (``tensor.item()``, ``if tensor > 0``) cannot run on fake
tensors: estimate code paths without it (e.g. a scheduler stand-in).

Example::

    with fake_cuda():
        with torch.device("cuda"):
            model = Model()
        place_on(model, "cuda")
        tracker = PeakMemoryTracker()
        tracker.track_module(model)
        with tracker, FlopCounterMode(display=False) as flops:
            model(torch.randn(8, 3, 384, 384, device="cuda"))
    print(tracker.peak / 2**30, flops.get_total_flops())
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

GIB = 1024**3
#: what a "24 GB" card (24 GiB) leaves to tensors: 2 GiB kept for the CUDA context and workspaces
BUDGET_24GB_GIB = 22.0
Fn = TypeVar("Fn", bound=Callable)


class PeakMemoryTracker(TorchDispatchMode):
    """Bytes of live storages on one device type: ``current``, ``peak`` and per-phase peaks.

    Every storage an operator creates on ``device_type`` counts from its creation until its last
    tensor is freed; views add nothing. Tensors that exist before the tracker (weights) count
    once passed to :meth:`track` / :meth:`track_module`.
    """

    def __init__(self, device_type: str = "cuda") -> None:
        super().__init__()
        self.device_type = device_type
        self.current = 0
        self.peak = 0
        self.phase_peaks: dict[str, int] = {}
        self._live: dict[int, int] = {}
        self._phase_stack: list[str] = []

    # ------------------------------------------------------------------ accounting
    def track(self, tensor: object) -> None:
        """Count ``tensor``'s storage (once) if it lives on the tracked device type."""
        if not isinstance(tensor, torch.Tensor) or tensor.device.type != self.device_type:
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._live:
            return
        nbytes = storage.nbytes()
        self._live[key] = nbytes
        self.current += nbytes
        self._update_peaks()
        weakref.finalize(storage, self._release, key)

    def track_module(self, module: torch.nn.Module) -> None:
        """Count a module's parameters and buffers."""
        for tensor in [*module.parameters(), *module.buffers()]:
            self.track(tensor)

    def _release(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def _update_peaks(self) -> None:
        self.peak = max(self.peak, self.current)
        for name in self._phase_stack:
            self.phase_peaks[name] = max(self.phase_peaks.get(name, 0), self.current)

    # ------------------------------------------------------------------ phases
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the peak reached while the block runs under ``phase_peaks[name]`` (the maximum
        over repeated entries)."""
        self._phase_stack.append(name)
        self.phase_peaks[name] = max(self.phase_peaks.get(name, 0), self.current)
        try:
            yield
        finally:
            self._phase_stack.remove(name)

    def wrap_phase(self, name: str, fn: Fn) -> Fn:
        """``fn`` run inside :meth:`phase` ``(name)``."""

        def wrapped(*args, **kwargs):
            with self.phase(name):
                return fn(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            self.track(tensor)
        return out


def _gpu_sdpa(math_sdpa: Callable) -> Callable:
    """``F.scaled_dot_product_attention`` allocating like the GPU's fused kernels (see module doc)."""

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        same_heads = query.shape[:-2] == key.shape[:-2] == value.shape[:-2]
        if attn_mask is not None or enable_gqa or not same_heads or query.dim() != 4:
            return math_sdpa(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                             scale=scale, enable_gqa=enable_gqa)
        if query.dtype in (torch.float16, torch.bfloat16):
            return torch.ops.aten._scaled_dot_product_flash_attention(
                query, key, value, dropout_p, is_causal, False, scale=scale)[0]
        return torch.ops.aten._scaled_dot_product_efficient_attention(
            query, key, value, None, False, dropout_p, is_causal, scale=scale)[0]

    return sdpa


@contextlib.contextmanager
def fake_cuda(fused_attention: bool = True) -> Iterator[object]:
    """Run the block on fake tensors (``torch.device("cuda")`` works without a GPU); with
    ``fused_attention`` SDPA allocates as the GPU's flash / memory-efficient kernels do."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    original = F.scaled_dot_product_attention
    if fused_attention:
        F.scaled_dot_product_attention = _gpu_sdpa(original)
    try:
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            yield mode
    finally:
        F.scaled_dot_product_attention = original


def place_on(module: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """Move every parameter and buffer not yet on ``device`` by replacing it.

    ``Module.to`` cannot move fake tensors (it swaps tensors in place); this can, and it also
    catches tensors a constructor left on the CPU (``torch.Tensor([x])`` ignores the default
    device)."""
    device = torch.device(device)
    for sub in module.modules():
        for name, parameter in list(sub._parameters.items()):
            if parameter is not None and parameter.device.type != device.type:
                sub._parameters[name] = torch.nn.Parameter(parameter.to(device), requires_grad=parameter.requires_grad)
        for name, buffer in list(sub._buffers.items()):
            if buffer is not None and buffer.device.type != device.type:
                sub._buffers[name] = buffer.to(device)
    return module


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """``torch.set_default_dtype`` for the block (build modules directly in fp16 / bf16)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
