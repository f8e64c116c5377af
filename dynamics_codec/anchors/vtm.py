"""VVC anchors through the VTM reference software: low-delay-B (the paper's anchor) and all-intra.

Binaries and the ``cfg/`` folder are found like the VTM key-frame codec does
(:func:`dynamics_codec.keyframe.find_vtm_tools`: ``bin_dir`` argument, ``$VTM_BIN_DIR``,
``$PATH``; cfg from ``cfg_dir``, ``$VTM_CFG_DIR``, ``<bin_dir>/../cfg``). The configuration
file (``encoder_lowdelay_vtm.cfg`` for ``vtm_ldb``, ``encoder_intra_vtm.cfg`` for
``vtm_intra``) is read from the same folder as the intra cfg unless ``cfg_dir`` names another.

Run: the 4:2:0 video is written as 8-bit planar ``.yuv`` (our colour conversion), encoded with
``EncoderAppStatic -c <cfg> -wdt W -hgt H -fr <fps> -f T -q QP --InputBitDepth=8
--InternalBitDepth=10 --OutputBitDepth=8 --ConformanceWindowMode=1`` and decoded with
``DecoderAppStatic -d 8``. Each run uses its own temporary folder and a timeout; failures
raise :class:`ExternalToolError` quoting the command and the log tail. The version used in
cache keys is the encoder binary's SHA-256 plus the cfg file's; the printed "VTM Encoder
Version" is recorded in the results.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dynamics_codec.anchors.base import AnchorCodec, AnchorOutput
from dynamics_codec.errors import ConfigError, ExternalToolError
from dynamics_codec.io.color import Yuv420
from dynamics_codec.keyframe.vtm import ENV_CFG_DIR, VtmTools, find_vtm_tools, run_vtm
from dynamics_codec.utils.files import sha256_file

__all__ = ["VtmAnchor", "VTM_ANCHOR_CFGS", "read_yuv420_file"]

VTM_ANCHOR_CFGS = {"vtm_ldb": "encoder_lowdelay_vtm.cfg", "vtm_intra": "encoder_intra_vtm.cfg"}
_VERSION_RE = re.compile(r"VTM\s+Encoder\s+Version\s+([0-9][\w.\-]*)")
_LOG_TAIL = 2000


def read_yuv420_file(path: Path, num_frames: int, height: int, width: int) -> Yuv420:
    """Planar 8-bit I420 file -> :class:`Yuv420` ``[T, ...]`` (exact size check)."""
    data = np.frombuffer(path.read_bytes(), np.uint8)
    ny, nc = height * width, (height // 2) * (width // 2)
    if data.size != num_frames * (ny + 2 * nc):
        raise ExternalToolError(f"{path.name}: {data.size} bytes, expected {num_frames} frames of {width}x{height} "
                                f"8-bit 4:2:0 ({num_frames * (ny + 2 * nc)} bytes)")
    frames = data.reshape(num_frames, ny + 2 * nc)
    return Yuv420(y=frames[:, :ny].reshape(num_frames, height, width).copy(),
                  u=frames[:, ny:ny + nc].reshape(num_frames, height // 2, width // 2).copy(),
                  v=frames[:, ny + nc:].reshape(num_frames, height // 2, width // 2).copy())


class VtmAnchor(AnchorCodec):
    """VTM at a QP in 0..63 with the configuration of ``name`` (``vtm_ldb`` or ``vtm_intra``).

    Args:
        name: ``"vtm_ldb"`` (low-delay B, ``encoder_lowdelay_vtm.cfg``) or ``"vtm_intra"``.
        cfg: configuration file name (default per ``name``), looked up in ``cfg_dir``.
        bin_dir / cfg_dir: where the binaries / cfg files are (else the environment, see module doc).
        internal_bit_depth: VTM's ``InternalBitDepth`` (10, as in the CTC).
        timeout_s: wall-clock limit per encoder or decoder run.
        extra_args: appended to the encoder command line.
    """

    def __init__(self, name: str = "vtm_ldb", cfg: str | None = None, bin_dir: str | os.PathLike | None = None,
                 cfg_dir: str | os.PathLike | None = None, internal_bit_depth: int = 10, timeout_s: float = 3600.0,
                 extra_args: Sequence[str] = ()) -> None:
        if name not in VTM_ANCHOR_CFGS:
            raise ConfigError(f"VTM anchor name must be one of {sorted(VTM_ANCHOR_CFGS)}, found {name!r}")
        self.name = name
        self.qp_range = (0, 63)  # VVC's QP range (8-bit input): coarser than HEVC's 51
        self.cfg_name = cfg or VTM_ANCHOR_CFGS[name]
        self.bin_dir = str(bin_dir) if bin_dir else None
        self.cfg_dir = str(cfg_dir) if cfg_dir else None
        self.internal_bit_depth = int(internal_bit_depth)
        self.timeout_s = float(timeout_s)
        self.extra_args = tuple(str(a) for a in extra_args)
        self._tools: VtmTools | None = None
        self._version: str | None = None
        self.reported_version: str | None = None  # "VTM Encoder Version" of the last encode

    @property
    def tools(self) -> VtmTools:
        if self._tools is None:
            self._tools = find_vtm_tools(self.bin_dir, self.cfg_dir)
        return self._tools

    @property
    def cfg_path(self) -> Path:
        looked = []
        for folder in (self.cfg_dir, os.environ.get(ENV_CFG_DIR), self.tools.intra_cfg.parent):
            if folder:
                candidate = Path(folder).expanduser() / self.cfg_name
                if candidate.is_file():
                    return candidate
                looked.append(str(candidate))
        raise ExternalToolError(f"VTM configuration {self.cfg_name} not found; looked at {looked}. It ships in the "
                                "cfg/ folder of the VTM 22.2 source tree: set paths.vtm_cfg_dir=<that folder> "
                                "(or $VTM_CFG_DIR; Python: cfg_dir=)")

    def version(self) -> str:
        if self._version is None:
            self._version = (f"VTM encoder sha256:{sha256_file(self.tools.encoder)[:16]} "
                             f"decoder sha256:{sha256_file(self.tools.decoder)[:16]}")
        return self._version

    def settings(self) -> dict[str, Any]:
        return {"cfg": self.cfg_name, "cfg_sha256": sha256_file(self.cfg_path), "internal_bit_depth":
                self.internal_bit_depth, "extra_args": list(self.extra_args)}

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "cfg": self.cfg_name, "bin_dir": self.bin_dir, "cfg_dir": self.cfg_dir,
                "internal_bit_depth": self.internal_bit_depth, "timeout_s": self.timeout_s,
                "extra_args": list(self.extra_args)}

    def encoder_command(self, input_yuv: Path, bitstream: Path, width: int, height: int, fps: float,
                        num_frames: int, qp: int) -> list[str]:
        return [str(self.tools.encoder), "-c", str(self.cfg_path), "-i", str(input_yuv), "-b", str(bitstream),
                "-wdt", str(width), "-hgt", str(height), "-fr", str(max(1, round(fps))), "-f", str(num_frames),
                "-q", str(qp), "--InputBitDepth=8", f"--InternalBitDepth={self.internal_bit_depth}",
                "--OutputBitDepth=8", "--InputChromaFormat=420", "--ConformanceWindowMode=1", *self.extra_args]

    def decoder_command(self, bitstream: Path, output_yuv: Path) -> list[str]:
        return [str(self.tools.decoder), "-b", str(bitstream), "-o", str(output_yuv), "-d", "8"]

    def _run(self, cmd: list[str], cwd: Path, what: str) -> str:
        proc = run_vtm(cmd, cwd, what, self.timeout_s)
        return (proc.stdout or b"").decode(errors="replace") + (proc.stderr or b"").decode(errors="replace")

    def encode_decode(self, yuv: Yuv420, fps: float, qp: int) -> AnchorOutput:
        qp = self.check_qp(qp, 0, 63)
        t = yuv.y.shape[0]
        with tempfile.TemporaryDirectory(prefix=f"{self.name}_") as tmp:
            work = Path(tmp)
            src, stream, out = work / "input.yuv", work / "stream.bin", work / "decoded.yuv"
            src.write_bytes(yuv.frame_bytes())
            t0 = time.perf_counter()
            log = self._run(self.encoder_command(src, stream, yuv.width, yuv.height, fps, t, qp), work, "encoder")
            t1 = time.perf_counter()
            match = _VERSION_RE.search(log)
            self.reported_version = match.group(1) if match else None
            if not stream.is_file() or stream.stat().st_size == 0:
                raise ExternalToolError(f"VTM encoder returned 0 but wrote no bitstream; log tail:\n{log[-_LOG_TAIL:]}")
            self._run(self.decoder_command(stream, out), work, "decoder")
            decoded = read_yuv420_file(out, t, yuv.height, yuv.width)
            return AnchorOutput(bitstream=stream.read_bytes(), decoded=decoded, encoder_log=log,
                                timings={"encode_s": t1 - t0, "decode_s": time.perf_counter() - t1})
