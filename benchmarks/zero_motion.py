"""Our codec (shipped demo model) versus the zero-motion decoder at the same bits.

    python benchmarks/zero_motion.py [--clips 8] [--frames 50] [overrides of configs/encode.yaml ...]

For each synthetic validation clip (bundled photos, motion fields drawn with seeds disjoint from
the training clips) and each real clip in ../shared/clips (when present): encode + decode with
the configured codec, then give the zero-motion decoder (key frame repeated) the same bits: the
finest key-frame QP whose payload fits in our whole stream. Prints a Markdown table of mean
inter-frame RGB PSNR and the gain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynamics_codec.cli import zero_motion_at_bits  # noqa: E402
from dynamics_codec.codec import build_encoder, build_stream_decoder  # noqa: E402
from dynamics_codec.data import BUNDLED_IMAGES, make_synthetic_clip  # noqa: E402
from dynamics_codec.io import read_video, to_test_format  # noqa: E402
from dynamics_codec.metrics import psnr_per_frame  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "clips"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("encode", overrides=["input=x", "output=y", *args.overrides])
    encoder = build_encoder(cfg)
    decoder = build_stream_decoder(cfg, model=encoder.model)
    lo, hi = encoder.keyframe_codec.qp_range

    clips = []
    for i in range(args.clips):
        clip = make_synthetic_clip(BUNDLED_IMAGES[i % len(BUNDLED_IMAGES)], num_frames=args.frames,
                                   max_displacement=4.0 + 2.0 * (i % 2), rng=np.random.default_rng(50_000 + i))
        clips.append((f"synthetic {i} ({BUNDLED_IMAGES[i % len(BUNDLED_IMAGES)]})", clip.frames, clip.fps, "synthetic"))
    real = Path(args.real)
    if real.is_dir():
        for path in sorted(real.glob("*.mp4")):
            frames = to_test_format(read_video(path, max_frames=args.frames).frames, 384, args.frames)
            clips.append((path.stem, frames, 25.0, "real"))

    print(f"weights: {encoder.model.describe()}; key frame {cfg.keyframe.name} QP {cfg.keyframe.qp}, token step "
          f"{cfg.entropy.step}, decoder {cfg.decoder.name}\n")
    print("| clip | kbps | ours PSNR [dB] | zero-motion, same bits: QP | PSNR [dB] | gain [dB] |")
    print("|---|---:|---:|---:|---:|---:|")
    gains: dict[str, list[float]] = {"synthetic": [], "real": []}
    for name, frames, fps, kind in clips:
        enc = encoder.encode(frames, fps)
        dec = decoder.decode(enc.bitstream)
        ours = float(np.mean(psnr_per_frame(frames, dec.frames)[1:]))
        zero = zero_motion_at_bits(encoder.keyframe_codec, frames, enc.bits["total"], range(max(lo, int(cfg.keyframe.qp) - 12), hi + 1))
        gain = ours - zero["psnr_inter_frames_db"]
        gains[kind].append(gain)
        print(f"| {name} | {enc.kbps:.2f} | {ours:.2f} | {zero['qp']} | {zero['psnr_inter_frames_db']:.2f} | {gain:+.2f} |")
    for kind, g in gains.items():
        if g:
            print(f"| **mean {kind}** ({len(g)} clips) | | | | | **{np.mean(g):+.2f}** |")


if __name__ == "__main__":
    main()
