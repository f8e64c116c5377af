"""Safe outputs: nothing the tool did not write is deleted or replaced; interrupted writes leave nothing."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dynamics_codec.errors import ConfigError
from dynamics_codec.utils.files import (
    OUTPUT_MARKER,
    atomic_output_path,
    atomic_write_bytes,
    check_output_path,
    is_own_output_folder,
    prepare_output_folder,
)

ROOT = Path(__file__).resolve().parents[2]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "holiday"
    (folder / "sub").mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(b"precious")
    (folder / "sub" / "notes.txt").write_bytes(b"more")
    return folder


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_existing_folder_the_tool_did_not_write_is_never_replaced(tmp_path, overwrite):
    folder = _user_folder(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(ConfigError, match="did not write") as info:
        with atomic_output_path(folder, suffix="", overwrite=overwrite) as tmp:
            tmp.mkdir()
            (tmp / "frame_00000.png").write_bytes(b"x")
    assert "\n" not in str(info.value)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("name", [".", "..", "sub/..", ""])
def test_dot_dotdot_and_the_current_directory_are_refused(tmp_path, monkeypatch, name):
    (tmp_path / "sub").mkdir()
    (tmp_path / "keep.txt").write_text("keep")
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ConfigError, match="output="):
        check_output_path(name, overwrite=True)
    # even a folder marked as ours is not replaced while it is the current directory
    (tmp_path / "sub" / OUTPUT_MARKER).write_text("")
    with pytest.raises(ConfigError, match="current directory"):
        with atomic_output_path(tmp_path / "sub", overwrite=True) as tmp:
            tmp.mkdir()
    assert (tmp_path / "keep.txt").read_text() == "keep" and (tmp_path / "sub").is_dir()


def test_the_input_and_folders_holding_it_are_refused(tmp_path):
    src = tmp_path / "clips" / "clip.mp4"
    src.parent.mkdir()
    src.write_bytes(b"video")
    for output in (src, src.parent, tmp_path):
        with pytest.raises(ConfigError, match="is the input"):
            check_output_path(output, overwrite=True, inputs=[src])
    assert src.read_bytes() == b"video"


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    target = tmp_path / "out.dcv"
    target.write_bytes(b"old")
    with pytest.raises(ConfigError, match="overwrite=true"):
        atomic_write_bytes(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old"
    atomic_write_bytes(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.dcv"]


def test_own_output_folder_is_marked_and_replaced_only_with_overwrite(tmp_path):
    folder = tmp_path / "frames"
    with atomic_output_path(folder, suffix="") as tmp:
        tmp.mkdir()
        (tmp / "a.png").write_bytes(b"1")
    assert is_own_output_folder(folder) and (folder / "a.png").read_bytes() == b"1"
    with pytest.raises(ConfigError, match="overwrite=true"):
        with atomic_output_path(folder, suffix="", overwrite=False) as tmp:
            tmp.mkdir()
    with atomic_output_path(folder, suffix="", overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "b.png").write_bytes(b"2")
    assert sorted(p.name for p in folder.iterdir()) == [OUTPUT_MARKER, "b.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_a_folder_output_replaces_a_file_only_with_overwrite(tmp_path):
    target = tmp_path / "frames"
    target.write_bytes(b"a file")
    with pytest.raises(ConfigError, match="overwrite=true"):
        with atomic_output_path(target, suffix="", overwrite=False) as tmp:
            tmp.mkdir()
    assert target.read_bytes() == b"a file"
    with atomic_output_path(target, suffix="", overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "frame_00000.png").write_bytes(b"x")
    assert is_own_output_folder(target) and sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_a_command_output_folder_is_reused_only_if_it_is_the_commands_own(tmp_path):
    names = ("demo.dcv", "summary.json")
    new = prepare_output_folder(tmp_path / "demo", overwrite=True, own_names=names)
    assert is_own_output_folder(new)
    (new / "demo.dcv").write_bytes(b"1")
    assert prepare_output_folder(new, overwrite=True, own_names=names) == new and (new / "demo.dcv").exists()
    with pytest.raises(ConfigError, match="overwrite=true"):
        prepare_output_folder(new, overwrite=False, own_names=names)
    legacy = tmp_path / "legacy"  # a folder an earlier version of the command wrote (no marker yet)
    legacy.mkdir()
    (legacy / "summary.json").write_text("{}")
    assert is_own_output_folder(prepare_output_folder(legacy, overwrite=True, own_names=names))
    user = _user_folder(tmp_path)
    before = _tree(user)
    with pytest.raises(ConfigError, match="output_dir=.*did not write"):
        prepare_output_folder(user, overwrite=True, own_names=names)
    assert _tree(user) == before and not (user / OUTPUT_MARKER).exists()


def test_the_temporary_output_lives_in_a_private_folder_and_is_removed_on_error(tmp_path):
    target = tmp_path / "clip.mkv"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output_path(target) as tmp:
            assert not tmp.exists() and tmp.suffix == ".mkv"  # the body creates it
            private = tmp.parent
            assert private.parent == tmp_path and private.name.startswith(".clip.mkv.")
            assert stat.S_IMODE(private.stat().st_mode) == 0o700  # mkdtemp: nobody else can create names in it
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_at_the_output_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = tmp_path / "out.bin"
    link.symlink_to(victim)
    atomic_write_bytes(link, b"new", overwrite=True)
    assert victim.read_text() == "keep" and not link.is_symlink() and link.read_bytes() == b"new"


WRITER = """
import signal, sys, time
from pathlib import Path
from dynamics_codec.utils.files import atomic_output_path
# Ctrl-C as in a terminal: a job started in the background by a shell inherits SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
target = Path(sys.argv[1])
with atomic_output_path(target, suffix="") as tmp:
    tmp.mkdir()
    (tmp / "frame_00000.png").write_bytes(b"x" * 1000)
    (target.parent / "ready").write_text("")
    time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_during_a_write_leaves_nothing_behind(tmp_path, signum):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(out / "frames")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    assert any(p.name.startswith(".frames.") for p in out.iterdir())  # the temporary output exists now
    proc.send_signal(signum)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert sorted(p.name for p in out.iterdir()) == ["ready"]
    os.remove(out / "ready")
