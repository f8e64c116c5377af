"""Peak GPU memory and seconds per frame of the generative decoder (``mofa_svd``).

    python benchmarks/decoder.py [--frames 50] [--size 384] [--steps 25] [--window 25]
                                 [--dtype float16] [--offload] [--cpu-tiny] [--estimate]

Measured (CUDA): builds the real architecture sizes (SVD-xt UNet, MOFA adaptor, SVD temporal
VAE, CLIP ViT-H) with random weights (the published weights cannot be fetched here), decodes
``--frames`` frames (key frame + flows of a smooth random motion) and prints a Markdown table:
seconds in total and per frame, peak allocated / reserved GPU memory, and whether it fits a
24 GB GPU. Without CUDA, ``--cpu-tiny`` times the tiny configuration on the CPU instead.

Estimated (``--estimate``, the default without CUDA): the same decode of the full-size
architecture runs on fake CUDA tensors (:mod:`dynamics_codec.decoder.mofa.memory`: shapes only,
attention allocating as the GPU's flash / memory-efficient kernels), and a second table gives
the bytes of live CUDA tensors at the peak of each phase (what ``max_memory_allocated`` would
report, without allocator overhead, CUDA context and library workspaces), the FLOPs (matmuls,
convolutions, attention) per generated frame and the seconds they take at ``--assume-tflops``
sustained (a projection, not a timing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynamics_codec.decoder.mofa.components import build_random_components  # noqa: E402
from dynamics_codec.decoder.mofa.memory import DecodeEstimate, estimate_decode  # noqa: E402
from dynamics_codec.decoder.mofa_svd import MofaSVDDecoder  # noqa: E402
from dynamics_codec.utils.memory_estimate import BUDGET_24GB_GIB, GIB  # noqa: E402


def smooth_flow(frames: int, size: int, device: torch.device) -> torch.Tensor:
    """``[1, T, 2, S, S]`` key -> frame t flow of a slow rotation-free swirl growing with t (pixels)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size, device=device), torch.linspace(-1, 1, size, device=device), indexing="ij")
    field = torch.stack([torch.sin(3.1 * ys), torch.cos(2.3 * xs)])  # [2, S, S]
    steps = torch.arange(1, frames + 1, device=device, dtype=torch.float32).view(frames, 1, 1, 1)
    return (0.15 * steps * field).unsqueeze(0)


def run(args: argparse.Namespace, device: torch.device, size_name: str) -> dict:
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[args.dtype]
    if device.type != "cuda":
        dtype = torch.float32
    t0 = time.perf_counter()
    components = build_random_components(size_name, seed=0, device="cpu" if args.offload else device, dtype=dtype)
    build_s = time.perf_counter() - t0
    decoder = MofaSVDDecoder(
        components=components, num_inference_steps=args.steps, window_size=args.window, window_overlap=args.overlap,
        decode_chunk_size=args.chunk, dtype=args.dtype if device.type == "cuda" else "float32", cpu_offload=args.offload,
        max_guidance_scale=args.max_guidance,
    )
    key = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    flow = smooth_flow(args.frames - 1, args.size, device)  # frame 0 is the key frame
    if device.type == "cuda":
        # warm-up (kernels, allocator) on a short clip, then measure
        decoder.decode(key, flow[:, :2], generator=torch.Generator().manual_seed(0))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    frames = decoder.decode(key, flow, generator=torch.Generator().manual_seed(0))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    result = {
        "config": size_name,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "frames": args.frames,
        "out": tuple(frames.shape),
        "seconds": seconds,
        "s_per_frame": seconds / args.frames,
        "build_s": build_s,
        "params_M": {k: round(v / 1e6, 1) for k, v in components.num_parameters().items()},
    }
    if device.type == "cuda":
        result["peak_alloc_gib"] = torch.cuda.max_memory_allocated(device) / GIB
        result["peak_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
    return result


def estimate(args: argparse.Namespace, dtype_name: str, chunk: int) -> DecodeEstimate:
    """Peak CUDA memory per phase and FLOPs of the full-size decode, on fake CUDA tensors."""
    return estimate_decode("full", frames=args.frames, height=args.size, width=args.size, dtype=dtype_name,
                           num_inference_steps=args.steps, window_size=args.window, window_overlap=args.overlap,
                           decode_chunk_size=chunk, max_guidance_scale=args.max_guidance)


def estimate_table(rows: list[tuple[str, int, DecodeEstimate]], args: argparse.Namespace) -> str:
    """Markdown table of ``(dtype, VAE chunk, estimate)`` rows."""
    lines = [
        f"Estimated on fake CUDA tensors (no GPU here): full-size architecture, {args.frames} frames at "
        f"{args.size}x{args.size}, {args.steps} Euler steps, window {args.window} (overlap {args.overlap}), "
        f"CFG max {args.max_guidance}. Bytes of live CUDA tensors at each phase's peak (allocator overhead, "
        f"CUDA context and workspaces not included); seconds/frame projected at {args.assume_tflops:g} TFLOP/s sustained.",
        "",
        "| dtype | VAE chunk | weights GiB | key encode GiB | denoise GiB | VAE decode GiB | peak GiB | "
        f"fits 24 GB (< {BUDGET_24GB_GIB:g} GiB) | TFLOP total | TFLOP/frame | s/frame (projected) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dtype_name, chunk, e in rows:
        gib = {name: b / GIB for name, b in e.phase_peak_bytes.items()}
        peak = e.peak_bytes / GIB
        tflop_per_frame = e.flops_per_frame() / 1e12
        lines.append(
            f"| {dtype_name} | {chunk} | {e.weight_bytes / GIB:.2f} | {gib['encode_key']:.2f} | {gib['sample']:.2f} | "
            f"{gib['decode_latents']:.2f} | {peak:.2f} | {'yes' if peak < BUDGET_24GB_GIB else 'NO'} | {e.flops / 1e12:.0f} | "
            f"{tflop_per_frame:.1f} | {tflop_per_frame / args.assume_tflops:.2f} |"
        )
    return "\n".join(lines)


def table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Generative decoder, random weights, {args.frames} frames at {args.size}x{args.size}, {args.steps} Euler steps, "
        f"window {args.window} (overlap {args.overlap}), CFG max {args.max_guidance}, VAE chunk {args.chunk}, "
        f"offload {args.offload}",
        "",
        "| config | device | dtype | s total | s/frame | peak alloc GiB | peak reserved GiB | "
        f"fits 24 GB (< {BUDGET_24GB_GIB:g} GiB reserved) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | {r['device']} | - | - | - | - | - | {r['error']} |")
            continue
        alloc = r.get("peak_alloc_gib")
        reserved = r.get("peak_reserved_gib")
        fits = "n/a (CPU)" if reserved is None else ("yes" if reserved < BUDGET_24GB_GIB else "NO")
        lines.append(
            f"| {r['config']} | {r['device']} | {r['dtype']} | {r['seconds']:.1f} | {r['s_per_frame']:.2f} | "
            f"{'-' if alloc is None else f'{alloc:.2f}'} | {'-' if reserved is None else f'{reserved:.2f}'} | {fits} |"
        )
    for r in rows:
        if "params_M" in r:
            lines.append(f"\n{r['config']} parameters (M): {r['params_M']}, output {r['out']}, build {r['build_s']:.1f} s")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=50, help="frames of the sequence, key frame included")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--window", type=int, default=25)
    ap.add_argument("--overlap", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=8, help="VAE decode chunk (frames)")
    ap.add_argument("--max-guidance", type=float, default=3.0)
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    ap.add_argument("--offload", action="store_true", help="CPU offload of the networks between uses")
    ap.add_argument("--cpu-tiny", action="store_true", help="without CUDA: time the tiny config on the CPU")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--estimate", action="store_true",
                    help="also estimate on fake CUDA tensors (the default without CUDA)")
    ap.add_argument("--assume-tflops", type=float, default=30.0,
                    help="sustained TFLOP/s for the projected s/frame (RTX 3090: 71 fp16 tensor-core peak)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    if torch.cuda.is_available():
        rows.append(run(args, torch.device("cuda"), "full"))
    else:
        rows.append({"config": "full", "device": "-", "error": "CUDA not available (see the estimate below)"})
        if args.cpu_tiny:
            rows.append(run(args, torch.device("cpu"), "tiny"))
    print(table(rows, args))
    if args.estimate or not torch.cuda.is_available():
        settings = [(args.dtype, args.chunk)]
        if args.dtype != "float32":
            settings.append(("float32", args.chunk))
        if args.chunk != args.window:
            settings.append((args.dtype, args.window))
        print()
        print(estimate_table([(dtype, chunk, estimate(args, dtype, chunk)) for dtype, chunk in settings], args))


if __name__ == "__main__":
    main()
