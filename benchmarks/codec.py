"""Encode and decode speed of the codec per stage at 384x384 (CPU unless --device cuda).

    python benchmarks/codec.py [--frames 50] [--threads 2] [--clip /path/to/clip.mp4] [--presets raw,fast,default]

Prints a Markdown table: seconds and frames per second of every stage (flow, sampler,
tokenizer, refine, decision, entropy, generator, warp, key frame), for the default configuration
(DIS medium, watershed sampler, the shipped model, x265 key frame, softsplat warp), once per
encoder preset (``configs/encoder``: raw = the tokenizer's tokens, fast = + per-frame motion
decision, default = + token refinement), then the decode of the last preset's stream.
Uses a real clip from ../shared/clips when present, else a synthetic one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynamics_codec.codec import build_encoder, build_stream_decoder  # noqa: E402
from dynamics_codec.data import make_synthetic_clip  # noqa: E402
from dynamics_codec.io import read_video, to_test_format  # noqa: E402
from dynamics_codec.metrics import psnr_per_frame  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clip", default=str(ROOT.parent / "shared" / "clips" / "vt_beach_waves.mp4"))
    ap.add_argument("--presets", default="raw,fast,default", help="encoder presets (configs/encoder) to time")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of configs/encode.yaml, e.g. tokenizer=base")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if Path(args.clip).exists():
        frames = to_test_format(read_video(args.clip, max_frames=args.frames).frames, 384, args.frames)
        fps, source = 25.0, Path(args.clip).name
    else:
        clip = make_synthetic_clip("astronaut", num_frames=args.frames, rng=np.random.default_rng(0))
        frames, fps, source = clip.frames, clip.fps, "synthetic astronaut"

    presets = [p for p in args.presets.split(",") if p]
    rows = []
    for preset in presets:
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            cfg = compose("encode", overrides=["input=x", "output=y", f"device={args.device}", f"encoder={preset}",
                                               *args.overrides])
        encoder = build_encoder(cfg)
        decoder = build_stream_decoder(cfg, model=encoder.model)
        # warm-up on 3 frames (allocations, first-call overheads)
        decoder.decode(encoder.encode(frames[:3], fps).bitstream)
        t0 = time.perf_counter()
        enc = encoder.encode(frames, fps)
        t_enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        dec = decoder.decode(enc.bitstream)
        t_dec = time.perf_counter() - t0
        psnr = float(np.mean(psnr_per_frame(frames, dec.frames)))
        rows.append((preset, enc, t_enc, dec, t_dec, psnr))

    inter = len(frames) - 1
    print(f"clip: {source}, {len(frames)} frames 384x384; device {args.device}, torch threads {args.threads}; "
          f"weights: {encoder.model.describe()}\n")
    print("| encoder preset | kbps | motion bits/frame | frames w/ motion | PSNR (all frames) | encode s | decode s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for preset, enc, t_enc, dec, t_dec, psnr in rows:
        print(f"| {preset} | {enc.kbps:.2f} | {enc.bits['motion'] / inter:.1f} | {int(enc.active.sum())}/{inter} | "
              f"{psnr:.2f} | {t_enc:.2f} | {t_dec:.2f} |")
    print()
    print("| preset | side | stage | seconds | frames/s | ms/frame |")
    print("|---|---|---|---:|---:|---:|")
    for preset, enc, t_enc, dec, t_dec, _ in rows:
        for side, timings, total in (("encode", enc.timings, t_enc), ("decode", dec.timings, t_dec)):
            for stage, sec in timings.items():
                n = 1 if stage == "keyframe" else inter
                name = "warp" if stage == "decoder" else stage
                print(f"| {preset} | {side} | {name}{' (1 frame)' if stage == 'keyframe' else ''} | {sec:.3f} | "
                      f"{n / max(sec, 1e-9):.1f} | {1000 * sec / n:.1f} |")
            print(f"| {preset} | {side} | **total** | {total:.3f} | {len(frames) / total:.1f} | {1000 * total / len(frames):.1f} |")

if __name__ == "__main__":
    main()
