"""What the Hydra entry points in ``scripts/`` do, kept out of the scripts so they stay thin.

Each ``*_command(cfg)`` takes the composed config of its script and prints a human report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dynamics_codec.bitstream import read_stream_file, write_stream_file
from dynamics_codec.codec import DecodeResult, EncodeResult, build_encoder, build_stream_decoder, load_motion_model
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.io import read_video, to_test_format, write_video
from dynamics_codec.metrics import psnr_per_frame
from dynamics_codec.rate_control import with_target_rate
from dynamics_codec.utils.files import atomic_write_text


def _require(cfg: DictConfig, key: str, hint: str) -> str:
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    if value is None or OmegaConf.is_missing(cfg, key):
        raise ConfigError(f"missing '{key}': {hint}")
    return str(value)


def read_input_video(cfg: DictConfig) -> tuple[np.ndarray, float]:
    """The encoder's input in the configured test format: uint8 [T,H,W,3] and fps."""
    video_cfg = cfg.video
    path = _require(cfg, "input", "pass input=<video file, .y4m, .yuv or PNG folder>")
    size = tuple(video_cfg.yuv_size) if video_cfg.get("yuv_size") else None
    num = video_cfg.get("num_frames")
    stride = int(video_cfg.get("stride") or 1)
    start = int(video_cfg.get("start") or 0)
    max_frames = None if num is None else (int(num) - 1) * stride + 1
    clip = read_video(path, size=size, fps=video_cfg.get("fps"), start=start, max_frames=max_frames)
    frames = clip.frames
    if num is not None or video_cfg.get("size"):
        n = frames.shape[0] if num is None else int(num)
        if frames.shape[0] < (n - 1) * stride + 1:
            raise InputError(
                f"{path}: has {frames.shape[0] + start} frames, {start + (n - 1) * stride + 1} needed for "
                f"video.num_frames={n}, video.start={start}, video.stride={stride}; use video.num_frames=null "
                "to code all frames"
            )
        if video_cfg.get("size"):
            frames = to_test_format(frames, size=int(video_cfg.size), num_frames=n, start=0, stride=stride)
        else:
            frames = frames[: (n - 1) * stride + 1 : stride]
    return np.ascontiguousarray(frames), clip.fps


def format_bits_report(bits: dict[str, int], num_frames: int, fps: float) -> str:
    seconds = num_frames / fps
    lines = [f"{'part':<10}{'bytes':>9}{'bits':>10}{'kbps':>9}"]
    for part in ("header", "keyframe", "motion", "total"):
        lines.append(f"{part:<10}{bits[part] // 8:>9}{bits[part]:>10}{bits[part] / seconds / 1000:>9.2f}")
    return "\n".join(lines)


def format_encode_report(result: EncodeResult, model_description: str) -> str:
    t_inter = max(result.num_frames - 1, 1)
    v, n = result.tokens.shape[1:] if result.tokens.ndim == 3 else (0, 0)
    motion = result.bits["motion"]
    overhead = 100.0 * (motion - result.ideal_motion_bits) / max(result.ideal_motion_bits, 1.0)
    return "\n".join(
        [
            format_bits_report(result.bits, result.num_frames, result.fps),
            f"motion: {result.num_frames - 1} inter frames x {v}x{n} tokens, {motion / t_inter:.1f} bits/frame, "
            f"{motion / max(t_inter * v * n, 1):.3f} bits/token; coder vs ideal adaptive code length "
            f"{result.ideal_motion_bits:.0f} bits ({overhead:+.1f} %); {result.points_per_frame:.1f} motion points/frame",
            f"weights: {model_description}",
            "time [s]: " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()),
        ]
    )


def encode_command(cfg: DictConfig) -> EncodeResult:
    output = _require(cfg, "output", "pass output=<file.dcv>")
    frames, fps = read_input_video(cfg)
    cfg = with_target_rate(cfg, frames, fps)  # rate.target_kbps: the keyframe.qp and entropy.step that land there
    encoder = build_encoder(cfg)
    result = encoder.encode(frames, fps)
    write_stream_file(output, result.bitstream)
    print(f"{cfg.input} -> {output}: {frames.shape[2]}x{frames.shape[1]}, {frames.shape[0]} frames @ {fps:g} fps")
    print(format_encode_report(result, encoder.model.describe()))
    if cfg.get("report_quality", False):
        decoded = build_stream_decoder(cfg, model=encoder.model).decode(result.bitstream)
        p = psnr_per_frame(frames, decoded.frames)
        print(f"PSNR (RGB, mean over frames): {float(np.mean(p[np.isfinite(p)])):.2f} dB; key frame {p[0]:.2f} dB")
    return result


def decode_command(cfg: DictConfig) -> DecodeResult:
    path = _require(cfg, "input", "pass input=<file.dcv>")
    output = _require(cfg, "output", "pass output=<video.mp4 | video.mkv | .y4m | .yuv | png folder>")
    decoder = build_stream_decoder(cfg)
    result = decoder.decode(read_stream_file(path))
    write_video(result.frames, output, result.fps)
    h = result.header
    print(f"{path} -> {output}: {h.width}x{h.height}, {h.frames} frames @ {result.fps:g} fps, decoder={cfg.decoder.name}")
    print(format_bits_report(result.bits, h.frames, result.fps))
    print(f"weights: {decoder.model.describe()}")
    print("time [s]: " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()))
    return result


def side_by_side(*videos: np.ndarray, gap: int = 4) -> np.ndarray:
    """Frames of equal-sized uint8 videos [T,H,W,3] placed left to right with a white gap."""
    t, h = videos[0].shape[:2]
    sep = np.full((t, h, gap, 3), 255, np.uint8)
    parts = []
    for i, v in enumerate(videos):
        parts += [v] if i == 0 else [sep, v]
    return np.concatenate(parts, axis=2)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = image.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_flow_figure(path: Path, original: np.ndarray, recon: np.ndarray, true_flow: np.ndarray,
                      decoded_flow: np.ndarray, columns: int = 3) -> Path:
    """PNG grid: for a few frames, original / decoded / true motion / decoded motion (same colour scale)."""
    import cv2

    from dynamics_codec.flow.visualize import flow_to_rgb
    from dynamics_codec.utils.files import atomic_output_path

    t_inter = true_flow.shape[0]
    picks = sorted({max(0, min(t_inter - 1, round(t_inter * (i + 1) / columns) - 1)) for i in range(columns)})
    scale = float(max(np.abs(true_flow).max(), np.abs(decoded_flow).max(), 1e-3))
    rows = []
    for t in picks:
        true_rgb = flow_to_rgb(true_flow[t], scale)
        dec_rgb = flow_to_rgb(decoded_flow[t], scale)
        rows.append(side_by_side(*(x[None] for x in (
            _label(original[t + 1], f"original t={t + 1}"), _label(recon[t + 1], "decoded"),
            _label(true_rgb, "true motion"), _label(dec_rgb, f"decoded motion (max {scale:.1f}px)"))))[0])
    grid = np.concatenate([np.concatenate([r, np.full((4, r.shape[1], 3), 255, np.uint8)]) for r in rows])
    with atomic_output_path(path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path


def zero_motion_at_bits(codec, frames: np.ndarray, budget_bits: int, qps: range) -> dict:
    """The zero-motion decoder (key frame repeated) given the same bits as our stream.

    It spends the whole budget on the key frame: the finest QP whose key-frame payload fits in
    ``budget_bits``. Returns qp, bits and the PSNR of the repeated key frame over the inter frames.
    """
    for qp in qps:  # fine to coarse
        payload = codec.encode(frames[0], qp)
        if 8 * len(payload) <= budget_bits:
            key = codec.decode(payload)
            p = psnr_per_frame(frames, np.repeat(key[None], len(frames), axis=0))
            return {"qp": qp, "bits": 8 * len(payload), "psnr_inter_frames_db": float(np.mean(p[1:])) if len(p) > 1 else float("nan")}
    return {"qp": None, "bits": None, "psnr_inter_frames_db": float("nan")}


def demo_command(cfg: DictConfig) -> dict:
    """Encode and decode a synthetic clip; print bits, kbps and PSNR; write outputs."""
    from dynamics_codec.data import make_synthetic_clip

    c = cfg.clip
    clip = make_synthetic_clip(
        str(c.image), size=int(c.size), num_frames=int(c.num_frames), fps=float(c.fps),
        max_displacement=float(c.max_displacement), rng=np.random.default_rng(int(c.seed)),
    )
    out_dir = Path(cfg.output_dir)
    model = load_motion_model(cfg)
    encoder = build_encoder(cfg, model=model)
    result = encoder.encode(clip.frames, clip.fps)
    stream_path = out_dir / "demo.dcv"
    write_stream_file(stream_path, result.bitstream)
    decoded = build_stream_decoder(cfg, model=model).decode(read_stream_file(stream_path), keep_flow=True)

    original, recon = clip.frames, decoded.frames
    zero_motion = np.repeat(recon[:1], len(recon), axis=0)  # our key frame repeated (fewer bits: no motion)
    p_ours = psnr_per_frame(original, recon)
    p_zero = psnr_per_frame(original, zero_motion)
    mean = lambda p: float(np.mean(p[1:])) if len(p) > 1 else float("nan")  # noqa: E731 (inter frames)
    lo, hi = encoder.keyframe_codec.qp_range
    same_bits = zero_motion_at_bits(encoder.keyframe_codec, original, result.bits["total"],
                                    range(max(lo, int(cfg.keyframe.qp) - 12), hi + 1))

    write_video(recon, out_dir / "reconstruction.mkv", clip.fps)
    write_video(recon, out_dir / "reconstruction.mp4", clip.fps)
    write_video(side_by_side(original, recon), out_dir / "side_by_side.mp4", clip.fps)
    if decoded.flow is not None:
        write_flow_figure(out_dir / "motion.png", original, recon, clip.flow[1:], decoded.flow.numpy())

    summary = {
        "clip": {"image": str(c.image), "size": int(c.size), "frames": int(c.num_frames), "fps": clip.fps},
        "weights": model.describe(),
        "bits": result.bits,
        "kbps": result.kbps,
        "keyframe": {"codec": str(cfg.keyframe.name), "qp": int(cfg.keyframe.qp)},
        "token_step": float(cfg.entropy.step),
        "psnr_inter_frames_db": mean(p_ours),
        "psnr_key_frame_db": float(p_ours[0]),
        "psnr_zero_motion_inter_frames_db": mean(p_zero),
        "zero_motion_same_bits": same_bits,
        "timings_s": {"encode": result.timings, "decode": decoded.timings},
    }
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")

    print(f"Dynamics-Codec demo: synthetic '{c.image}' clip, {c.size}x{c.size}, {c.num_frames} frames @ {clip.fps:g} fps")
    print(format_encode_report(result, model.describe()))
    print(f"PSNR inter frames (RGB, mean): {summary['psnr_inter_frames_db']:.2f} dB; key frame "
          f"{summary['psnr_key_frame_db']:.2f} dB")
    print(f"zero-motion decoder (key frame repeated): {summary['psnr_zero_motion_inter_frames_db']:.2f} dB with our key "
          f"frame; {same_bits['psnr_inter_frames_db']:.2f} dB at the same bits (key frame alone at QP {same_bits['qp']}, "
          f"{same_bits['bits']} bits <= our {result.bits['total']})")
    if "untrained" in model.describe():
        print("NOTE: these are untrained motion-model weights (no trained checkpoint given), so the decoded "
              "motion is not meaningful yet; pass model.checkpoint=<folder> for a trained model.")
    print(f"wrote {stream_path}, {out_dir / 'reconstruction.mkv'} (lossless), {out_dir / 'reconstruction.mp4'}, "
          f"{out_dir / 'side_by_side.mp4'} (original | decoded), {out_dir / 'motion.png'} (true vs decoded motion), "
          f"{out_dir / 'summary.json'}")
    return summary
