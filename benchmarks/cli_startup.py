"""Wall time of the command-line tools as a user runs them (whole processes, start-up included).

    python benchmarks/cli_startup.py [--clip video.mp4] [--repeat 3] [encode.py overrides, e.g. encoder=fast]

Runs, in fresh processes from the repository root with this interpreter: the import of torch
(the floor), the import of the codec package, ``scripts/encode.py`` (default settings, i.e. with
the PSNR check; and with ``report_quality=false``) and ``scripts/decode.py`` on a 50-frame
384x384 clip (a synthetic one unless --clip is given; any clip is brought to the test format).
Prints a Markdown table: the fastest and the median wall seconds (on a shared machine the fastest
run is the one least disturbed by other processes), median CPU seconds (user + system; more than
the wall time when torch uses several threads), and the command's own time from its JSON summary
(everything after imports and config composition, median).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run; raises on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", help="a video (default: a synthetic 50-frame 384x384 clip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("overrides", nargs="*", help="encode.py overrides (e.g. encoder=fast)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = Path(args.clip).resolve() if args.clip else work / "clip.mkv"
        if not args.clip:
            import numpy as np

            from dynamics_codec.data import make_synthetic_clip
            from dynamics_codec.io import write_video

            synthetic = make_synthetic_clip("astronaut", size=384, num_frames=50, fps=25.0,
                                            rng=np.random.default_rng(0))
            write_video(synthetic.frames, clip, synthetic.fps)
        py, scripts = sys.executable, ROOT / "scripts"
        stream, rec = work / "clip.dcv", work / "rec.mp4"
        hydra = f"hydra.run.dir={work / 'hydra'}"
        again = ["overwrite=true", *args.overrides]  # each command runs --repeat times onto the same output
        commands = {
            "import torch": ([py, "-c", "import torch"], None),
            "import dynamics_codec.codec": ([py, "-c", "import dynamics_codec.codec"], None),
            "encode.py (report_quality=false)": ([py, str(scripts / "encode.py"), f"input={clip}", f"output={stream}",
                                                  "report_quality=false", *again, hydra], stream),
            "encode.py (default: + PSNR check)": ([py, str(scripts / "encode.py"), f"input={clip}",
                                                   f"output={stream}", *again, hydra], stream),
            "decode.py": ([py, str(scripts / "decode.py"), f"input={stream}", f"output={rec}", "overwrite=true", hydra],
                          rec),
        }
        print(f"clip: {clip if args.clip else 'synthetic astronaut'} (50 frames, 384x384), {args.repeat} runs each, "
              f"encode overrides {args.overrides or 'none'}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
        print("| command | wall [s] fastest | wall [s] median | CPU [s] median | inside the command [s] |")
        print("|---|---|---|---|---|")
        for name, (cmd, output) in commands.items():
            runs, inside = [], []
            for _ in range(args.repeat):
                runs.append(timed(cmd, work))
                summary = output.with_name(output.name + ".json") if output is not None else None
                if summary is not None and summary.is_file():  # (tools before the JSON summaries have none)
                    inside.append(json.loads(summary.read_text())["timings_s"]["total"])
            walls = [r[0] for r in runs]
            print(f"| {name} | {min(walls):.2f} | {statistics.median(walls):.2f} | "
                  f"{statistics.median(r[1] for r in runs):.2f} | "
                  f"{f'{statistics.median(inside):.2f}' if inside else ''} |", flush=True)


if __name__ == "__main__":
    main()
