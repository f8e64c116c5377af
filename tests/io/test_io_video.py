"""Video readers and atomic writers: exact round trips, colour-bound round trips, errors, atomicity."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import dynamics_codec.io.video as video_mod
from dynamics_codec.errors import InputError
from dynamics_codec.io import (
    VideoClip,
    read_video,
    rgb_to_yuv420,
    write_ffv1,
    write_mp4,
    write_png_folder,
    write_video,
    write_y4m,
    write_yuv420,
    yuv420_to_rgb,
)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture()
def noise_video() -> np.ndarray:
    """Worst case for lossy paths, exact for lossless ones: uint8 noise [4, 31, 45, 3] (odd size)."""
    return np.random.default_rng(7).integers(0, 256, (4, 31, 45, 3), dtype=np.uint8)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# ------------------------------------------------------------------------------- lossless round trips


def test_png_folder_round_trip_is_exact(tmp_path, noise_video):
    out = write_png_folder(noise_video, tmp_path / "frames")
    names = sorted(p.name for p in out.iterdir())
    assert names[:3] == [".dynamics_codec_output", "frame_00000.png", "frame_00001.png"]  # marked as our output
    clip = read_video(out)
    assert isinstance(clip, VideoClip) and clip.fps == 25.0 and clip.source == str(out)
    assert np.array_equal(clip.frames, noise_video)
    assert np.array_equal(read_video(out, fps=10, start=1, max_frames=2).frames, noise_video[1:3])
    assert read_video(out, fps=10).fps == 10.0


def test_png_folder_uses_natural_order(tmp_path, noise_video):
    folder = tmp_path / "seq"
    folder.mkdir()
    names = ["f1.png", "f2.png", "f10.png", "f3.png"]  # lexicographic order would put f10 second
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), cv2.cvtColor(noise_video[i], cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("ignored")
    frames = read_video(folder).frames
    expected_order = [0, 1, 3, 2]  # f1, f2, f3, f10
    assert np.array_equal(frames, noise_video[expected_order])


def test_ffv1_round_trip_is_bit_exact(tmp_path, noise_video):
    path = write_ffv1(noise_video, tmp_path / "clip.mkv", fps=12.5)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        assert stream.codec_context.pix_fmt == "bgr0"
    clip = read_video(path)
    assert clip.frames.shape == noise_video.shape
    assert np.array_equal(clip.frames, noise_video)
    assert clip.fps == pytest.approx(12.5)


# ------------------------------------------------------------------------- through the colour module


def test_y4m_round_trip_equals_colour_round_trip(tmp_path, natural_video):
    path = write_y4m(natural_video, tmp_path / "clip.y4m", fps=30000 / 1001)
    header = path.read_bytes().split(b"\n", 1)[0].decode()
    assert header.split()[:4] == ["YUV4MPEG2", "W128", "H96", "F30000:1001"]
    assert "C420jpeg" in header.split()
    clip = read_video(path)
    assert clip.fps == pytest.approx(29.97, abs=1e-3)
    expected = yuv420_to_rgb(rgb_to_yuv420(natural_video))
    assert np.array_equal(clip.frames, expected)
    # and therefore within the colour module's bound on natural content
    assert np.abs(clip.frames.astype(int) - natural_video).reshape(-1, 3).mean(axis=0).max() < 2.5
    assert np.array_equal(read_video(path, start=2, max_frames=3).frames, expected[2:5])


def test_raw_yuv_round_trip_equals_colour_round_trip(tmp_path, natural_video):
    path = write_yuv420(natural_video, tmp_path / "clip.yuv")
    t, h, w, _ = natural_video.shape
    assert path.stat().st_size == t * h * w * 3 // 2
    clip = read_video(path, size=(w, h), fps=25)
    assert np.array_equal(clip.frames, yuv420_to_rgb(rgb_to_yuv420(natural_video)))
    assert clip.fps == 25.0
    assert np.array_equal(read_video(path, size=(w, h), fps=25, start=4).frames, clip.frames[4:])


def test_y4m_444_and_mono_are_read(tmp_path):
    h, w = 4, 6
    y, u, v = np.full((h, w), 235, np.uint8), np.full((h, w), 128, np.uint8), np.full((h, w), 128, np.uint8)
    p444 = tmp_path / "white444.y4m"
    p444.write_bytes(b"YUV4MPEG2 W6 H4 F25:1 C444\nFRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())
    assert np.all(read_video(p444).frames == 255)
    pmono = tmp_path / "mono.y4m"
    pmono.write_bytes(b"YUV4MPEG2 W6 H4 F25:1 Cmono\nFRAME\n" + np.full((h, w), 16, np.uint8).tobytes() * 1)
    assert np.all(read_video(pmono).frames == 0)


def test_mp4_round_trip_is_close_and_tagged_bt709(tmp_path, natural_video):
    path = write_mp4(natural_video, tmp_path / "clip.mp4", fps=25, crf=12)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert frame.format.name == "yuv420p"
        assert int(frame.colorspace) == 1 and int(frame.color_range) == 1  # BT.709, TV range
    clip = read_video(path)
    assert clip.frames.shape == natural_video.shape and clip.fps == 25.0
    # against the 4:2:0 reference (what the encoder was given) the only loss is H.264's
    assert psnr(clip.frames, yuv420_to_rgb(rgb_to_yuv420(natural_video))) > 38.0
    assert psnr(clip.frames, natural_video) > 30.0


@pytest.mark.parametrize("suffix", ["", ".mkv", ".mp4", ".y4m", ".yuv"])
def test_write_video_dispatches_on_suffix(tmp_path, natural_video, suffix):
    path = write_video(natural_video, tmp_path / f"out{suffix}", fps=25)
    t, h, w, _ = natural_video.shape
    clip = read_video(path, size=(w, h) if suffix == ".yuv" else None, fps=25 if suffix == ".yuv" else None)
    assert clip.frames.shape == natural_video.shape
    if suffix in ("", ".mkv"):
        assert np.array_equal(clip.frames, natural_video)
    elif suffix in (".y4m", ".yuv"):
        assert np.array_equal(clip.frames, yuv420_to_rgb(rgb_to_yuv420(natural_video)))
    else:
        assert psnr(clip.frames, natural_video) > 30.0


# --------------------------------------------------------------------------------------- real clip


def test_reads_the_shared_beach_clip(beach_clip_path):
    clip = read_video(beach_clip_path)
    assert clip.frames.shape == (50, 384, 384, 3) and clip.frames.dtype == np.uint8
    assert clip.fps == 25.0
    assert 40 < clip.frames.mean() < 220 and clip.frames.std() > 10  # real content, not a blank decode
    part = read_video(beach_clip_path, start=10, max_frames=5)
    assert np.array_equal(part.frames, clip.frames[10:15])


# ------------------------------------------------------------------------------------------ errors


def test_missing_and_unknown_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_video(tmp_path / "absent.mp4")
    odd = tmp_path / "clip.gif"
    odd.write_bytes(b"GIF89a")
    with pytest.raises(InputError, match="unknown video extension"):
        read_video(odd)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no .png files"):
        read_video(empty)


def test_undecodable_container(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    with pytest.raises(InputError, match="broken.mp4"):
        read_video(bad)


def test_zero_frames_and_start_past_the_end(tmp_path, natural_video):
    header_only = tmp_path / "empty.y4m"
    header_only.write_bytes(b"YUV4MPEG2 W8 H8 F25:1 C420jpeg\n")
    with pytest.raises(InputError, match="no frames"):
        read_video(header_only)
    path = write_ffv1(natural_video, tmp_path / "c.mkv", fps=25)
    with pytest.raises(InputError, match="start=99"):
        read_video(path, start=99)
    with pytest.raises(InputError, match="max_frames"):
        read_video(path, max_frames=0)


def test_raw_yuv_needs_size_fps_and_whole_frames(tmp_path):
    path = tmp_path / "clip.yuv"
    path.write_bytes(bytes(8 * 6 * 3 // 2 * 2 + 5))
    with pytest.raises(InputError, match="size=\\(W, H\\) and fps"):
        read_video(path)
    with pytest.raises(InputError, match="not a positive multiple"):
        read_video(path, size=(8, 6), fps=25)
    with pytest.raises(InputError, match="even"):
        read_video(path, size=(7, 6), fps=25)


def test_truncated_y4m_and_size_mismatch(tmp_path, natural_video):
    path = write_y4m(natural_video, tmp_path / "c.y4m", fps=25)
    data = path.read_bytes()
    cut = tmp_path / "cut.y4m"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError, match="truncated"):
        read_video(cut)
    with pytest.raises(InputError, match="size="):
        read_video(path, size=(64, 64))


@pytest.mark.parametrize(
    "frames,match",
    [
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8, 3), np.uint8), "shape"),
        (np.zeros((2, 8, 8, 4), np.uint8), "shape"),
        (np.zeros((0, 8, 8, 3), np.uint8), "at least one"),
        ([[0]], "numpy"),
    ],
)
def test_writers_reject_bad_frames(tmp_path, frames, match):
    with pytest.raises(InputError, match=match):
        write_video(frames, tmp_path / "x.mkv", fps=25)
    assert not (tmp_path / "x.mkv").exists()


def test_4to2to0_writers_need_even_size_and_unknown_suffix_fails(tmp_path, noise_video):
    for name in ("a.y4m", "a.yuv", "a.mp4"):
        with pytest.raises(InputError, match="even"):
            write_video(noise_video, tmp_path / name, fps=25)
    with pytest.raises(InputError, match="cannot write extension"):
        write_video(noise_video[:, :30, :44], tmp_path / "a.gif", fps=25)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------- atomicity


def _fail_on_call(n: int, real):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError("simulated failure in the middle of a write")
        return real(*args, **kwargs)

    return wrapper


def test_failed_file_write_keeps_existing_file_and_leaves_nothing(tmp_path, natural_video, monkeypatch):
    target = tmp_path / "clip.y4m"
    write_y4m(natural_video, target, fps=25)
    before = target.read_bytes()
    monkeypatch.setattr(video_mod, "rgb_to_yuv420", _fail_on_call(3, video_mod.rgb_to_yuv420))
    with pytest.raises(RuntimeError, match="simulated"):
        write_y4m(natural_video[::-1].copy(), target, fps=25)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []
    fresh = tmp_path / "new.yuv"
    monkeypatch.setattr(video_mod, "rgb_to_yuv420", _fail_on_call(2, rgb_to_yuv420))
    with pytest.raises(RuntimeError):
        write_yuv420(natural_video, fresh)
    assert not fresh.exists() and leftovers(tmp_path) == []


def test_failed_ffv1_write_leaves_no_file(tmp_path, noise_video, monkeypatch):
    target = tmp_path / "clip.mkv"
    monkeypatch.setattr(video_mod, "rgb_to_bgr0_av_frame", _fail_on_call(3, video_mod.rgb_to_bgr0_av_frame))
    with pytest.raises(RuntimeError, match="simulated"):
        write_ffv1(noise_video, target, fps=25)
    assert list(tmp_path.iterdir()) == []


def test_failed_png_folder_write_keeps_existing_folder(tmp_path, noise_video, monkeypatch):
    folder = tmp_path / "frames"
    write_png_folder(noise_video, folder)
    monkeypatch.setattr(video_mod.cv2, "imwrite", _fail_on_call(2, cv2.imwrite))
    with pytest.raises(RuntimeError, match="simulated"):
        write_png_folder(noise_video[:2], folder)
    monkeypatch.undo()
    assert np.array_equal(read_video(folder).frames, noise_video)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
