"""Seconds per clip of each quality metric (the paper's test format: 50 frames of 384x384).

Usage::

    .venv/bin/python benchmarks/metrics.py [--frames 50] [--size 384] [--threads 2] [--clip video.mp4]
        [--metrics psnr ms_ssim cvvdp lpips dists fvd] [--weights-dir third_party/checkpoints/metrics]

Scores a decoded stand-in (the clip with mild noise and blur) against the clip: a synthetic
scene-dynamics clip by default, or the first frames of ``--clip`` in the test format. Prints,
per metric, the value, the wall-clock seconds per clip, the process CPU seconds (what the metric
costs regardless of other load on the machine) and the first call's extra (set-up) seconds. Metrics
whose weights are absent are listed as such. The load average is printed too: on a shared
machine wall time grows with it, CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from dynamics_codec.errors import MissingWeightsError
from dynamics_codec.metrics import MetricSuite


def _clip(args) -> tuple[np.ndarray, float, str]:
    if args.clip:
        from omegaconf import OmegaConf

        from dynamics_codec.cli import read_input_video

        frames, fps = read_input_video(OmegaConf.create({"input": args.clip, "video": {
            "size": args.size, "num_frames": args.frames, "start": 0, "stride": 1, "yuv_size": None, "fps": None}}))
        return frames, fps, args.clip
    from dynamics_codec.data import make_synthetic_clip

    clip = make_synthetic_clip("astronaut", size=args.size, num_frames=args.frames, fps=25.0, max_displacement=4.0,
                               rng=np.random.default_rng(0))
    return clip.frames, clip.fps, "synthetic astronaut"


def _degrade(frames: np.ndarray) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(1).normal(0.0, 4.0, frames.shape)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 0.8) for f in frames]).astype(np.float64)
    return np.clip(blurred + noise, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--clip", default=None, help="a video to read instead of the synthetic clip")
    parser.add_argument("--metrics", nargs="+", default=["psnr", "ms_ssim", "cvvdp", "lpips", "dists", "fvd"])
    parser.add_argument("--weights-dir", default="third_party/checkpoints/metrics")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    original, fps, source = _clip(args)
    decoded = _degrade(original)
    t, h, w, _ = original.shape
    print(f"metrics on {source}: {t} frames of {w}x{h} @ {fps:g} fps, device {args.device}, {args.threads} torch "
          f"threads, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'metric':<10}{'value':>10}{'wall s/clip':>13}{'CPU s/clip':>12}{'set-up s':>10}  note")
    cfg = {"weights_dir": args.weights_dir, "fvd": {"i3d_path": os.path.join(args.weights_dir, "i3d_torchscript.pt")}}
    for name in args.metrics:
        suite = MetricSuite.from_config({**cfg, "names": [name]}, device=args.device, progress=False)
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            first = suite.evaluate(original[:2], decoded[:2], fps=fps)  # builds the network, warms up
            setup = time.perf_counter() - w0
            del first
            w0, c0 = time.perf_counter(), time.process_time()
            result = suite.evaluate(original, decoded, fps=fps)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        except MissingWeightsError as exc:
            print(f"{name:<10}{'n/a':>10}{'':>13}{'':>12}{'':>10}  weights absent ({str(exc).splitlines()[0][:70]}...)")
            continue
        value = result.summary().get(name)
        note = ""
        if name == "cvvdp":
            note = f"JOD, display {suite.describe()['cvvdp']['display']}"
        elif name == "psnr":
            note = "dB (RGB)"
        elif name == "fvd" and result.fvd is not None:
            note = f"{result.fvd.num_windows} windows"
        print(f"{name:<10}{value if value is not None else float('nan'):>10.4f}{wall:>13.2f}{cpu:>12.2f}"
              f"{max(setup - wall * 2 / t, 0.0):>10.2f}  {note}")


if __name__ == "__main__":
    main()
