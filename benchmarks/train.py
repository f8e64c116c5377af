"""Training throughput and peak memory: python benchmarks/train.py [--batch 24] [--steps 3] [--device cuda] [overrides...]

Times Trainer.train_step (forward, L1 loss, backward, Adam) on one fixed synthetic batch of
the configured size (default: the paper's schedule, train=paper, at 384x384 with the 'base'
networks and target=flow, since CMP weights cannot be loaded here; CMP's own cost is printed
separately with random weights), and the data pipeline's samples/s. Prints a Markdown table.
On CPU the figures are for orientation only; the paper setting is one RTX 3090.

``--estimate`` adds the GPU memory of one paper training step (train.target=cmp: CMP's no-grad
forward, then the networks' forward, L1 loss, backward and Adam) for several batch sizes,
estimated without a GPU: the step runs on the meta device (shapes only) while
:class:`~dynamics_codec.utils.memory_estimate.PeakMemoryTracker` adds up the live tensors. It is
float32 throughout (autocast has no meta device), an upper bound for the AMP run of train.py;
allocator overhead and the CUDA context are not included.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynamics_codec.cmp import CMPMotionPredictor  # noqa: E402
from dynamics_codec.motion_model import MotionModel  # noqa: E402
from dynamics_codec.train import Trainer  # noqa: E402
from dynamics_codec.train.trainer import TrainingModule, collate  # noqa: E402
from dynamics_codec.utils.config import section_options  # noqa: E402
from dynamics_codec.utils.memory_estimate import BUDGET_24GB_GIB, GIB, PeakMemoryTracker  # noqa: E402

PHASES = ("cmp", "forward", "backward", "adam")


def estimate_step_memory(cfg, batch: int, size: int, steps: int = 2) -> dict:
    """Peak bytes per phase of ``steps`` float32 training steps on the meta device (see the docstring)."""
    meta = torch.device("meta")
    model = MotionModel.from_config(section_options(cfg.tokenizer, ()), section_options(cfg.generator, ()), seed=0)
    model.to(meta)
    module = TrainingModule(model)
    cmp = CMPMotionPredictor(None, size=size, allow_random_weights=True).to(meta)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    tracker = PeakMemoryTracker(device_type="meta")
    tracker.track_module(model)
    tracker.track_module(cmp)
    weights = tracker.current
    key = torch.empty(batch, 3, size, size, device=meta)
    sparse_flow = torch.empty(batch, 2, size, size, device=meta)
    mask = torch.empty(batch, 2, size, size, device=meta)
    with tracker:
        for _ in range(steps):  # the second step has Adam's moments from the first
            with tracker.phase("cmp"), torch.no_grad():
                target = cmp(key, sparse_flow, mask)
            with tracker.phase("forward"):
                flow = module(key, sparse_flow, mask)[0]
                loss = (flow.float() - target).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            with tracker.phase("backward"):
                loss.backward()
            with tracker.phase("adam"):
                optimizer.step()
    return {"batch": batch, "weights": weights, "phases": dict(tracker.phase_peaks), "peak": tracker.peak}


def print_estimates(cfg, batches: list[int], size: int, networks: str) -> None:
    print(f"\nGPU memory of a paper training step (train.target=cmp), estimated on the meta device: networks "
          f"{networks}, {size}x{size}, float32 (upper bound for AMP), live tensors in GiB\n")
    print("| batch | weights (ours + CMP) | CMP target | forward | backward | Adam | peak | "
          f"fits 24 GB (< {BUDGET_24GB_GIB:g} GiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for batch in batches:
        r = estimate_step_memory(cfg, batch, size)
        cells = [f"{r['phases'].get(p, 0) / GIB:.2f}" for p in PHASES]
        print(f"| {batch} | {r['weights'] / GIB:.2f} | {' | '.join(cells)} | {r['peak'] / GIB:.2f} | "
              f"{'yes' if r['peak'] / GIB < BUDGET_24GB_GIB else 'NO'} |")


def measure(args: argparse.Namespace, cfg) -> None:
    """Time train steps, the data pipeline and (``--cmp``) CMP on ``args.device``; print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp)
        t0 = time.perf_counter()
        batch = collate([trainer.train_set[i] for i in range(args.batch)])
        data_s = time.perf_counter() - t0
        trainer.train_step(batch)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(batch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        step_s = (time.perf_counter() - t0) / args.steps
        cmp_s = None
        if args.cmp:
            cmp = CMPMotionPredictor(None, allow_random_weights=True, generator=torch.Generator().manual_seed(0),
                                     device=args.device)
            b = {k: v.to(args.device) for k, v in batch.items()}
            t0 = time.perf_counter()
            cmp(b["key"], b["sparse_flow"], b["mask"])
            cmp_s = time.perf_counter() - t0
    params = sum(p.numel() for p in trainer.model.parameters())
    if args.device.startswith("cuda"):
        mem = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU (peak allocated)"
        dev = torch.cuda.get_device_name()
    else:
        mem = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB CPU (peak RSS)"
        dev = f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {dev}; networks: {args.networks} ({params / 1e6:.2f} M parameters); batch {args.batch} at "
          f"{cfg.data.size}x{cfg.data.size}; AMP {'on' if trainer.use_amp else 'off'}\n")
    print("| what | value |")
    print("|---|---|")
    print(f"| train step (fwd + L1 + bwd + Adam) | {step_s:.3f} s |")
    print(f"| training samples/s | {args.batch / step_s:.2f} |")
    print(f"| data pipeline samples/s (synthetic, 1 process) | {args.batch / data_s:.2f} |")
    if cmp_s is not None:
        print(f"| CMP targets samples/s | {args.batch / cmp_s:.2f} |")
    print(f"| peak memory | {mem} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--networks", default="base", help="tokenizer/generator config (base | small | tiny)")
    ap.add_argument("--cmp", action="store_true", help="also time CMP targets (random weights)")
    ap.add_argument("--estimate", nargs="*", type=int, metavar="BATCH",
                    help="also estimate GPU memory of a training step at these batch sizes (default 8 16 24 32)")
    ap.add_argument("--estimate-only", action="store_true", help="skip the measurement (with --estimate)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [f"tokenizer={args.networks}", f"generator={args.networks}", "train=paper", "train.target=flow",
                 f"train.batch_size={args.batch}", "train.num_workers=0", f"data.num_clips={args.batch}",
                 f"device={args.device}", *args.overrides]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    if not args.estimate_only:
        measure(args, cfg)
    if args.estimate is not None:
        print_estimates(cfg, args.estimate or [8, 16, 24, 32], int(cfg.data.size), args.networks)


if __name__ == "__main__":
    main()
