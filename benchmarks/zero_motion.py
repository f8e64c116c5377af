"""What the motion bits buy on real footage: our codec against the strongest simple baselines.

    python benchmarks/zero_motion.py [--corpus data/corpus] [--real ../shared/clips] [--synthetic 0]
                                     [--frames 50] [--json out.json] [overrides of configs/encode.yaml ...]

Clips: the validation split of a prepared corpus (``scripts/prepare_data.py`` output; the
split holds out whole source repositories; the first clip of each source video), the real clips of ``../shared/clips``
(evaluation only: never tune on them), and optionally synthetic clips. For each clip, with
the configured codec (default: the shipped model, x265 key frame at ``keyframe.qp``, token
step ``entropy.step``, warp decoder), it prints:

* kbps of the whole stream, motion bits per inter frame, frames sent with motion;
* PSNR of our decoded video (RGB, mean over all frames, key frame included);
* the **repeated key frame**: our own decoded key frame shown for every frame (fewer bits);
* the **zero-motion decoder at equal bits**: the key frame alone at the finest QP whose payload
  fits in our whole stream, repeated (the strongest simple baseline);
* the **oracle warp**: our decoded key frame warped by the analysed dense flow of the originals
  (what perfect motion would give the warp decoder at zero motion bits; for reference).

Means per group (and over all clips) close the table. ``--json`` writes every row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynamics_codec.cli import zero_motion_at_bits  # noqa: E402
from dynamics_codec.codec import _to_tensor, _to_uint8, build_encoder, build_stream_decoder  # noqa: E402
from dynamics_codec.data import BUNDLED_IMAGES, make_synthetic_clip  # noqa: E402
from dynamics_codec.decoder import build_decoder  # noqa: E402
from dynamics_codec.io import read_video, to_test_format  # noqa: E402
from dynamics_codec.metrics import psnr_per_frame  # noqa: E402
from dynamics_codec.utils.config import section_options  # noqa: E402


def corpus_val_clips(root: Path, frames: int, every_clip: bool = False) -> list[tuple[str, np.ndarray, float, str]]:
    """The validation split of a prepared corpus (PNG frames), first ``frames`` frames of each;
    the first clip of each source video only unless ``every_clip``."""
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        return []
    entries = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    entries = [e for e in entries if e.get("split") == "val" and (every_clip or int(e.get("start", 0)) == 0)]
    clips = []
    for e in sorted(entries, key=lambda e: e["id"]):
        video = read_video(root / "clips" / e["id"]).frames[:frames]
        clips.append((e["id"], video, 25.0, "corpus-val"))
    return clips


def real_clips(folder: Path, frames: int) -> list[tuple[str, np.ndarray, float, str]]:
    if not folder.is_dir():
        return []
    return [(p.stem, to_test_format(read_video(p, max_frames=frames).frames, 384, frames), 25.0, "real")
            for p in sorted(folder.glob("*.mp4"))]


def synthetic_clips(count: int, frames: int) -> list[tuple[str, np.ndarray, float, str]]:
    clips = []
    for i in range(count):
        name = BUNDLED_IMAGES[i % len(BUNDLED_IMAGES)]
        clip = make_synthetic_clip(name, num_frames=frames, max_displacement=4.0 + 2.0 * (i % 2),
                                   rng=np.random.default_rng(50_000 + i))
        clips.append((f"synthetic {i} ({name})", clip.frames, clip.fps, "synthetic"))
    return clips


def mean_psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """Mean RGB PSNR over all frames (key frame included)."""
    return float(np.mean(psnr_per_frame(original, decoded)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"), help="prepared corpus (its val split)")
    ap.add_argument("--every-corpus-clip", action="store_true", help="all val clips, not only each video's first")
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "clips"), help="folder of real .mp4 clips")
    ap.add_argument("--synthetic", type=int, default=0, help="synthetic clips to add")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--limit", type=int, default=None, help="at most this many clips per group")
    ap.add_argument("--json", default=None, help="write every row to this JSON file")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("encode", overrides=["input=x", "output=y", *args.overrides])
    encoder = build_encoder(cfg)
    decoder = build_stream_decoder(cfg, model=encoder.model)
    oracle_warp = build_decoder("warp", **section_options(cfg.decoder)) if cfg.decoder.name == "warp" else build_decoder("warp")
    lo, hi = encoder.keyframe_codec.qp_range

    groups = [corpus_val_clips(Path(args.corpus), args.frames, args.every_corpus_clip), real_clips(Path(args.real), args.frames),
              synthetic_clips(args.synthetic, args.frames)]
    clips = [c for g in groups for c in (g[: args.limit] if args.limit else g)]

    print(f"weights: {encoder.model.describe()}; key frame {cfg.keyframe.name} QP {cfg.keyframe.qp}, token step "
          f"{cfg.entropy.step}, decoder {cfg.decoder.name}, flow {encoder.flow.identity()}, "
          f"encoder {dict(cfg.get('encoder') or {})}\n")
    print("PSNR: RGB, mean over all frames (key frame included).\n")
    print("| clip | kbps | motion bits/frame | frames w/ motion | ours PSNR | repeated key frame | gain | "
          "zero motion, same bits: QP | PSNR | gain | oracle warp | oracle gain | encode s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name, frames, fps, kind in clips:
        t0 = time.perf_counter()
        enc = encoder.encode(frames, fps)
        encode_s = time.perf_counter() - t0
        dec = decoder.decode(enc.bitstream)
        ours = mean_psnr(frames, dec.frames)
        key = dec.frames[0]
        repeated = mean_psnr(frames, np.repeat(key[None], len(frames), axis=0))
        qps = range(max(lo, int(cfg.keyframe.qp) - 12), hi + 1)
        zero = zero_motion_at_bits(encoder.keyframe_codec, frames, enc.bits["total"], qps)
        zero_key = encoder.keyframe_codec.decode(encoder.keyframe_codec.encode(frames[0], zero["qp"]))
        zero_psnr = mean_psnr(frames, np.repeat(zero_key[None], len(frames), axis=0))
        with torch.no_grad():
            flow = encoder.analyse_flow(_to_tensor(frames, encoder.device))
            key_t = _to_tensor(key[None], encoder.device)
            warped = torch.cat([oracle_warp.decode(key_t, flow[:, s : s + 16])[0] for s in range(0, flow.shape[1], 16)])
        oracle = mean_psnr(frames, np.concatenate([key[None], _to_uint8(warped)]))
        inter = max(len(frames) - 1, 1)
        row = {
            "clip": name, "group": kind, "frames": len(frames), "kbps": enc.kbps, "bits": enc.bits,
            "motion_bits_per_frame": enc.bits["motion"] / inter, "motion_kbps": enc.bits["motion"] * fps / len(frames) / 1000,
            "frames_with_motion": int(enc.active.sum()), "psnr": ours, "psnr_repeated_key": repeated,
            "gain_vs_repeated_db": ours - repeated, "zero_motion_same_bits_qp": zero["qp"],
            "psnr_zero_motion_same_bits": zero_psnr, "gain_vs_same_bits_db": ours - zero_psnr,
            "psnr_oracle_warp": oracle, "oracle_gain_db": oracle - repeated, "encode_s": encode_s,
        }
        rows.append(row)
        print(f"| {name} | {enc.kbps:.2f} | {row['motion_bits_per_frame']:.1f} | {row['frames_with_motion']}/{inter} | "
              f"{ours:.2f} | {repeated:.2f} | {ours - repeated:+.2f} | {zero['qp']} | {zero_psnr:.2f} | "
              f"{ours - zero_psnr:+.2f} | {oracle:.2f} | {oracle - repeated:+.2f} | {encode_s:.1f} |", flush=True)
    summary = {}
    present = {r["group"] for r in rows}
    for kind in ("corpus-val", "real", "synthetic", "all"):
        g = rows if kind == "all" else [r for r in rows if r["group"] == kind]
        if not g or (kind == "all" and len(present) < 2):
            continue
        m = {k: float(np.mean([r[k] for r in g])) for k in (
            "kbps", "motion_bits_per_frame", "motion_kbps", "psnr", "gain_vs_repeated_db", "gain_vs_same_bits_db",
            "oracle_gain_db", "encode_s")}
        m["worst_gain_vs_same_bits_db"] = float(min(r["gain_vs_same_bits_db"] for r in g))
        m["clips"] = len(g)
        summary[kind] = m
        print(f"| **mean {kind}** ({len(g)} clips) | {m['kbps']:.2f} | {m['motion_bits_per_frame']:.1f} "
              f"({m['motion_kbps']:.2f} kbps) | | "
              f"{m['psnr']:.2f} | | **{m['gain_vs_repeated_db']:+.2f}** | | | **{m['gain_vs_same_bits_db']:+.2f}** "
              f"(worst {m['worst_gain_vs_same_bits_db']:+.2f}) | | {m['oracle_gain_db']:+.2f} | {m['encode_s']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": {"weights": encoder.model.describe(),
                                                          "overrides": args.overrides},
                                               "rows": rows, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
