"""Time the watershed sampler and the flow backends per 384x384 frame; print a Markdown table.

Usage::

    .venv/bin/python benchmarks/flow_sampler.py [--frames 8] [--repeats 3] [--threads N]
        [--clip /path/to/clip.mp4] [--unimatch-frames 1] [--no-flow]

Rows:
  (a) ``WatershedSampler`` (mask_mode="frame", so every frame is analysed), batched over the
      frames, with 1 torch thread and with the default (or ``--threads``) count, plus its
      stages; on CUDA too when available (the distance transform stays on the CPU);
  (b) a straightforward reference-style sampler written here (scipy ``convolve2d`` per
      channel, ``distance_transform_edt``, ``maximum_filter`` with a footprint, a per-pair
      neighbour loop), with a check that its candidates equal ours;
  (c) the flow backends DIS (OpenCV, medium preset) and Unimatch (random weights), on the CPU
      and on CUDA when available; each row says 'not available: <reason>' if it cannot run.

The input is the first frames of a real clip from ``../shared/clips`` (key = frame 0) when
present, else a synthetic moving texture. The sampler is timed on DIS flow of those frames
(or a synthetic piecewise-rigid flow if DIS is not available).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from dynamics_codec.sampler import (  # noqa: E402
    WatershedSampler,
    distance_to_edges,
    eliminate_neighbours,
    motion_edges,
    watershed_peaks,
)

DEFAULT_CLIP = PROJECT_ROOT.parent / "shared" / "clips" / "vt_beach_waves.mp4"
SIZE = 384


# --------------------------------------------------------------------------- inputs


def load_clip(path: Path, count: int) -> torch.Tensor:
    """First ``count`` frames of a video as float RGB [count, 3, 384, 384] in [0, 1] (PyAV)."""
    import av

    images = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            images.append(frame.to_ndarray(format="rgb24"))
            if len(images) == count:
                break
    if len(images) < count:
        raise ValueError(f"{path} has only {len(images)} frames; {count} needed")
    video = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    if video.shape[-2:] != (SIZE, SIZE):
        video = torch.nn.functional.interpolate(video, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return video


def synthetic_video(count: int, seed: int = 0) -> torch.Tensor:
    """A smooth random texture translated by a growing sub-pixel offset: [count, 3, 384, 384]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, SIZE // 8, SIZE // 8, generator=g)
    texture = torch.nn.functional.interpolate(coarse, size=(SIZE + 32, SIZE + 32), mode="bicubic", align_corners=False)
    frames = [texture[0, :, 16 + t // 2 : 16 + t // 2 + SIZE, 16 + t : 16 + t + SIZE] for t in range(count)]
    return torch.stack(frames).clamp(0, 1)


def synthetic_flow(count: int, seed: int = 0) -> torch.Tensor:
    """Piecewise-rigid flow (smooth random field quantised to 2-px levels): [count, 2, 384, 384]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(count, 2, 6, 6, generator=g) * 6
    smooth = torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bicubic", align_corners=False)
    return torch.round(smooth / 2) * 2


# --------------------------------------------------------------------------- reference-style sampler


def reference_style_points(flow_hw2: np.ndarray, rng: np.random.Generator, nms_ks: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """MOFA's watershed sampler written plainly: returns (candidates [K, 2], kept [K', 2])."""
    from scipy import ndimage, signal

    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    edge = np.zeros(flow_hw2.shape[:2], dtype=np.float32)
    for channel in range(flow_hw2.shape[2]):
        gx = signal.convolve2d(flow_hw2[:, :, channel], sobel, boundary="symm", mode="same")
        gy = signal.convolve2d(flow_hw2[:, :, channel], sobel.T, boundary="symm", mode="same")
        edge = edge + np.sqrt(gx**2 + gy**2)
    edge /= max(edge.max(), 0.01)
    binary = (edge > 0.1).astype(np.float32)
    distance = ndimage.distance_transform_edt(1 - binary)
    window_max = ndimage.maximum_filter(distance, footprint=np.ones((nms_ks, nms_ks)))
    peaks = np.where(distance < window_max, 0.0, distance)
    peaks[0, :] = peaks[-1, :] = peaks[:, 0] = peaks[:, -1] = 0
    ys, xs = np.where(peaks > 0)
    d = (nms_ks - 1) / 2
    valid = np.ones(len(ys), dtype=bool)
    close_i, close_j = np.where((np.abs(ys[:, None] - ys[None, :]) < d) & (np.abs(xs[:, None] - xs[None, :]) < d))
    for i, j in zip(close_i, close_j):
        if valid[i] and valid[j] and i != j:
            if rng.random() > 0.5:
                valid[i] = False
            else:
                valid[j] = False
    return np.stack([ys, xs], 1), np.stack([ys[valid], xs[valid]], 1)


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], object], repeats: int, cuda: bool = False, warm_up: bool = True) -> float:
    """Median wall time of ``fn`` in ms over ``repeats`` runs (after one warm-up run by default)."""
    if warm_up:
        fn()
    samples = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, what: str, device: str, threads: str, ms: float | str, note: str = "") -> None:
        value = f"{ms:.2f}" if isinstance(ms, float) else ms
        self.rows.append((what, device, threads, value, note))
        print(f"  {what} [{device}, {threads} thr]: {value} {note}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        lines = ["| component | device | threads | ms / frame | notes |", "|---|---|---|---:|---|"]
        lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in self.rows]
        return "\n".join(lines)


def with_threads(count: int, fn: Callable[[], float]) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        return fn()
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------- rows


def bench_sampler(table: Table, flow: torch.Tensor, repeats: int, threads: int) -> None:
    frames = flow.shape[0]
    sampler = WatershedSampler(mask_mode="frame")
    batch = flow[None]  # [1, T, 2, H, W]
    fields = flow

    def run_sampler(x: torch.Tensor) -> Callable[[], object]:
        return lambda: sampler(x, torch.Generator().manual_seed(0))

    for count in sorted({1, threads}):
        ms = with_threads(count, lambda: timed(run_sampler(batch), repeats)) / frames
        table.add("(a) WatershedSampler, batched", "cpu", str(count), ms, f"{frames} frames per call, mask_mode=frame")
    sequence = WatershedSampler(mask_mode="sequence")
    ms = with_threads(1, lambda: timed(lambda: sequence(batch, torch.Generator().manual_seed(0)), repeats)) / frames
    table.add("(a) WatershedSampler, mask_mode=sequence", "cpu", "1", ms, "one analysis per sequence, per-frame share")

    edges = motion_edges(fields)
    distance = distance_to_edges(edges).float()
    peaks = watershed_peaks(distance)
    candidates = [torch.nonzero(p) for p in peaks]
    stages = {
        "edges (Sobel, torch)": lambda: motion_edges(fields),
        "distance transform (scipy edt)": lambda: distance_to_edges(edges),
        "NMS 15x15 + border (torch)": lambda: watershed_peaks(distance),
        "neighbour elimination": lambda: [eliminate_neighbours(c, 7.0, torch.Generator().manual_seed(0)) for c in candidates],
    }
    counts = ", ".join(str(len(c)) for c in candidates[:4])
    for name, fn in stages.items():
        ms = with_threads(1, lambda: timed(fn, repeats)) / frames
        note = f"candidates/frame: {counts}{', ...' if frames > 4 else ''}" if name == "neighbour elimination" else ""
        table.add(f"(a) stage: {name}", "cpu", "1", ms, note)

    if torch.cuda.is_available():
        on_gpu = batch.cuda()
        ms = timed(run_sampler(on_gpu), repeats, cuda=True) / frames
        table.add("(a) WatershedSampler, batched", "cuda", "-", ms, "edges on the GPU; EDT, NMS, elimination on the CPU")


def bench_reference_style(table: Table, flow: torch.Tensor, repeats: int) -> None:
    fields = [f.permute(1, 2, 0).numpy() for f in flow]
    ours = [torch.nonzero(p).numpy() for p in watershed_peaks(distance_to_edges(motion_edges(flow)).float())]
    same = all(np.array_equal(reference_style_points(f, np.random.default_rng(0))[0], o) for f, o in zip(fields, ours))
    ms = with_threads(
        1, lambda: timed(lambda: [reference_style_points(f, np.random.default_rng(0)) for f in fields], repeats)
    ) / len(fields)
    table.add("(b) reference-style sampler (scipy, loops)", "cpu", "1", ms, f"candidates identical to ours: {'yes' if same else 'NO'}")


def bench_flow_backends(table: Table, key: torch.Tensor, frames: torch.Tensor, repeats: int, threads: int, unimatch_frames: int) -> torch.Tensor | None:
    """Time DIS and Unimatch; return DIS flow [T, 2, H, W] of the frames when it ran."""
    dis_flow = None
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    try:
        from dynamics_codec.flow.dis import DISFlow

        dis = DISFlow(preset="medium")
        dis_flow = dis(key, frames)[0].float()
        ms = timed(lambda: dis(key, frames), repeats) / frames.shape[1]
        table.add("(c) DISFlow(preset='medium')", "cpu", "cv2 default", ms, "OpenCV DIS; ignores torch threads")
        from dynamics_codec.flow.consistency import ConsistencyCheckedFlow

        checked = ConsistencyCheckedFlow(dis)
        ms = timed(lambda: checked(key, frames), repeats) / frames.shape[1]
        table.add("(c) DIS + forward-backward check (default)", "cpu", "cv2 default", ms, "two DIS calls per frame")
    except Exception as error:  # noqa: BLE001 - reported in the table
        table.add("(c) DISFlow(preset='medium')", "cpu", "-", f"not available: {type(error).__name__}: {error}"[:160])
    try:
        from dynamics_codec.flow.unimatch import UnimatchFlow

        subset = frames[:, :unimatch_frames]
        for device in devices:
            model = UnimatchFlow(checkpoint=None, allow_random_weights=True).to(device).eval()
            k, f = key.to(device), subset.to(device)
            with torch.no_grad():
                call = lambda: model(k, f)  # noqa: E731
                if device == "cpu":
                    ms = with_threads(threads, lambda: timed(call, 1, warm_up=False))  # seconds per frame
                else:
                    ms = timed(call, repeats, cuda=True)
            table.add("(c) UnimatchFlow (random weights)", device, str(threads) if device == "cpu" else "-", ms / subset.shape[1], f"{subset.shape[1]} frames per call")
    except Exception as error:  # noqa: BLE001 - reported in the table
        table.add("(c) UnimatchFlow (random weights)", "cpu", "-", f"not available: {type(error).__name__}: {error}"[:160])
    return dis_flow


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="frames after the key frame (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row; the median is reported")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="the multi-thread count (default: torch's)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="a 384x384 clip (PyAV); synthetic if absent")
    parser.add_argument("--unimatch-frames", type=int, default=1, help="frames per Unimatch call (CPU is slow: one untimed-warm-up-free run)")
    parser.add_argument("--no-flow", action="store_true", help="skip the flow backends (sampler rows only)")
    args = parser.parse_args(argv)

    if args.clip.is_file():
        video = load_clip(args.clip, args.frames + 1)
        source = f"{args.clip.name}, frames 0..{args.frames}"
    else:
        video = synthetic_video(args.frames + 1)
        source = f"synthetic moving texture ({args.clip} not found)"
    key, frames = video[:1], video[None, 1:]

    table = Table()
    dis_flow = None
    if not args.no_flow:
        dis_flow = bench_flow_backends(table, key, frames, args.repeats, args.threads, args.unimatch_frames)
    if dis_flow is not None:
        flow, flow_source = dis_flow.contiguous(), "DIS flow of the clip"
    else:
        flow, flow_source = synthetic_flow(args.frames), "synthetic piecewise-rigid flow"
    bench_sampler(table, flow, args.repeats, args.threads)
    bench_reference_style(table, flow, args.repeats)

    print(f"Input: {source}; sampler input: {flow_source} [{args.frames}, 2, {SIZE}, {SIZE}]; "
          f"torch {torch.__version__}, {torch.get_num_threads()} default threads, "
          f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}\n")
    print(table.markdown())


if __name__ == "__main__":
    main()
