"""Peak memory of decoding versus the number of frames (zero-motion streams, the shipped default model).

    python benchmarks/decode_memory.py [--size 384] [--frames 50 400 2000] [--output .y4m] [--whole] [--json]

For each frame count: build a valid zero-motion stream (x265 key frame of a bundled photo, every
inter frame flagged without motion: what the encoder writes for a still scene, ~2 KB), then run
``scripts/decode.py`` on it in a fresh process and read that process's peak resident memory
(``ru_maxrss``). ``decode.py`` writes frames as they are rendered, so the peak should not grow with
the number of frames. ``--whole`` also measures ``StreamDecoder.decode`` (the whole video as one
array, for callers that want it: grows by W*H*3 bytes per frame). Prints a Markdown table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynamics_codec.codec import zero_motion_stream  # noqa: E402
from dynamics_codec.data import bundled_image  # noqa: E402
from dynamics_codec.entropy import TokenCodingConfig  # noqa: E402
from dynamics_codec.keyframe import get_keyframe_codec  # noqa: E402
from dynamics_codec.motion_model import MotionModel  # noqa: E402

# runs a command as its child and prints the child's peak RSS in KiB (Linux ru_maxrss)
_PEAK = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); " \
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"

_WHOLE = textwrap.dedent("""
    import sys
    from dynamics_codec.codec import StreamDecoder
    from dynamics_codec.decoder import build_decoder
    from dynamics_codec.motion_model import MotionModel
    frames = StreamDecoder(MotionModel.load("builtin:corpus"), build_decoder("warp")).decode(open(sys.argv[1], "rb").read()).frames
    assert frames.shape[0] == int(sys.argv[2])
""")


def peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of ``cmd`` run in a fresh process; raises if it fails."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # this checkout
    out = subprocess.run([sys.executable, "-c", _PEAK, *cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    code, kib = out.stdout.split()[-2:]
    if int(code) != 0:
        raise RuntimeError(f"{cmd} failed (exit {code}):\n{out.stderr[-3000:]}")
    return int(kib) / 1024, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--frames", type=int, nargs="+", default=[50, 400, 2000])
    ap.add_argument("--output", default=".y4m", help="decode.py output suffix ('' = PNG folder)")
    ap.add_argument("--whole", action="store_true", help="also measure StreamDecoder.decode (whole array)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    model = MotionModel.load("builtin:corpus")
    key = cv2.resize(bundled_image("astronaut"), (args.size, args.size), interpolation=cv2.INTER_AREA)
    payload = get_keyframe_codec("x265", preset="ultrafast").encode(key, 37)
    rows = []
    with tempfile.TemporaryDirectory(prefix="decode_memory_") as tmp:
        for frames in args.frames:
            stream = Path(tmp) / f"still_{frames}.dcv"
            stream.write_bytes(zero_motion_stream(payload, args.size, args.size, frames, 25.0, model,
                                                  TokenCodingConfig(step=0.5)))
            out = Path(tmp) / f"out_{frames}{args.output}"
            mib, seconds = peak_rss_mib([sys.executable, "scripts/decode.py", f"input={stream}", f"output={out}",
                                         f"hydra.run.dir={tmp}/hydra_{frames}"])
            row = {"frames": frames, "size": args.size, "stream_bytes": stream.stat().st_size,
                   "decode_py_peak_mib": round(mib, 1), "decode_py_seconds": round(seconds, 1)}
            if args.whole:
                mib, seconds = peak_rss_mib([sys.executable, "-c", _WHOLE, str(stream), str(frames)])
                row.update(whole_array_peak_mib=round(mib, 1), whole_array_seconds=round(seconds, 1))
            rows.append(row)
            print(json.dumps(row) if args.json else f"... {row}", file=sys.stderr if not args.json else sys.stdout,
                  flush=True)
    if args.json:
        return
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
