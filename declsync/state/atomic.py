"""Durable file writes, the one way declsync writes its files (the state file, saved
plans, recovery files): whole or not at all, and on disk before the caller goes on.

``replace_file`` writes a temp file (``.NAME.*.tmp``, in the same directory, so that
the rename cannot cross file systems), fsyncs it, renames it over the target and fsyncs
the directory (the rename itself durable): a reader sees the old file or the new one,
never half of one, even after a crash. ``create_file`` writes a file that must not exist
yet (``O_EXCL``): it never overwrites, and never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["create_file", "replace_file", "sync_directory", "temp_pattern"]


def temp_pattern(path: Path) -> str:
    """The glob of ``replace_file``'s temp files for ``path`` (left behind only by a killed process)."""
    return f".{path.name}.*.tmp"


Content = bytes | Callable[[BinaryIO], None]


def _write_synced(fd: int, data: Content) -> None:
    with os.fdopen(fd, "wb") as fh:
        if isinstance(data, bytes):
            fh.write(data)
        else:
            data(fh)  # streamed by the caller: a large file is never one bytes object in memory
        fh.flush()
        os.fsync(fh.fileno())


def replace_file(path: Path, data: Content) -> None:
    """Replace ``path`` with ``data`` (bytes, or a function writing them to a binary file)
    atomically and durably (creating its directory).
    ``OSError`` when it cannot be written; the temp file never stays behind."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        _write_synced(fd, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable; a file system that cannot sync a directory still has the file.
    sync_directory(directory)


def sync_directory(directory: Path) -> None:
    """fsync ``directory`` (a rename, creation or removal in it made durable), where the file system can."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def create_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, which must not exist (``FileExistsError`` otherwise), fsynced;
    nothing is left at ``path`` when the write fails."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _write_synced(fd, data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
