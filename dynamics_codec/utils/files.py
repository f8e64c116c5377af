"""Safe file output: write to a private temporary name beside the target, then rename.

Rules every output written through :func:`atomic_output_path` keeps:

* A crash, an exception, Ctrl-C (SIGINT) or SIGTERM never leaves a half-written file under the
  final name, and removes the temporary output (only SIGKILL can leave a hidden
  ``.<name>.*.tmp`` folder behind).
* The temporary output lives in a private folder made by :func:`tempfile.mkdtemp` (mode 0700)
  next to the target, so no other process can create, replace or symlink that name.
* Nothing the tool did not create is deleted: an existing folder is replaced only when it is
  the tool's own output (it holds :data:`OUTPUT_MARKER`, which every folder written through
  :func:`atomic_output_path` gets) and ``overwrite`` is true; ``.``, ``..``, the current
  directory and its parents are never an output. An existing file is replaced only with
  ``overwrite=True`` (the default for library calls; the scripts default to ``overwrite=false``
  and refuse an existing output, see :func:`check_output_path`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from dynamics_codec.errors import ConfigError

log = logging.getLogger(__name__)

#: The file that marks a folder as written by this package (so it may be replaced later).
OUTPUT_MARKER = ".dynamics_codec_output"
_MARKER_TEXT = "written by dynamics_codec; it may replace this folder's content when asked to (overwrite=true)\n"


def is_own_output_folder(path: str | os.PathLike) -> bool:
    """True for a real folder (not a symlink) holding :data:`OUTPUT_MARKER`."""
    p = Path(path)
    return p.is_dir() and not p.is_symlink() and (p / OUTPUT_MARKER).is_file()


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = (),
                      key: str = "output") -> Path:
    """Raise :class:`ConfigError` (one line naming ``key`` and the fix) unless ``path`` may be written.

    Refused always: ``.``/``..``, the current directory or one of its parents, one of ``inputs``
    (or a folder holding one), and an existing folder that is not the tool's own output. An
    existing file or own output folder is refused unless ``overwrite``.
    """
    final = Path(path)
    if final.name in ("", ".", ".."):
        raise ConfigError(f"{key}={path} is a directory reference, not an output name; pass {key}=<new file or folder>")
    resolved = final.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ConfigError(f"{key}={path} is the current directory or one of its parents; pass {key}=<new file or "
                          "folder>")
    for source in inputs:
        src = Path(source).resolve()
        if resolved == src or resolved in src.parents:
            raise ConfigError(f"{key}={path} is the input {source} (or holds it); pass {key}=<another name>")
    if final.is_dir() and not final.is_symlink():
        if not is_own_output_folder(final):
            raise ConfigError(f"{key}={path} is an existing folder this tool did not write (no {OUTPUT_MARKER} "
                              f"in it); nothing was changed: pass {key}=<new name> or remove the folder yourself")
        if not overwrite:
            raise ConfigError(f"{key}={path} exists (an output written earlier); pass overwrite=true to replace it "
                              f"or {key}=<new name>")
    elif (final.exists() or final.is_symlink()) and not overwrite:
        raise ConfigError(f"{key}={path} exists; pass overwrite=true to replace it or {key}=<new name>")
    return final


def prepare_output_folder(path: str | os.PathLike, *, overwrite: bool = False, key: str = "output_dir",
                          own_names: Iterable[str] = ()) -> Path:
    """A folder a command writes several named files into (e.g. the demo's ``outputs/demo/latest``).

    A new folder is created and marked as the tool's; an existing one is used only if it is the
    tool's (marked, or holding nothing but ``own_names``: a folder from before the marker existed)
    and ``overwrite`` is true -- then the files the command writes replace their old versions and
    nothing else in it is touched. Everything else is refused as by :func:`check_output_path`.
    """
    folder = Path(path)
    names = set(own_names)
    if folder.is_dir() and not folder.is_symlink() and not (folder / OUTPUT_MARKER).exists():
        entries = [p.name for p in folder.iterdir()]
        if entries and all(name in names for name in entries):
            (folder / OUTPUT_MARKER).write_text(_MARKER_TEXT)  # adopt an earlier run's folder
    check_output_path(folder, overwrite=overwrite, key=key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OUTPUT_MARKER).write_text(_MARKER_TEXT)
    return folder


def _raise_on_sigterm(signum, frame):  # noqa: ANN001 - signal handler signature
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While inside, SIGTERM raises SystemExit (so ``finally`` blocks run) -- only in the main
    thread and only if nobody else handles SIGTERM (a trainer's own handler stays in place)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def atomic_output_path(path: str | os.PathLike, *, suffix: str | None = None,
                       overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    Works for files and for folders (e.g. a PNG sequence): whatever the body creates at the
    temporary path (which does not exist yet) becomes ``path`` when the body returns without an
    exception, and is removed otherwise -- also on SIGINT and SIGTERM. A folder output gets
    :data:`OUTPUT_MARKER`. ``suffix`` defaults to the final name's suffix so that tools that
    pick a format from the extension (PyAV, OpenCV) still do. What may be replaced: see
    :func:`check_output_path` (checked before the body runs and again before the rename).
    """
    final = Path(path)
    check_output_path(final, overwrite=overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    tmp = private / (final.name if suffix is None else (final.stem + suffix or "output"))
    try:
        with _sigterm_as_exit():
            yield tmp
            if not (tmp.exists() or tmp.is_symlink()):
                raise FileNotFoundError(f"nothing was written to the temporary output {tmp} for {final}")
            if tmp.is_dir() and not tmp.is_symlink():
                (tmp / OUTPUT_MARKER).write_text(_MARKER_TEXT)
            check_output_path(final, overwrite=overwrite)  # again: something may have appeared meanwhile
            exists = final.exists() or final.is_symlink()
            if exists and ((final.is_dir() and not final.is_symlink()) or (tmp.is_dir() and not tmp.is_symlink())):
                old = private / (final.name + ".replaced")
                os.rename(final, old)  # an own folder (or a file a folder replaces): kept until the new one is in place
                try:
                    os.rename(tmp, final)
                except BaseException:
                    os.rename(old, final)
                    raise
            else:
                os.replace(tmp, final)
    except (KeyboardInterrupt, SystemExit):
        log.warning(f"interrupted: removed the unfinished output for {final}")
        raise
    finally:
        shutil.rmtree(private, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (fsync'd temp file + rename)."""
    with atomic_output_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8", *, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding), overwrite=overwrite)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()
