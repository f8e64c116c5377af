"""Reading and writing videos as uint8 RGB ``[T, H, W, 3]`` arrays.

Readers: containers PyAV decodes (.mp4 .avi .mov .mkv .webm), ``.y4m`` (parsed here), raw
planar 8-bit 4:2:0 ``.yuv`` (needs ``size=(W, H)`` and ``fps``), and a folder of PNGs
(natural sort order). Y'CbCr <-> RGB for .y4m, .yuv and our own .mp4 files goes through
:mod:`dynamics_codec.io.color` (BT.709, limited range, centre-sited 4:2:0; a y4m tagged
``C420mpeg2`` / ``C420paldv`` is up-sampled as centre-sited too). Other containers' frames are
converted by libswscale with the colorspace they declare (see :mod:`.pyav_frames`).

Writers (all atomic: a failed or interrupted write leaves no partial file and keeps an existing
one; they take the whole array or an iterable of chunks, written as they come):
PNG folder and FFV1 .mkv (lossless, bit-exact), H.264 .mp4 (viewable, lossy), .y4m and
raw .yuv (4:2:0 through ``color``, the input format of the VTM anchor). :func:`write_video`
dispatches on the suffix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Union

import av
import cv2
import numpy as np

from dynamics_codec.errors import InputError
from dynamics_codec.io.color import rgb_to_yuv420, yuv420_to_rgb, yuv444_to_rgb
from dynamics_codec.io.pyav_frames import av_frame_to_rgb, rgb_to_bgr0_av_frame, yuv420_to_av_frame
from dynamics_codec.utils.files import atomic_output_path

__all__ = [
    "VideoClip",
    "CONTAINER_SUFFIXES",
    "DEFAULT_FOLDER_FPS",
    "read_video",
    "write_video",
    "check_output_suffix",
    "OUTPUT_SUFFIXES",
    "write_png_folder",
    "write_ffv1",
    "write_mp4",
    "write_y4m",
    "write_yuv420",
]

CONTAINER_SUFFIXES: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
DEFAULT_FOLDER_FPS: float = 25.0
_Y4M_MAGIC = b"YUV4MPEG2"
_Y4M_MAX_HEADER = 4096


@dataclass
class VideoClip:
    """Decoded frames: ``frames`` uint8 RGB ``[T, H, W, 3]``, ``fps`` frames per second, ``source`` path."""

    frames: np.ndarray
    fps: float
    source: str

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)`` in pixels."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


# ----------------------------------------------------------------------------------------------
# helpers


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as an exact rational (29.97 -> 30000/1001); InputError unless positive and finite."""
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive finite number, found {fps!r}")
    return Fraction(fps).limit_denominator(1001)


def _check_frames(frames: np.ndarray, *, even: bool = False, what: str = "frames") -> np.ndarray:
    """Validate uint8 RGB ``[T, H, W, 3]`` with T >= 1 (and even H, W if ``even``)."""
    if not isinstance(frames, np.ndarray):
        raise InputError(f"{what} must be a numpy uint8 array [T,H,W,3], found {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise InputError(f"{what} must be uint8 RGB [T,H,W,3], found dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"{what} must have shape [T,H,W,3], found {frames.shape}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise InputError(f"{what} must hold at least one non-empty frame, found shape {frames.shape}")
    if even and (frames.shape[1] % 2 or frames.shape[2] % 2):
        raise InputError(f"{what} must have even height and width for 4:2:0, found "
                         f"{frames.shape[1]}x{frames.shape[2]} (HxW); crop or pad first")
    return np.ascontiguousarray(frames)


def _check_range(start: int, max_frames: int | None) -> None:
    if start < 0:
        raise InputError(f"start must be >= 0, found {start}")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"max_frames must be >= 1 or None, found {max_frames}")


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def _stack(frames: list[np.ndarray], path: Path, start: int) -> np.ndarray:
    if not frames:
        where = f" from frame {start} on" if start else ""
        raise InputError(f"{path}: no frames could be read{where}; the video is empty or shorter than start={start}")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError(f"{path}: frames differ in size ({sorted(shapes)}); expected one size for the whole video")
    return np.stack(frames, axis=0)


def _check_size(path: Path, size: tuple[int, int] | None, frames: np.ndarray) -> None:
    if size is not None and (int(size[0]), int(size[1])) != (frames.shape[2], frames.shape[1]):
        raise InputError(f"{path}: size={tuple(size)} (W,H) was given but the file holds "
                         f"{frames.shape[2]}x{frames.shape[1]} frames; `size` is only needed for raw .yuv "
                         "(use dynamics_codec.io.to_test_format to resize)")


# ----------------------------------------------------------------------------------------------
# readers


def read_video(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    start: int = 0,
    max_frames: int | None = None,
) -> VideoClip:
    """Read a video as uint8 RGB ``[T, H, W, 3]``.

    Args:
        path: a container file (.mp4 .avi .mov .mkv .webm), ``.y4m``, raw 8-bit 4:2:0 ``.yuv``,
            or a folder of ``.png`` files (natural sort order: ``f2.png`` before ``f10.png``).
        size: ``(W, H)``; required for raw ``.yuv``. For other sources it is checked against
            the file (InputError on mismatch); it never resizes.
        fps: required for raw ``.yuv``; for a PNG folder defaults to 25. For containers and
            ``.y4m`` it replaces the declared rate in the result (frames are not resampled).
        start: index of the first frame returned (earlier frames are skipped, not kept).
        max_frames: return at most this many frames (decoding stops there).

    Raises:
        InputError: missing path, unknown extension, undecodable data, zero frames, ...
    """
    p = Path(path)
    _check_range(start, max_frames)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        frames = _read_png_folder(p, start, max_frames)
        rate = DEFAULT_FOLDER_FPS if fps is None else float(fps_fraction(fps))
        _check_size(p, size, frames)
        return VideoClip(frames=frames, fps=rate, source=str(p))
    suffix = p.suffix.lower()
    if suffix == ".yuv":
        frames = _read_raw_yuv(p, size, fps, start, max_frames)
        return VideoClip(frames=frames, fps=float(fps), source=str(p))  # type: ignore[arg-type]
    if suffix == ".y4m":
        frames, rate = _read_y4m(p, start, max_frames)
    elif suffix in CONTAINER_SUFFIXES:
        frames, rate = _read_container(p, start, max_frames)
    else:
        raise InputError(f"{p}: unknown video extension {p.suffix!r}; expected a folder of PNGs, .y4m, .yuv or "
                         f"one of {sorted(CONTAINER_SUFFIXES)}")
    _check_size(p, size, frames)
    if fps is not None:
        rate = float(fps_fraction(fps))
    return VideoClip(frames=frames, fps=rate, source=str(p))


def _read_png_folder(folder: Path, start: int, max_frames: int | None) -> np.ndarray:
    files = sorted((f for f in folder.iterdir() if f.suffix.lower() == ".png" and f.is_file()),
                   key=lambda f: _natural_key(f.name))
    if not files:
        raise InputError(f"{folder}: folder holds no .png files; expected a PNG sequence")
    stop = None if max_frames is None else start + max_frames
    frames = []
    for f in files[start:stop]:
        img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise InputError(f"{f}: not a readable PNG image")
        if img.dtype != np.uint8:
            raise InputError(f"{f}: expected 8-bit PNG, found {img.dtype}; convert the sequence to 8 bits")
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        frames.append(img)
    return _stack(frames, folder, start)


def _read_raw_yuv(path: Path, size: tuple[int, int] | None, fps: float | None, start: int,
                  max_frames: int | None) -> np.ndarray:
    if size is None or fps is None:
        raise InputError(f"{path}: raw .yuv has no header; pass its frame size and rate: video.yuv_size=[W,H] "
                         f"video.fps=<fps> on a script's command line, size=(W, H) and fps= in Python "
                         f"(found size={size}, fps={fps})")
    fps_fraction(fps)
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise InputError(f"{path}: raw 4:2:0 .yuv needs positive even W and H, found size={tuple(size)}")
    frame_bytes = w * h * 3 // 2
    total = path.stat().st_size
    if total == 0 or total % frame_bytes:
        raise InputError(f"{path}: file size {total} bytes is not a positive multiple of one {w}x{h} 4:2:0 "
                         f"8-bit frame ({frame_bytes} bytes); check size=(W, H) and that the file is 8-bit 4:2:0")
    count = total // frame_bytes - start
    if max_frames is not None:
        count = min(count, max_frames)
    if count <= 0:
        raise InputError(f"{path}: has {total // frame_bytes} frames, none left after start={start}")
    data = np.fromfile(path, dtype=np.uint8, count=count * frame_bytes, offset=start * frame_bytes)
    data = data.reshape(count, frame_bytes)
    ny, nc = w * h, (w // 2) * (h // 2)
    y = data[:, :ny].reshape(count, h, w)
    u = data[:, ny:ny + nc].reshape(count, h // 2, w // 2)
    v = data[:, ny + nc:].reshape(count, h // 2, w // 2)
    return yuv420_to_rgb(y, u, v)


def _parse_y4m_header(line: bytes, path: Path) -> dict:
    tokens = line.decode("ascii", errors="replace").split()
    if not tokens or tokens[0] != _Y4M_MAGIC.decode():
        raise InputError(f"{path}: not a YUV4MPEG2 file (header starts {line[:16]!r})")
    fields = {"C": "420jpeg", "F": "25:1", "X": []}
    for tok in tokens[1:]:
        key, val = tok[0], tok[1:]
        if key == "X":
            fields["X"].append(val)
        else:
            fields[key] = val
    try:
        w, h = int(fields["W"]), int(fields["H"])
        num, den = (int(x) for x in fields["F"].split(":"))
        rate = Fraction(num, den)
    except (KeyError, ValueError, ZeroDivisionError) as exc:
        raise InputError(f"{path}: malformed y4m header {line!r}: needs W<int> H<int> F<num>:<den>") from exc
    if w <= 0 or h <= 0 or rate <= 0:
        raise InputError(f"{path}: y4m header has non-positive size or rate: {line!r}")
    fields.update(W=w, H=h, rate=float(rate))
    return fields


def _read_y4m(path: Path, start: int, max_frames: int | None) -> tuple[np.ndarray, float]:
    with open(path, "rb") as f:
        header = f.readline(_Y4M_MAX_HEADER)
        if not header.endswith(b"\n"):
            raise InputError(f"{path}: y4m header missing or longer than {_Y4M_MAX_HEADER} bytes")
        hdr = _parse_y4m_header(header[:-1], path)
        w, h, chroma = hdr["W"], hdr["H"], hdr["C"]
        full_range = "COLORRANGE=FULL" in hdr["X"]
        if chroma in ("420jpeg", "420", "420mpeg2", "420paldv"):
            if w % 2 or h % 2:
                raise InputError(f"{path}: 4:2:0 y4m with odd size {w}x{h} is not supported")
            if full_range:
                raise InputError(f"{path}: full-range 4:2:0 y4m is not supported; expected limited (TV) range")
            plane_shapes = [(h, w), (h // 2, w // 2), (h // 2, w // 2)]
        elif chroma == "444":
            plane_shapes = [(h, w), (h, w), (h, w)]
        elif chroma == "mono":
            plane_shapes = [(h, w)]
        else:
            raise InputError(f"{path}: unsupported y4m chroma format C{chroma}; expected 420jpeg, 420, 420mpeg2, "
                             "420paldv, 444 or mono at 8 bits")
        frame_bytes = sum(a * b for a, b in plane_shapes)
        frames: list[np.ndarray] = []
        index = 0
        while max_frames is None or len(frames) < max_frames:
            marker = f.readline(_Y4M_MAX_HEADER)
            if not marker:
                break
            if not marker.startswith(b"FRAME"):
                raise InputError(f"{path}: frame {index}: expected a FRAME marker, found {marker[:16]!r}")
            if index < start:
                f.seek(frame_bytes, os.SEEK_CUR)
                index += 1
                continue
            data = f.read(frame_bytes)
            if len(data) != frame_bytes:
                raise InputError(f"{path}: frame {index} is truncated ({len(data)} of {frame_bytes} bytes)")
            flat = np.frombuffer(data, dtype=np.uint8)
            planes, offset = [], 0
            for shape in plane_shapes:
                n = shape[0] * shape[1]
                planes.append(flat[offset:offset + n].reshape(shape))
                offset += n
            if chroma == "mono":
                frames.append(np.repeat(planes[0][..., None], 3, axis=-1) if full_range else
                              yuv444_to_rgb(planes[0], np.full_like(planes[0], 128), np.full_like(planes[0], 128)))
            elif chroma == "444":
                frames.append(yuv444_to_rgb(*planes, full_range=full_range))
            else:
                frames.append(yuv420_to_rgb(*planes))
            index += 1
    return _stack(frames, path, start), hdr["rate"]


def _read_container(path: Path, start: int, max_frames: int | None) -> tuple[np.ndarray, float]:
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise InputError(f"{path}: the container has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            for index, frame in enumerate(container.decode(stream)):
                if index < start:
                    continue
                frames.append(av_frame_to_rgb(frame))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: cannot decode the video ({exc}); is it a valid video file?") from exc
    if not rate:
        raise InputError(f"{path}: the container declares no frame rate; pass fps=...")
    return _stack(frames, path, start), float(rate)


# ----------------------------------------------------------------------------------------------
# writers

#: What a writer takes: uint8 RGB ``[T, H, W, 3]``, or an iterable of such chunks (all of one size),
#: written as they come so that a long video never has to be in memory at once.
Frames = Union[np.ndarray, Iterable[np.ndarray]]


def _frame_chunks(frames: Frames, *, even: bool = False) -> tuple[tuple[int, int], Iterator[np.ndarray]]:
    """``((H, W), validated chunks)``; an array is checked at once, an iterable's first chunk now and
    the others as they come (InputError for a chunk of another size)."""
    chunks = iter([_check_frames(frames, even=even)] if isinstance(frames, np.ndarray) else frames)
    first = None
    for chunk in chunks:
        if not (isinstance(chunk, np.ndarray) and chunk.ndim == 4 and chunk.shape[0] == 0):
            first = _check_frames(chunk, even=even)
            break
    if first is None:
        raise InputError("no frames to write: a video needs at least one frame (every chunk was empty)")
    size = first.shape[1:3]

    def rest() -> Iterator[np.ndarray]:
        yield first
        for chunk in chunks:
            if isinstance(chunk, np.ndarray) and chunk.ndim == 4 and chunk.shape[0] == 0:
                continue
            chunk = _check_frames(chunk, even=even)
            if chunk.shape[1:3] != size:
                raise InputError(f"frame chunks differ in size: {chunk.shape[2]}x{chunk.shape[1]} after "
                                 f"{size[1]}x{size[0]}; a video has one frame size")
            yield chunk

    return (int(size[0]), int(size[1])), rest()


def write_png_folder(frames: Frames, folder: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write uint8 RGB ``[T,H,W,3]`` (or chunks of it) as ``folder/frame_00000.png ...`` (lossless);
    returns the folder. The folder is marked as this tool's output (see :mod:`dynamics_codec.utils.files`)."""
    _, chunks = _frame_chunks(frames)
    final = Path(folder)
    digits = max(5, len(str(frames.shape[0] - 1))) if isinstance(frames, np.ndarray) else 5
    with atomic_output_path(final, suffix="", overwrite=overwrite) as tmp:
        tmp.mkdir()
        i = 0
        for chunk in chunks:
            for rgb in chunk:
                name = tmp / f"frame_{i:0{digits}d}.png"
                if not cv2.imwrite(str(name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                    raise InputError(f"{final}: OpenCV could not write {name.name}")
                i += 1
    return final


def _encode_frames(path: Path, av_frames: Iterable[av.VideoFrame], codec: str, fps: float, pix_fmt: str,
                   width: int, height: int, options: dict[str, str], tags: dict[str, int] | None = None,
                   overwrite: bool = True) -> Path:
    rate = fps_fraction(fps)
    with atomic_output_path(path, overwrite=overwrite) as tmp:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=rate, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            for key, value in (tags or {}).items():
                setattr(stream.codec_context, key, value)
            for i, frame in enumerate(av_frames):
                frame.pts = i
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    return path


def write_ffv1(frames: Frames, path: str | os.PathLike, fps: float, *, overwrite: bool = True) -> Path:
    """Lossless FFV1 in Matroska (8-bit RGB ``bgr0``, no Y'CbCr step): reads back bit-exactly."""
    (h, w), chunks = _frame_chunks(frames)
    av_frames = (rgb_to_bgr0_av_frame(f) for chunk in chunks for f in chunk)
    return _encode_frames(Path(path), av_frames, "ffv1", fps, "bgr0", w, h, {}, overwrite=overwrite)


def write_mp4(frames: Frames, path: str | os.PathLike, fps: float, crf: int = 18,
              preset: str = "medium", *, overwrite: bool = True) -> Path:
    """Viewable H.264 ``yuv420p`` MP4 (lossy), RGB -> 4:2:0 through :mod:`color`, tagged BT.709 TV range."""
    (h, w), chunks = _frame_chunks(frames, even=True)
    if not 0 <= int(crf) <= 51:
        raise InputError(f"crf must be within 0..51, found {crf}")
    tags = {"colorspace": 1, "color_range": 1, "color_primaries": 1, "color_trc": 1}
    av_frames = (yuv420_to_av_frame(rgb_to_yuv420(f)) for chunk in chunks for f in chunk)
    return _encode_frames(Path(path), av_frames, "libx264", fps, "yuv420p", w, h,
                          {"crf": str(int(crf)), "preset": preset}, tags, overwrite=overwrite)


def write_y4m(frames: Frames, path: str | os.PathLike, fps: float, *, overwrite: bool = True) -> Path:
    """8-bit 4:2:0 YUV4MPEG2 (``C420jpeg``, limited range) through :mod:`color`."""
    (h, w), chunks = _frame_chunks(frames, even=True)
    rate = fps_fraction(fps)
    header = f"YUV4MPEG2 W{w} H{h} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n"
    with atomic_output_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(header.encode("ascii"))
            for chunk in chunks:
                for rgb in chunk:
                    f.write(b"FRAME\n")
                    f.write(rgb_to_yuv420(rgb).frame_bytes())
    return Path(path)


def write_yuv420(frames: Frames, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Raw planar 8-bit 4:2:0 (I420: Y, U, V per frame, no header) through :mod:`color`."""
    _, chunks = _frame_chunks(frames, even=True)
    with atomic_output_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                for rgb in chunk:
                    f.write(rgb_to_yuv420(rgb).frame_bytes())
    return Path(path)


#: suffix -> what :func:`write_video` writes ("" = a folder of PNGs)
OUTPUT_SUFFIXES: dict[str, str] = {"": "PNG folder", ".mkv": "FFV1 (lossless)", ".mp4": "H.264", ".y4m": "y4m",
                                   ".yuv": "raw 4:2:0"}


def check_output_suffix(path: str | os.PathLike) -> str:
    """The lower-case suffix of a video output; InputError naming the accepted ones otherwise."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{p}: cannot write extension {p.suffix!r}; use a folder (no suffix) for PNGs, "
                         ".mkv (FFV1, lossless), .mp4 (H.264), .y4m or .yuv")
    return suffix


def write_video(frames: Frames, path: str | os.PathLike, fps: float = DEFAULT_FOLDER_FPS, *,
                overwrite: bool = True) -> Path:
    """Write by suffix: none -> PNG folder, .mkv -> FFV1, .mp4 -> H.264, .y4m, .yuv.

    ``frames``: uint8 RGB ``[T,H,W,3]`` or an iterable of such chunks (written as they come).
    ``overwrite``: replace an existing file or own output folder (see :mod:`dynamics_codec.utils.files`).
    """
    p = Path(path)
    suffix = check_output_suffix(p)
    if suffix == "":
        return write_png_folder(frames, p, overwrite=overwrite)
    if suffix == ".mkv":
        return write_ffv1(frames, p, fps, overwrite=overwrite)
    if suffix == ".mp4":
        return write_mp4(frames, p, fps, overwrite=overwrite)
    if suffix == ".y4m":
        return write_y4m(frames, p, fps, overwrite=overwrite)
    return write_yuv420(frames, p, overwrite=overwrite)
