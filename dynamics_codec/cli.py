"""What the Hydra entry points in ``scripts/`` do, kept out of the scripts so they stay thin.

Each ``*_command(cfg)`` takes the composed config of its script, logs a human report (plain
lines on stdout and the run's log file, see :mod:`dynamics_codec.utils.log`) and, for encode
and decode, writes a JSON summary next to the output (``<output>.json``). Heavy modules are
imported inside the commands, so a command loads only what it uses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dynamics_codec.errors import ConfigError, InputError

if TYPE_CHECKING:
    from dynamics_codec.codec import DecodedFrames, EncodeResult

log = logging.getLogger(__name__)

PSNR_DEFINITION = ("RGB PSNR (8-bit, peak 255) of each frame, then the mean over frames: all_frames = frames "
                   "0..T-1 (key frame included), inter_frames = frames 1..T-1 (the frames the motion codes), "
                   "key_frame = frame 0; frames identical to the original (infinite PSNR) are left out of the means")


def _require(cfg: DictConfig, key: str, hint: str) -> str:
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    if value is None or OmegaConf.is_missing(cfg, key):
        raise ConfigError(f"missing '{key}': {hint}")
    return str(value)


def _video_options(cfg: DictConfig) -> dict:
    """``video.*`` as checked values: size (None or even >= 2), num_frames (None or >= 1), start >= 0, stride >= 1."""
    v = cfg.video

    def integer(key: str, low: int, allow_null: bool, what: str):
        value = v.get(key)
        if value is None and allow_null:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"video.{key}={value} is not allowed: {what}")
        return value

    size = integer("size", 2, True, "pass null to keep the input's size, or an even number of pixels (the paper: 384)")
    if size is not None and size % 2:
        raise ConfigError(f"video.size={size} is odd; 4:2:0 coding needs an even size (e.g. video.size={size + 1})")
    return {"size": size,
            "num_frames": integer("num_frames", 1, True, "pass null for all frames, or a count >= 1"),
            "start": integer("start", 0, False, "the first frame's index, >= 0"),
            "stride": integer("stride", 1, False, "take every stride-th frame, >= 1 (1 = every frame)")}


def read_input_video(cfg: DictConfig) -> tuple[np.ndarray, float]:
    """The encoder's input in the configured test format: uint8 [T,H,W,3] and fps."""
    from dynamics_codec.io import read_video, to_test_format

    video_cfg = cfg.video
    path = _require(cfg, "input", "pass input=<video file, .y4m, .yuv or PNG folder>")
    opts = _video_options(cfg)
    size = tuple(video_cfg.yuv_size) if video_cfg.get("yuv_size") else None
    if Path(path).suffix.lower() == ".yuv" and (size is None or video_cfg.get("fps") is None):
        raise InputError(f"{path}: raw .yuv has no header; pass video.yuv_size=[W,H] and video.fps=<fps> "
                         f"(found video.yuv_size={video_cfg.get('yuv_size')}, video.fps={video_cfg.get('fps')})")
    num, stride, start = opts["num_frames"], opts["stride"], opts["start"]
    max_frames = None if num is None else (int(num) - 1) * stride + 1
    clip = read_video(path, size=size, fps=video_cfg.get("fps"), start=start, max_frames=max_frames)
    frames = clip.frames
    if num is not None or opts["size"]:
        n = frames.shape[0] if num is None else int(num)
        if frames.shape[0] < (n - 1) * stride + 1:
            raise InputError(
                f"{path}: has {frames.shape[0] + start} frames, {start + (n - 1) * stride + 1} needed for "
                f"video.num_frames={n}, video.start={start}, video.stride={stride}; use video.num_frames=null "
                "to code all frames"
            )
        if opts["size"]:
            short = min(frames.shape[1:3])
            if opts["size"] > short:
                log.warning(f"{path} is {frames.shape[2]}x{frames.shape[1]}: video.size={opts['size']} upscales it "
                            f"{opts['size'] / short:.1f}x (no new detail, more bits); pass video.size=null to code it "
                            "at its own size")
            frames = to_test_format(frames, size=opts["size"], num_frames=n, start=0, stride=stride)
        else:
            frames = frames[: (n - 1) * stride + 1 : stride]
    return np.ascontiguousarray(frames), clip.fps


class Stages:
    """A command's stages: a tqdm bar (one step per stage, named while it runs; only on a terminal) and
    seconds per stage."""

    def __init__(self, names: list[str], enabled: bool = True, desc: str = "") -> None:
        from tqdm.auto import tqdm

        self.timings: dict[str, float] = {}
        self._bar = tqdm(total=len(names), desc=desc, unit="stage", disable=None if enabled else True, leave=False,
                         bar_format="{desc}: {n_fmt}/{total_fmt} stages [{elapsed}]{postfix}")
        self._t0 = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._bar.set_postfix_str(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - t0
            self._bar.update()

    def close(self) -> dict[str, float]:
        """Seconds per stage and ``total`` (since the command started)."""
        self._bar.close()
        return {**self.timings, "total": time.perf_counter() - self._t0}


def psnr_summary(original: np.ndarray, decoded: np.ndarray) -> dict[str, Any]:
    """PSNR of a decoded video in dB, with its definition (:data:`PSNR_DEFINITION`)."""
    from dynamics_codec.metrics.psnr import psnr_per_frame

    p = psnr_per_frame(original, decoded)

    def mean(values: np.ndarray) -> float | None:
        finite = values[np.isfinite(values)]
        return float(np.mean(finite)) if finite.size else None

    return {"definition": PSNR_DEFINITION, "all_frames_db": mean(p), "inter_frames_db": mean(p[1:]),
            "key_frame_db": mean(p[:1]), "per_frame_db": [float(v) if np.isfinite(v) else None for v in p]}


def format_psnr(psnr: dict[str, Any]) -> str:
    f = lambda v: "n/a" if v is None else f"{v:.2f} dB"  # noqa: E731
    return (f"PSNR (RGB, mean of per-frame values): all frames {f(psnr['all_frames_db'])}, inter frames "
            f"{f(psnr['inter_frames_db'])}, key frame {f(psnr['key_frame_db'])}")


def _checked_output(cfg: DictConfig, hint: str, inputs: list[str]) -> tuple[str, bool]:
    """``output`` and ``overwrite``, refused early if writing there could destroy something
    (see :func:`dynamics_codec.utils.files.check_output_path`)."""
    output = _require(cfg, "output", hint)
    overwrite = bool(cfg.get("overwrite", False))
    from dynamics_codec.utils.files import check_output_path

    check_output_path(output, overwrite=overwrite, inputs=inputs)
    check_output_path(summary_path(output), overwrite=overwrite, inputs=inputs)  # the JSON summary beside it
    return output, overwrite


def validate_encode_config(cfg: DictConfig) -> tuple[str, bool]:
    """Everything ``encode.py`` can check before reading the video; returns (output, overwrite)."""
    from dynamics_codec.codec import build_keyframe_codec, build_token_coding
    from dynamics_codec.utils.config import check_device

    path = _require(cfg, "input", "pass input=<video file, .y4m, .yuv or PNG folder>")
    output = _require(cfg, "output", "pass output=<file.dcv>")
    if Path(output).suffix.lower() != ".dcv":
        raise ConfigError(f"output={output}: encode.py writes a .dcv stream; pass output=<name>.dcv")
    if not Path(path).exists():
        raise InputError(f"input={path}: no such file or folder")
    result = _checked_output(cfg, "pass output=<file.dcv>", [path])
    check_device(cfg.get("device", "cpu"))
    codec, qp = build_keyframe_codec(cfg)
    lo, hi = codec.qp_range
    if not lo <= qp <= hi:
        raise ConfigError(f"keyframe.qp={qp} is outside {codec.name}'s range {lo}..{hi}; pass keyframe.qp=<{lo}..{hi}>")
    try:
        build_token_coding(cfg)
    except ConfigError as err:
        raise ConfigError(f"entropy: {err} (the quantisation step: e.g. entropy.step=0.1)") from err
    _video_options(cfg)
    return result


def warn_if_motion_was_quantised_away(result: EncodeResult, step: float) -> None:
    """Say so when ``entropy.step`` is so coarse that every token quantises to zero."""
    if result.tokens.size and float(np.abs(result.tokens).max()) < step / 2:
        largest = float(np.abs(result.tokens).max())
        log.warning(f"entropy.step={step:g} quantises every token to zero (largest |token| {largest:.3g} < step/2): "
                    f"the stream carries no motion; use a step well below {2 * largest:.3g}, e.g. entropy.step=0.1")


def kbps_per_part(bits: dict[str, int], num_frames: int, fps: float) -> dict[str, float]:
    seconds = num_frames / fps
    return {part: value / seconds / 1000 for part, value in bits.items()}


def format_bits_report(bits: dict[str, int], num_frames: int, fps: float) -> str:
    kbps = kbps_per_part(bits, num_frames, fps)
    lines = [f"{'part':<10}{'bytes':>9}{'bits':>10}{'kbps':>9}"]
    for part in ("header", "keyframe", "motion", "total"):
        lines.append(f"{part:<10}{bits[part] // 8:>9}{bits[part]:>10}{kbps[part]:>9.2f}")
    return "\n".join(lines)


def _motion_stats(result: EncodeResult) -> dict[str, float]:
    t_inter = max(result.num_frames - 1, 1)
    v, n = result.tokens.shape[1:] if result.tokens.ndim == 3 else (0, 0)
    motion = result.bits["motion"]
    return {"inter_frames": result.num_frames - 1, "active_frames": int(result.active.sum()),
            "vectors": int(v), "values": int(n),
            "bits_per_frame": motion / t_inter, "bits_per_token": motion / max(t_inter * v * n, 1),
            "ideal_bits": float(result.ideal_motion_bits),
            "coder_overhead_percent": 100.0 * (motion - result.ideal_motion_bits) / max(result.ideal_motion_bits, 1.0),
            "points_per_frame": float(result.points_per_frame)}


def format_encode_report(result: EncodeResult, model_description: str) -> str:
    m = _motion_stats(result)
    return "\n".join(
        [
            format_bits_report(result.bits, result.num_frames, result.fps),
            f"motion: {m['active_frames']} of {m['inter_frames']} inter frames sent with motion "
            f"({m['vectors']}x{m['values']} tokens), {m['bits_per_frame']:.1f} bits/frame, "
            f"{m['bits_per_token']:.3f} bits/token; coder vs ideal adaptive code length {m['ideal_bits']:.0f} bits "
            f"({m['coder_overhead_percent']:+.1f} %)"
            + (f"; {m['points_per_frame']:.1f} motion points/frame" if m["points_per_frame"] else ""),
            f"weights: {model_description}",
            "time [s]: " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()),
        ]
    )


def summary_path(output: str | Path) -> Path:
    """Where a command's JSON summary goes: ``<output>.json`` (a folder output: ``<folder>.json``)."""
    out = Path(output)
    return out.with_name(out.name + ".json")


def write_summary(output: str | Path, summary: dict[str, Any], overwrite: bool = True) -> Path:
    from dynamics_codec.utils.files import atomic_write_text

    path = summary_path(output)
    record = {**summary, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n", overwrite=overwrite)
    return path


def _video_record(num_frames: int, height: int, width: int, fps: float) -> dict[str, Any]:
    return {"frames": int(num_frames), "height": int(height), "width": int(width), "fps": float(fps)}


_imports_frozen = False


def freeze_imported_objects() -> None:
    """Move every object that exists now -- mostly what the imports created: torch's modules,
    functions and types, which live until the process ends -- out of the cyclic garbage
    collector's generations (:func:`gc.freeze`). The collector then no longer traverses them during
    the command or at exit (about 0.4 s of a command's wall time on 2 cores, most of it at exit);
    objects created later are collected as usual. Once per process: the jobs of a multirun that
    follow the first keep their garbage collectable."""
    global _imports_frozen
    if _imports_frozen:
        return
    import gc

    gc.freeze()
    _imports_frozen = True


def encode_command(cfg: DictConfig) -> EncodeResult:
    from dynamics_codec.bitstream import write_stream_file
    from dynamics_codec.codec import build_encoder, build_stream_decoder, build_token_coding
    from dynamics_codec.rate_control import with_target_rate

    freeze_imported_objects()

    output, overwrite = validate_encode_config(cfg)
    quality = bool(cfg.get("report_quality", False))
    stages = Stages(["read", "model", "encode", "write"] + (["quality"] if quality else []),
                    enabled=bool(cfg.get("progress", True)), desc="encode")
    with stages("read"):
        frames, fps = read_input_video(cfg)
    with stages("model"):
        encoder = build_encoder(cfg)
    with stages("encode"):
        # rate.target_kbps: the keyframe.qp and entropy.step that land there, and the search's stream at them
        cfg, result = with_target_rate(cfg, frames, fps, model=encoder.model)
        if result is None:
            result = encoder.encode(frames, fps)
    warn_if_motion_was_quantised_away(result, build_token_coding(cfg).step)
    with stages("write"):
        write_stream_file(output, result.bitstream, overwrite=overwrite)
    psnr = None
    if quality:
        with stages("quality"):
            decoded = build_stream_decoder(cfg, model=encoder.model).decode(result.bitstream)
            psnr = psnr_summary(frames, decoded.frames)
    timings = stages.close()
    summary = {
        "command": "encode", "input": str(cfg.input), "output": output,
        "video": _video_record(*frames.shape[:3], fps=result.fps), "weights": encoder.model.describe(),
        "keyframe": {"codec": str(cfg.keyframe.name), "qp": int(result.keyframe_qp),
                     "configured_qp": int(cfg.keyframe.qp)},
        "token_step": float(cfg.entropy.step),
        "bits": dict(result.bits), "kbps": kbps_per_part(result.bits, result.num_frames, result.fps),
        "motion": _motion_stats(result), "psnr": psnr,
        "timings_s": {**timings, "encode_stages": result.timings,
                      **({"decode_stages": decoded.timings} if quality else {})},
    }
    path = write_summary(output, summary, overwrite=overwrite)
    log.info(f"{cfg.input} -> {output}: {frames.shape[2]}x{frames.shape[1]}, {frames.shape[0]} frames @ {fps:g} fps")
    log.info(format_encode_report(result, encoder.model.describe()))
    if psnr is not None:
        log.info(format_psnr(psnr))
    log.info(f"summary: {path} ({timings['total']:.2f} s)")
    return result


def validate_decode_config(cfg: DictConfig) -> tuple[str, str, bool]:
    """Everything ``decode.py`` can check before decoding; returns (input, output, overwrite)."""
    from dynamics_codec.codec import build_decode_limits
    from dynamics_codec.io.video import check_output_suffix
    from dynamics_codec.utils.config import check_device

    path = _require(cfg, "input", "pass input=<file.dcv>")
    hint = "pass output=<video.mp4 | video.mkv | .y4m | .yuv | png folder>"
    output = _require(cfg, "output", hint)
    if not Path(path).is_file():
        raise InputError(f"input={path}: no such file; pass input=<file.dcv> (a stream written by scripts/encode.py)")
    check_output_suffix(output)
    output, overwrite = _checked_output(cfg, hint, [path])
    check_device(cfg.get("device", "cpu"))
    build_decode_limits(cfg)
    return path, output, overwrite


def decode_command(cfg: DictConfig) -> DecodedFrames:
    """Decode ``input`` to ``output``, writing frames as they are rendered (memory does not grow
    with the number of frames)."""
    from dynamics_codec.bitstream import read_stream_file
    from dynamics_codec.codec import build_stream_decoder
    from dynamics_codec.io import write_video

    freeze_imported_objects()
    path, output, overwrite = validate_decode_config(cfg)
    stages = Stages(["read", "model", "decode and write"], enabled=bool(cfg.get("progress", True)), desc="decode")
    with stages("read"):
        data = read_stream_file(path)
    with stages("model"):
        decoder = build_stream_decoder(cfg)
    with stages("decode and write"):
        result = decoder.decode_chunks(data)
        write_video(result, output, result.fps, overwrite=overwrite)
    timings = stages.close()
    h = result.header
    summary = {
        "command": "decode", "input": path, "output": output, "decoder": str(cfg.decoder.name),
        "video": _video_record(h.frames, h.height, h.width, result.fps), "weights": decoder.model.describe(),
        "bits": dict(result.bits), "kbps": kbps_per_part(result.bits, h.frames, result.fps),
        "timings_s": {**timings, "decode_stages": result.timings},
    }
    summary_file = write_summary(output, summary, overwrite=overwrite)
    log.info(f"{path} -> {output}: {h.width}x{h.height}, {h.frames} frames @ {result.fps:g} fps, "
             f"decoder={cfg.decoder.name}")
    log.info(format_bits_report(result.bits, h.frames, result.fps))
    log.info(f"weights: {decoder.model.describe()}")
    log.info("time [s]: " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()))
    log.info(f"summary: {summary_file} ({timings['total']:.2f} s)")
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
    from dynamics_codec.metrics.psnr import psnr_per_frame

    for qp in qps:  # fine to coarse
        payload = codec.encode(frames[0], qp)
        if 8 * len(payload) <= budget_bits:
            key = codec.decode(payload)
            p = psnr_per_frame(frames, np.repeat(key[None], len(frames), axis=0))
            return {"qp": qp, "bits": 8 * len(payload), "psnr_inter_frames_db": float(np.mean(p[1:])) if len(p) > 1 else float("nan")}
    return {"qp": None, "bits": None, "psnr_inter_frames_db": float("nan")}


#: what the demo writes into its ``output_dir`` (a folder holding only these is the demo's own)
DEMO_FILES = ("demo.dcv", "reconstruction.mkv", "reconstruction.mp4", "side_by_side.mp4", "motion.png", "summary.json")


def demo_command(cfg: DictConfig) -> dict:
    """Encode and decode a synthetic clip; report bits, kbps and PSNR; write outputs."""
    from dynamics_codec.bitstream import read_stream_file, write_stream_file
    from dynamics_codec.codec import build_encoder, build_stream_decoder, load_motion_model
    from dynamics_codec.data import make_synthetic_clip
    from dynamics_codec.io import write_video
    from dynamics_codec.utils.files import atomic_write_text, prepare_output_folder

    c = cfg.clip
    clip = make_synthetic_clip(
        str(c.image), size=int(c.size), num_frames=int(c.num_frames), fps=float(c.fps),
        max_displacement=float(c.max_displacement), rng=np.random.default_rng(int(c.seed)),
    )
    out_dir = prepare_output_folder(cfg.output_dir, overwrite=bool(cfg.get("overwrite", False)), key="output_dir",
                                    own_names=DEMO_FILES)
    model = load_motion_model(cfg)
    encoder = build_encoder(cfg, model=model)
    result = encoder.encode(clip.frames, clip.fps)
    stream_path = out_dir / "demo.dcv"
    write_stream_file(stream_path, result.bitstream)
    decoded = build_stream_decoder(cfg, model=model).decode(read_stream_file(stream_path), keep_flow=True)

    original, recon = clip.frames, decoded.frames
    zero_motion = np.repeat(recon[:1], len(recon), axis=0)  # our key frame repeated (fewer bits: no motion)
    psnr, psnr_zero = psnr_summary(original, recon), psnr_summary(original, zero_motion)
    lo, hi = encoder.keyframe_codec.qp_range
    same_bits = zero_motion_at_bits(encoder.keyframe_codec, original, result.bits["total"],
                                    range(max(lo, int(cfg.keyframe.qp) - 12), hi + 1))

    write_video(recon, out_dir / "reconstruction.mkv", clip.fps)
    write_video(recon, out_dir / "reconstruction.mp4", clip.fps)
    write_video(side_by_side(original, recon), out_dir / "side_by_side.mp4", clip.fps)
    if decoded.flow is not None:
        write_flow_figure(out_dir / "motion.png", original, recon, clip.flow[1:], decoded.flow.numpy())

    nan_to_none = lambda v: None if v is None or not np.isfinite(v) else float(v)  # noqa: E731
    summary = {
        "clip": {"image": str(c.image), "size": int(c.size), "frames": int(c.num_frames), "fps": clip.fps},
        "weights": model.describe(),
        "bits": result.bits,
        "kbps": result.kbps,
        "keyframe": {"codec": str(cfg.keyframe.name), "qp": int(result.keyframe_qp),
                     "configured_qp": int(cfg.keyframe.qp)},
        "token_step": float(cfg.entropy.step),
        "psnr": psnr,
        "psnr_inter_frames_db": psnr["inter_frames_db"],
        "psnr_key_frame_db": psnr["key_frame_db"],
        "psnr_zero_motion_inter_frames_db": psnr_zero["inter_frames_db"],
        "zero_motion_same_bits": {**same_bits, "psnr_inter_frames_db": nan_to_none(same_bits["psnr_inter_frames_db"])},
        "timings_s": {"encode": result.timings, "decode": decoded.timings},
    }
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")

    f = lambda v: "n/a" if v is None or not np.isfinite(v) else f"{v:.2f} dB"  # noqa: E731
    log.info(f"Dynamics-Codec demo: synthetic '{c.image}' clip, {c.size}x{c.size}, {c.num_frames} frames @ {clip.fps:g} fps")
    log.info(format_encode_report(result, model.describe()))
    log.info(format_psnr(psnr))
    log.info(f"zero-motion decoder (key frame repeated), PSNR of the inter frames: {f(psnr_zero['inter_frames_db'])} with "
             f"our key frame; {f(same_bits['psnr_inter_frames_db'])} at the same bits (key frame alone at QP "
             f"{same_bits['qp']}, {same_bits['bits']} bits <= our {result.bits['total']})")
    if "untrained" in model.describe():
        log.info("NOTE: these are untrained motion-model weights (no trained checkpoint given), so the decoded "
                 "motion is not meaningful yet; pass model.checkpoint=<folder> for a trained model.")
    log.info(f"wrote {stream_path}, {out_dir / 'reconstruction.mkv'} (lossless), {out_dir / 'reconstruction.mp4'}, "
             f"{out_dir / 'side_by_side.mp4'} (original | decoded), {out_dir / 'motion.png'} (true vs decoded motion), "
             f"{out_dir / 'summary.json'}")
    return summary
