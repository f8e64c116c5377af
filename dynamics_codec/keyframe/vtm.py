"""VVC intra key frames through the VTM reference software (``EncoderAppStatic`` / ``DecoderAppStatic``).

The binaries are not shipped; see ``third_party/README.md`` to build VTM 22.2. They are
looked up, in this order, in ``bin_dir`` (argument), ``$VTM_BIN_DIR``, then ``$PATH``. The
all-intra configuration ``encoder_intra_vtm.cfg`` is looked up in ``cfg_dir`` (argument),
``$VTM_CFG_DIR``, then ``<bin_dir>/../cfg`` (the layout of a VTM source tree). No path is
hard-coded.

Encoding: RGB -> edge-replicated to even size -> 8-bit 4:2:0 ``.yuv`` through
:mod:`dynamics_codec.io.color` -> ``EncoderAppStatic -c encoder_intra_vtm.cfg`` with one
frame, ``InputBitDepth=8``, ``InternalBitDepth`` (default 10, as in the CTC),
``OutputBitDepth=8``, ``ConformanceWindowMode=1`` (VTM pads to its minimum CU size and
signals the crop), ``TemporalSubsampleRatio=1`` (the AI cfg's 8 only matters for
sequences). Decoding (needs only ``DecoderAppStatic``, not the encoder or its cfg):
``DecoderAppStatic -d 8`` -> 8-bit 4:2:0 -> RGB, cropped to the
true size kept in the payload header. Each run happens in its own temporary folder, with
a timeout; logs are captured and their tail is quoted in :class:`ExternalToolError`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dynamics_codec.errors import BitstreamError, ConfigError, ExternalToolError
from dynamics_codec.io.color import rgb_to_yuv420, yuv420_to_rgb
from dynamics_codec.keyframe.base import KeyframeCodec, KeyframeHeader, pad_to_even

__all__ = ["VtmKeyframeCodec", "VtmTools", "find_vtm_decoder", "find_vtm_tools", "ENV_BIN_DIR", "ENV_CFG_DIR", "ENCODER_CFG_NAME"]

ENV_BIN_DIR = "VTM_BIN_DIR"
ENV_CFG_DIR = "VTM_CFG_DIR"
ENCODER_CFG_NAME = "encoder_intra_vtm.cfg"
ENCODER_NAME = "EncoderAppStatic"
DECODER_NAME = "DecoderAppStatic"
_VERSION_RE = re.compile(r"VTM\s+Encoder\s+Version\s+([0-9][\w.\-]*)")
_LOG_TAIL_CHARS = 2000


@dataclass(frozen=True)
class VtmTools:
    """Resolved paths of the VTM encoder, decoder and all-intra configuration file."""

    encoder: Path
    decoder: Path
    intra_cfg: Path


def _missing(what: str, looked: list[str]) -> ExternalToolError:
    where = "; ".join(looked) if looked else "nowhere: no bin_dir argument, $VTM_BIN_DIR unset, not on $PATH"
    return ExternalToolError(
        f"VTM {what} not found (looked in: {where}). Build VTM 22.2 as described in third_party/README.md, then "
        f"set paths.vtm_bin_dir=<folder holding {ENCODER_NAME} and {DECODER_NAME}> and paths.vtm_cfg_dir=<folder "
        f"holding {ENCODER_CFG_NAME}> (on the command line or in configs/local/default.yaml), or ${ENV_BIN_DIR} / "
        f"${ENV_CFG_DIR} (Python: bin_dir=, cfg_dir=)"
    )


def _find_binary(name: str, bin_dir: str | os.PathLike | None) -> tuple[Path | None, list[str]]:
    looked: list[str] = []
    for label, folder in (("bin_dir argument", bin_dir), (f"${ENV_BIN_DIR}", os.environ.get(ENV_BIN_DIR))):
        if folder:
            candidate = Path(folder).expanduser() / name
            looked.append(f"{candidate} ({label})")
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate, looked
    on_path = shutil.which(name)
    looked.append(f"{name} on $PATH")
    return (Path(on_path), looked) if on_path else (None, looked)


def find_vtm_decoder(bin_dir: str | os.PathLike | None = None) -> Path:
    """Locate ``DecoderAppStatic`` alone (decoding needs neither the encoder nor its cfg)."""
    decoder, looked = _find_binary(DECODER_NAME, bin_dir)
    if decoder is None:
        raise _missing(f"decoder {DECODER_NAME}", looked)
    return decoder


def find_vtm_tools(bin_dir: str | os.PathLike | None = None, cfg_dir: str | os.PathLike | None = None) -> VtmTools:
    """Locate the VTM encoder, decoder and ``encoder_intra_vtm.cfg``; raise :class:`ExternalToolError` if absent."""
    encoder, looked_enc = _find_binary(ENCODER_NAME, bin_dir)
    if encoder is None:
        raise _missing(f"encoder {ENCODER_NAME}", looked_enc)
    decoder, looked_dec = _find_binary(DECODER_NAME, bin_dir)
    if decoder is None:
        raise _missing(f"decoder {DECODER_NAME}", looked_dec)
    looked_cfg: list[str] = []
    for label, folder in (("cfg_dir argument", cfg_dir), (f"${ENV_CFG_DIR}", os.environ.get(ENV_CFG_DIR)),
                          ("next to the binaries", encoder.resolve().parent.parent / "cfg")):
        if folder:
            candidate = Path(folder).expanduser() / ENCODER_CFG_NAME
            looked_cfg.append(f"{candidate} ({label})")
            if candidate.is_file():
                return VtmTools(encoder=encoder, decoder=decoder, intra_cfg=candidate)
    raise _missing(f"configuration {ENCODER_CFG_NAME}", looked_cfg)


def _log_tail(proc: subprocess.CompletedProcess) -> str:
    text = (proc.stdout or b"").decode(errors="replace") + (proc.stderr or b"").decode(errors="replace")
    return text[-_LOG_TAIL_CHARS:]


def run_vtm(cmd: list[str], cwd: Path, what: str, timeout_s: float) -> subprocess.CompletedProcess:
    """Run a VTM binary with captured logs; :class:`ExternalToolError` (command, return code, log
    tail) when it cannot start, times out or fails. Shared by the key-frame codec and the anchors."""
    line = subprocess.list2cmdline(cmd)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        tail = ((exc.stdout or b"") + (exc.stderr or b"")).decode(errors="replace")[-_LOG_TAIL_CHARS:]
        raise ExternalToolError(f"VTM {what} timed out after {timeout_s:.0f} s.\ncommand: {line}\nlog tail:\n{tail}") from exc
    except OSError as exc:
        raise ExternalToolError(f"VTM {what} could not be started ({exc}).\ncommand: {line}") from exc
    if proc.returncode != 0:
        raise ExternalToolError(
            f"VTM {what} failed with return code {proc.returncode}.\ncommand: {line}\nlog tail:\n{_log_tail(proc)}"
        )
    return proc


class VtmKeyframeCodec(KeyframeCodec):
    """VVC all-intra coding of one image with VTM at a QP in 0..63 (the paper uses 32, 37, 42, 47).

    Args:
        bin_dir: folder with ``EncoderAppStatic`` / ``DecoderAppStatic`` (else ``$VTM_BIN_DIR``, ``$PATH``).
        cfg_dir: folder with ``encoder_intra_vtm.cfg`` (else ``$VTM_CFG_DIR``, ``<bin_dir>/../cfg``).
        internal_bit_depth: VTM's ``InternalBitDepth`` (default 10, as in the common test conditions).
        timeout_s: wall-clock limit of one encoder / decoder run in seconds.
        extra_args: extra encoder arguments appended last (e.g. ``["--Level=6.2"]``).

    After an encode, ``encoder_version`` holds the version the encoder log printed (or ``None``)
    and ``last_encoder_log`` the full log.
    """

    name = "vtm"
    codec_id = 2
    qp_range = (0, 63)

    def __init__(
        self,
        bin_dir: str | os.PathLike | None = None,
        cfg_dir: str | os.PathLike | None = None,
        internal_bit_depth: int = 10,
        timeout_s: float = 600.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        if internal_bit_depth not in (8, 10, 12, 16):
            raise ConfigError(f"VTM internal_bit_depth must be 8, 10, 12 or 16, found {internal_bit_depth}")
        if timeout_s <= 0:
            raise ConfigError(f"VTM timeout_s must be positive, found {timeout_s}")
        self.bin_dir = bin_dir
        self.cfg_dir = cfg_dir
        self.internal_bit_depth = int(internal_bit_depth)
        self.timeout_s = float(timeout_s)
        self.extra_args = tuple(str(a) for a in extra_args)
        self.encoder_version: str | None = None
        self.last_encoder_log: str = ""
        self._tools: VtmTools | None = None

    @property
    def tools(self) -> VtmTools:
        """The resolved binaries and cfg (looked up on first use; :class:`ExternalToolError` if missing)."""
        if self._tools is None:
            self._tools = find_vtm_tools(self.bin_dir, self.cfg_dir)
        return self._tools

    def encoder_command(self, tools: VtmTools, input_yuv: Path, bitstream: Path, width: int, height: int,
                        qp: int) -> list[str]:
        """The ``EncoderAppStatic`` argument list for one 8-bit 4:2:0 frame of ``width`` x ``height`` (even)."""
        return [
            str(tools.encoder),
            "-c", str(tools.intra_cfg),
            "-i", str(input_yuv),
            "-b", str(bitstream),
            "-wdt", str(width),
            "-hgt", str(height),
            "-fr", "1",
            "-f", "1",
            "-q", str(qp),
            "--InputBitDepth=8",
            f"--InternalBitDepth={self.internal_bit_depth}",
            "--OutputBitDepth=8",
            "--InputChromaFormat=420",
            "--ConformanceWindowMode=1",
            "--TemporalSubsampleRatio=1",
            *self.extra_args,
        ]

    def decoder_command(self, tools: VtmTools | Path, bitstream: Path, output_yuv: Path) -> list[str]:
        """The ``DecoderAppStatic`` argument list writing 8-bit output (``tools``: all tools or the decoder's path)."""
        decoder = tools.decoder if isinstance(tools, VtmTools) else tools
        return [str(decoder), "-b", str(bitstream), "-o", str(output_yuv), "-d", "8"]

    def _run(self, cmd: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess:
        return run_vtm(cmd, cwd, what, self.timeout_s)

    def encode_bitstream(self, rgb: np.ndarray, qp: int) -> bytes:
        tools = self.tools
        yuv = rgb_to_yuv420(pad_to_even(rgb))
        with tempfile.TemporaryDirectory(prefix="vtm_enc_") as tmp:
            work = Path(tmp)
            input_yuv, bitstream = work / "input.yuv", work / "stream.bin"
            input_yuv.write_bytes(yuv.frame_bytes())
            cmd = self.encoder_command(tools, input_yuv, bitstream, yuv.width, yuv.height, qp)
            proc = self._run(cmd, work, "encoder")
            self.last_encoder_log = (proc.stdout or b"").decode(errors="replace")
            match = _VERSION_RE.search(self.last_encoder_log)
            self.encoder_version = match.group(1) if match else None
            if not bitstream.is_file() or bitstream.stat().st_size == 0:
                raise ExternalToolError(f"VTM encoder returned 0 but wrote no bitstream.\ncommand: "
                                        f"{subprocess.list2cmdline(cmd)}\nlog tail:\n{_log_tail(proc)}")
            return bitstream.read_bytes()

    def decode_bitstream(self, bitstream: bytes, header: KeyframeHeader) -> np.ndarray:
        decoder = self._tools.decoder if self._tools is not None else find_vtm_decoder(self.bin_dir)
        coded_h, coded_w = header.height + header.height % 2, header.width + header.width % 2
        with tempfile.TemporaryDirectory(prefix="vtm_dec_") as tmp:
            work = Path(tmp)
            stream, output_yuv = work / "stream.bin", work / "decoded.yuv"
            stream.write_bytes(bitstream)
            cmd = self.decoder_command(decoder, stream, output_yuv)
            try:
                self._run(cmd, work, "decoder")
            except ExternalToolError as exc:
                raise BitstreamError(
                    f"VTM key frame: the decoder rejected the {len(bitstream)}-byte bitstream. {exc}") from exc
            data = output_yuv.read_bytes() if output_yuv.is_file() else b""
        expected = coded_w * coded_h * 3 // 2
        if len(data) != expected:
            raise BitstreamError(f"VTM key frame: decoder wrote {len(data)} bytes, expected one {coded_w}x{coded_h} "
                                 f"8-bit 4:2:0 picture ({expected} bytes)")
        flat = np.frombuffer(data, dtype=np.uint8)
        ny, nc = coded_w * coded_h, (coded_w // 2) * (coded_h // 2)
        y = flat[:ny].reshape(coded_h, coded_w)
        u = flat[ny:ny + nc].reshape(coded_h // 2, coded_w // 2)
        v = flat[ny + nc:].reshape(coded_h // 2, coded_w // 2)
        rgb = yuv420_to_rgb(y, u, v)
        return np.ascontiguousarray(rgb[: header.height, : header.width])
