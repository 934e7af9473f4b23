"""Atomic files: bytes in, a file renamed into place out (fsynced, and its folder too), so a
reader or a crash sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o644  # mkstemp makes files private; an export is meant to be read


def write_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to a temporary file beside `path`, fsync it, and rename it over `path`.

    A reader sees the old file or the whole new one, never half of it, even after a crash.
    """
    path = Path(path)
    temporary = stage_file(path, chunks)
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_folder(path.parent)


def stage_file(path: Path, chunks: Iterable[bytes]) -> Path:
    """Write `chunks` to a fresh temporary `.NAME.XXXXXXXX.tmp` beside `path` and fsync it.

    The caller renames it into place (or unlinks it); nothing is left behind if writing fails.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.writelines(chunks)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return Path(temporary)


def fsync_folder(folder: Path) -> None:
    """Make renames and unlinks in `folder` durable: they are on disk once its entry is."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
