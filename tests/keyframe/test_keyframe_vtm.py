"""VTM key frames: command line, binary lookup and error paths (no VTM needed), real runs when present."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dynamics_codec.errors import BitstreamError, ExternalToolError
from dynamics_codec.io import rgb_to_yuv420, yuv420_to_rgb
from dynamics_codec.keyframe import VtmKeyframeCodec, VtmTools, decode_keyframe, find_vtm_tools, unpack_payload


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture()
def no_vtm_env(monkeypatch, tmp_path):
    """No VTM anywhere: env vars unset and $PATH pointing at an empty folder."""
    empty = tmp_path / "empty_path"
    empty.mkdir()
    monkeypatch.delenv("VTM_BIN_DIR", raising=False)
    monkeypatch.delenv("VTM_CFG_DIR", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path


# A stand-in for the VTM programs: the "bitstream" is the 4:2:0 input itself behind a magic
# word, so the round trip must equal the colour round trip exactly when our plumbing is right.
FAKE_ENCODER = """\
    import sys, time
    args = sys.argv[1:]
    opt = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-") and not args[i].startswith("--")}
    long = dict(a[2:].split("=", 1) for a in args if a.startswith("--"))
    print("VVCSoftware: VTM Encoder Version 22.2 [Linux][GCC 12][64 bit] [SIMD=AVX2]")
    print("ARGS", " ".join(args))
    mode = open(opt["-c"]).read().strip()
    if mode == "fail":
        print("ERROR: In function \\"xCheckParameter\\": something the test asked for", file=sys.stderr)
        sys.exit(3)
    if mode == "hang":
        time.sleep(30)
    w, h = int(opt["-wdt"]), int(opt["-hgt"])
    assert opt["-f"] == "1" and long["InputBitDepth"] == "8" and long["OutputBitDepth"] == "8"
    data = open(opt["-i"], "rb").read()
    assert len(data) == w * h * 3 // 2, (len(data), w, h)
    open(opt["-b"], "wb").write(b"FAKEVVC" + data)
"""

FAKE_DECODER = """\
    import sys
    args = sys.argv[1:]
    opt = {args[i]: args[i + 1] for i in range(0, len(args) - 1, 2)}
    data = open(opt["-b"], "rb").read()
    if not data.startswith(b"FAKEVVC"):
        print("ERROR: bitstream does not start with a valid NAL unit", file=sys.stderr)
        sys.exit(1)
    assert opt["-d"] == "8"
    open(opt["-o"], "wb").write(data[7:])
"""


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture()
def fake_vtm(tmp_path):
    """A VTM-like tree: tree/bin/{EncoderAppStatic,DecoderAppStatic}, tree/cfg/encoder_intra_vtm.cfg."""
    tree = tmp_path / "VVCSoftware_VTM"
    (tree / "bin").mkdir(parents=True)
    (tree / "cfg").mkdir()
    _script(tree / "bin" / "EncoderAppStatic", FAKE_ENCODER)
    _script(tree / "bin" / "DecoderAppStatic", FAKE_DECODER)
    (tree / "cfg" / "encoder_intra_vtm.cfg").write_text("ok\n")
    return tree


def test_encoder_command_line():
    codec = VtmKeyframeCodec(internal_bit_depth=10, extra_args=["--Level=6.2"])
    tools = VtmTools(encoder=Path("/opt/vtm/bin/EncoderAppStatic"), decoder=Path("/opt/vtm/bin/DecoderAppStatic"),
                     intra_cfg=Path("/opt/vtm/cfg/encoder_intra_vtm.cfg"))
    cmd = codec.encoder_command(tools, Path("in.yuv"), Path("out.bin"), 384, 256, 37)
    assert cmd[0] == "/opt/vtm/bin/EncoderAppStatic"
    pairs = dict(zip(cmd[1::2], cmd[2::2]))
    assert pairs["-c"] == "/opt/vtm/cfg/encoder_intra_vtm.cfg"
    assert (pairs["-i"], pairs["-b"]) == ("in.yuv", "out.bin")
    assert (pairs["-wdt"], pairs["-hgt"], pairs["-q"], pairs["-f"]) == ("384", "256", "37", "1")
    for flag in ("--InputBitDepth=8", "--InternalBitDepth=10", "--OutputBitDepth=8", "--InputChromaFormat=420",
                 "--ConformanceWindowMode=1", "--TemporalSubsampleRatio=1"):
        assert flag in cmd
    assert cmd[-1] == "--Level=6.2"  # user extras come last so they override
    assert "-o" not in cmd  # no reconstruction file is written
    assert "--InternalBitDepth=8" in VtmKeyframeCodec(internal_bit_depth=8).encoder_command(
        tools, Path("a"), Path("b"), 8, 8, 32)
    dec = codec.decoder_command(tools, Path("s.bin"), Path("o.yuv"))
    assert dec == ["/opt/vtm/bin/DecoderAppStatic", "-b", "s.bin", "-o", "o.yuv", "-d", "8"]


def test_missing_binaries_say_where_and_how(no_vtm_env):
    bin_dir = no_vtm_env / "nowhere"
    codec = VtmKeyframeCodec(bin_dir=bin_dir)
    with pytest.raises(ExternalToolError) as info:
        codec.encode(np.zeros((16, 16, 3), np.uint8), 32)
    message = str(info.value)
    assert str(bin_dir / "EncoderAppStatic") in message
    assert "VTM_BIN_DIR" in message and "third_party/README.md" in message
    with pytest.raises(ExternalToolError, match="VTM_BIN_DIR"):
        find_vtm_tools()


def test_missing_cfg_is_reported(no_vtm_env, fake_vtm):
    (fake_vtm / "cfg" / "encoder_intra_vtm.cfg").unlink()
    with pytest.raises(ExternalToolError, match="encoder_intra_vtm.cfg") as info:
        find_vtm_tools(bin_dir=fake_vtm / "bin")
    assert "VTM_CFG_DIR" in str(info.value)


def test_lookup_order_argument_env_sibling_cfg(no_vtm_env, fake_vtm, monkeypatch, tmp_path):
    tools = find_vtm_tools(bin_dir=fake_vtm / "bin")  # cfg found in <bin>/../cfg
    assert tools.intra_cfg == fake_vtm / "cfg" / "encoder_intra_vtm.cfg"
    monkeypatch.setenv("VTM_BIN_DIR", str(fake_vtm / "bin"))
    other_cfg = tmp_path / "other_cfg"
    other_cfg.mkdir()
    (other_cfg / "encoder_intra_vtm.cfg").write_text("ok\n")
    monkeypatch.setenv("VTM_CFG_DIR", str(other_cfg))
    tools = find_vtm_tools()
    assert tools.encoder == fake_vtm / "bin" / "EncoderAppStatic" and tools.intra_cfg.parent == other_cfg


@pytest.mark.parametrize("shape", [(48, 64), (33, 51)])
def test_round_trip_through_fake_vtm_is_the_colour_round_trip(no_vtm_env, fake_vtm, shape):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    codec = VtmKeyframeCodec(bin_dir=fake_vtm / "bin")
    payload = codec.encode(img, 42)
    header, bitstream = unpack_payload(payload)
    assert (header.codec_id, header.width, header.height, header.qp) == (2, shape[1], shape[0], 42)
    assert bitstream.startswith(b"FAKEVVC")
    assert codec.encoder_version == "22.2"
    assert "-q 42" in codec.last_encoder_log
    out = decode_keyframe(payload, bin_dir=fake_vtm / "bin")
    h, w = shape
    padded = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    assert np.array_equal(out, yuv420_to_rgb(rgb_to_yuv420(padded))[:h, :w])


def test_encoder_failure_quotes_command_code_and_log(no_vtm_env, fake_vtm):
    (fake_vtm / "cfg" / "encoder_intra_vtm.cfg").write_text("fail\n")
    codec = VtmKeyframeCodec(bin_dir=fake_vtm / "bin")
    with pytest.raises(ExternalToolError) as info:
        codec.encode(np.zeros((16, 16, 3), np.uint8), 32)
    message = str(info.value)
    assert "return code 3" in message and "EncoderAppStatic" in message and "something the test asked for" in message


def test_encoder_timeout(no_vtm_env, fake_vtm):
    (fake_vtm / "cfg" / "encoder_intra_vtm.cfg").write_text("hang\n")
    codec = VtmKeyframeCodec(bin_dir=fake_vtm / "bin", timeout_s=1.0)
    with pytest.raises(ExternalToolError, match="timed out"):
        codec.encode(np.zeros((16, 16, 3), np.uint8), 32)


def test_decoder_rejection_is_a_bitstream_error(no_vtm_env, fake_vtm):
    from dynamics_codec.keyframe import KeyframeHeader, pack_payload

    payload = pack_payload(KeyframeHeader(codec_id=2, width=16, height=16, qp=32), b"\x00\x00\x01garbage")
    with pytest.raises(BitstreamError, match="valid NAL unit"):
        decode_keyframe(payload, bin_dir=fake_vtm / "bin")


# ------------------------------------------------------------------------------------ real VTM


@pytest.fixture(scope="module")
def real_vtm():
    try:
        return find_vtm_tools()
    except ExternalToolError as exc:
        looked = " ".join(line.strip() for line in str(exc).splitlines()[:3])
        pytest.skip(f"VTM binaries not available (set VTM_BIN_DIR, see third_party/README.md): {looked}")


@pytest.mark.vtm
@pytest.mark.slow
def test_real_vtm_intra_at_paper_qps(real_vtm, key_image):
    crop = np.ascontiguousarray(key_image[:128, :192])
    codec = VtmKeyframeCodec()
    sizes, quality = [], []
    for qp in (32, 37, 42, 47):
        payload = codec.encode(crop, qp)
        decoded = decode_keyframe(payload)
        assert decoded.shape == crop.shape
        sizes.append(len(payload))
        quality.append(psnr(decoded, crop))
    assert codec.encoder_version is not None and codec.encoder_version.startswith("22")
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes
    assert all(a > b for a, b in zip(quality, quality[1:])), quality
    assert quality[0] > 28.0
    odd = np.ascontiguousarray(key_image[:37, :53])
    assert decode_keyframe(codec.encode(odd, 32)).shape == odd.shape


def test_decoding_needs_only_the_decoder(no_vtm_env, fake_vtm, tmp_path):
    payload = VtmKeyframeCodec(bin_dir=fake_vtm / "bin").encode(np.zeros((16, 24, 3), np.uint8), 32)
    decoder_only = tmp_path / "decoder_only"
    decoder_only.mkdir()
    (fake_vtm / "bin" / "DecoderAppStatic").rename(decoder_only / "DecoderAppStatic")  # no encoder, no cfg next to it
    assert decode_keyframe(payload, bin_dir=decoder_only).shape == (16, 24, 3)
    with pytest.raises(ExternalToolError, match="DecoderAppStatic"):
        decode_keyframe(payload, bin_dir=tmp_path / "nowhere")
