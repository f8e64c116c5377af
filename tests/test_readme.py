"""The README's commands, checked so that a documented workflow cannot silently break.

Every command in the README's ``bash`` blocks is taken from the README itself and either run at
a small size in a scratch folder (placeholder paths replaced by synthetic videos, small-size
overrides appended) or, when it needs a GPU, VTM or third-party weights, composed by the real
script (``--cfg job --resolve``: every override must exist and resolve). ``make test`` composes
every command and runs the quick ones; ``make check-readme`` (``CHECK_README=all``) also runs
the slow ones (training, the evaluations).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN_ALL = os.environ.get("CHECK_README", "") == "all"

#: placeholder -> what the scratch folder holds instead
PLACEHOLDERS = {"/data/raw_videos": "raw_videos", "../shared/corpus/clips": "raw_videos", "../shared/clips": "test_videos", "/data/test_videos": "test_videos", "<run>": "run",
                "<partition>": "gpu"}
#: appended to a run (unless the command sets the key): small sizes
SMALL = {
    "encode.py": ["video.size=64", "video.num_frames=6", "keyframe.preset=ultrafast"],
    "demo.py": ["clip.size=96", "clip.num_frames=6", "keyframe.preset=ultrafast"],
    "prepare_data.py": ["size=64", "num_frames=6"],
    "visualize.py": ["video.num_frames=6"],
    "eval_bdrate.py": ["video.size=96", "keyframe.preset=ultrafast", "anchors.x265.preset=ultrafast"],
}
# composed only: a GPU, MOFA/SVD weights, a trained run (and VTM + metric weights), a SLURM cluster
NEEDS_MORE = ("device=cuda", "decoder=mofa_svd", "<run>", "<trained model>", "hydra/launcher=submitit_slurm")
SLOW = ("train.py", "eval_bdrate.py")  # run by make check-readme only


def readme_commands() -> list[str]:
    """The command lines of the README's bash blocks (continuations joined, comments dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.split(r"\s{2,}#", line)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def plan(command: str) -> tuple[str, str | None, list[str]]:
    """``(how, script, args)``: how is run | compose | skip; script a file in scripts/."""
    argv = shlex.split(command)
    if argv == ["make", "test"]:
        return "skip", None, []  # this test suite
    if argv == ["make", "demo"]:
        return "run", "demo.py", []
    if argv[:2] == ["make", "table1"]:  # = eval_bdrate.py sequences=$(SEQUENCES) experiment=table1 $(ARGS)
        opts = dict(a.split("=", 1) for a in argv[2:])
        args = [f"sequences={opts['SEQUENCES']}", "experiment=table1", *shlex.split(opts.get("ARGS", ""))]
        how = "compose" if any(m in command for m in NEEDS_MORE) else "run"
        return how, "eval_bdrate.py", args
    if argv[0] == "torchrun":
        argv = argv[1:]
        while argv[0].startswith("--"):
            argv = argv[1:]
    else:
        assert argv[0] == ".venv/bin/python", command
        argv = argv[1:]
    script = Path(argv[0])
    assert script.parent.name == "scripts" and (ROOT / script).is_file(), command
    how = "compose" if command.startswith("torchrun") or any(m in command for m in NEEDS_MORE) else "run"
    return how, script.name, argv[1:]


def _substitute(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        for placeholder, value in PLACEHOLDERS.items():
            arg = arg.replace(placeholder, value)
        out.append(arg)
    return out


def _one_job(args: list[str]) -> list[str]:
    """A multirun's overrides reduced to its first job (``--cfg`` composes one job)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, out = OverridesParser.create(), []
    for arg in args:
        if arg == "-m":
            continue
        override = parser.parse_overrides([arg])[0]
        if override.is_sweep_override():
            arg = f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}"
        out.append(arg)
    return out


def _run(script: str, args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


COMMANDS = readme_commands()


def test_the_readme_has_the_workflows():
    scripts = {plan(c)[1] for c in COMMANDS}
    assert {"encode.py", "decode.py", "demo.py", "train.py", "prepare_data.py", "eval_bdrate.py",
            "visualize.py"} <= scripts
    assert len(COMMANDS) >= 20


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """The files the README's commands name, as small synthetic videos."""
    from dynamics_codec.data import make_synthetic_clip
    from dynamics_codec.io import write_video

    root = tmp_path_factory.mktemp("readme")

    def clip(path, image, size, frames, seed):
        c = make_synthetic_clip(image, size=size, num_frames=frames, fps=25.0, max_displacement=2.0,
                                rng=np.random.default_rng(seed))
        write_video(c.frames, root / path, 25.0)

    clip("clip.mp4", "astronaut", 128, 8, 0)
    clip("anchor.mkv", "astronaut", 384, 6, 1)
    clip("ours.mkv", "astronaut", 384, 6, 2)
    for i, image in enumerate(("coffee", "chelsea")):
        clip(f"raw_videos/video{i}.mp4", image, 96, 8, 10 + i)
    for i, image in enumerate(("astronaut", "coffee", "chelsea")):
        clip(f"test_videos/seq{i}.mkv", image, 96, 12, 20 + i)
    return root


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command, scratch):
    how, script, args = plan(command)
    if how == "skip":
        pytest.skip("make test is this test suite")
    args = _substitute(args)
    if how == "compose" or (script in SLOW and not RUN_ALL):
        proc = _run(script, [*_one_job(args), "--cfg", "job", "--resolve"], scratch)
        assert proc.stdout.strip(), command
        return
    keys = {a.split("=", 1)[0] for a in args}
    small = [o for o in SMALL.get(script, []) if o.split("=", 1)[0] not in keys]
    _run(script, [*args, *small], scratch)
    outputs = [a.split("=", 1)[1] for a in args if a.startswith("output=") and "$" not in a]
    for output in outputs:
        assert (scratch / output).exists(), (command, output)
