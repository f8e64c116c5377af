"""VTM anchors: command line and I/O through stand-in binaries; the real VTM when it is installed."""

import stat
import sys
import textwrap

import numpy as np
import pytest

from dynamics_codec.anchors import AnchorCache, VtmAnchor, build_anchor, encode_one, video_to_yuv420, yuv420_to_video
from dynamics_codec.errors import ConfigError, ExternalToolError
from dynamics_codec.keyframe import find_vtm_tools
from dynamics_codec.metrics import psnr_per_frame

# A fake EncoderAppStatic that "codes" the input losslessly (copies it) and prints a version line,
# and a fake DecoderAppStatic that copies it back: the anchor's plumbing without VTM.
FAKE_ENCODER = textwrap.dedent(f"""\
    #!{sys.executable}
    import sys, shutil
    a = sys.argv
    shutil.copy(a[a.index("-i") + 1], a[a.index("-b") + 1])
    open("args.txt", "w").write(" ".join(a[1:]))
    print("VTM Encoder Version 22.2 [Linux][GCC][64 bit]")
""")
FAKE_DECODER = textwrap.dedent(f"""\
    #!{sys.executable}
    import sys, shutil
    a = sys.argv
    shutil.copy(a[a.index("-b") + 1], a[a.index("-o") + 1])
""")


@pytest.fixture
def fake_vtm(tmp_path):
    bin_dir, cfg_dir = tmp_path / "bin", tmp_path / "cfg"
    bin_dir.mkdir(), cfg_dir.mkdir()
    for name, text in (("EncoderAppStatic", FAKE_ENCODER), ("DecoderAppStatic", FAKE_DECODER)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (cfg_dir / "encoder_intra_vtm.cfg").write_text("IntraPeriod : 1\n")
    (cfg_dir / "encoder_lowdelay_vtm.cfg").write_text("IntraPeriod : -1\n")
    return bin_dir, cfg_dir


def test_vtm_ldb_plumbing_with_stand_in_binaries(fake_vtm, tmp_path):
    bin_dir, cfg_dir = fake_vtm
    anchor = build_anchor("vtm_ldb", bin_dir=str(bin_dir), cfg_dir=str(cfg_dir))
    frames = np.random.default_rng(0).integers(0, 256, (3, 10, 14, 3), dtype=np.uint8)
    cmd = anchor.encoder_command(tmp_path / "i.yuv", tmp_path / "b.bin", 14, 10, 25.0, 3, 42)
    assert cmd[1:3] == ["-c", str(cfg_dir / "encoder_lowdelay_vtm.cfg")]
    assert {"-q", "42", "-f", "3", "-fr", "25", "--InputBitDepth=8", "--InternalBitDepth=10",
            "--ConformanceWindowMode=1"} <= set(cmd)
    point = encode_one(anchor, AnchorCache(tmp_path / "cache"), frames, 25.0, 42)
    yuv = video_to_yuv420(frames)
    assert point.bits == 8 * len(yuv.frame_bytes())  # the stand-in "stream" is the input itself
    np.testing.assert_array_equal(point.decoded_video(), yuv420_to_video(yuv, 10, 14))
    assert point.meta["reported_version"] == "22.2" and "sha256" in point.meta["version"]
    assert point.meta["settings"]["cfg"] == "encoder_lowdelay_vtm.cfg"
    # a changed cfg file is a different cache entry
    (cfg_dir / "encoder_lowdelay_vtm.cfg").write_text("IntraPeriod : -1\nQP : 1\n")
    again = encode_one(VtmAnchor(bin_dir=bin_dir, cfg_dir=cfg_dir), AnchorCache(tmp_path / "cache"), frames, 25.0, 42)
    assert not again.hit and again.meta["key"] != point.meta["key"]


def test_missing_binaries_and_cfg_are_explained(tmp_path, fake_vtm, monkeypatch):
    monkeypatch.delenv("VTM_BIN_DIR", raising=False)
    monkeypatch.delenv("VTM_CFG_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ExternalToolError, match="EncoderAppStatic"):
        VtmAnchor(bin_dir=tmp_path / "nowhere").version()
    bin_dir, cfg_dir = fake_vtm
    (cfg_dir / "encoder_lowdelay_vtm.cfg").unlink()
    with pytest.raises(ExternalToolError, match="encoder_lowdelay_vtm.cfg"):
        VtmAnchor(bin_dir=bin_dir, cfg_dir=cfg_dir).cfg_path
    with pytest.raises(ConfigError, match="vtm_ldb"):
        VtmAnchor(name="vtm_fast")


def _real_vtm_available() -> bool:
    try:
        find_vtm_tools()
        return True
    except ExternalToolError:
        return False


@pytest.mark.vtm
@pytest.mark.slow
@pytest.mark.skipif(not _real_vtm_available(), reason="VTM binaries not found (set VTM_BIN_DIR and VTM_CFG_DIR, "
                                                      "see third_party/README.md)")
def test_real_vtm_ldb(tmp_path):
    frames = np.random.default_rng(0).integers(60, 200, (3, 64, 64, 3), dtype=np.uint8)
    point = encode_one(VtmAnchor(), AnchorCache(tmp_path), frames, 25.0, 37)
    assert point.bits > 0 and point.meta["reported_version"]
    assert psnr_per_frame(frames, point.decoded_video()).mean() > 15
