"""Source text and Span: where a piece of a recipe came from (file, 1-based line and column)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int  # exclusive

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("<unknown>", 0, 0, 0, 0)


@dataclass(frozen=True)
class Source:
    """A recipe's text together with the name it is reported under."""

    name: str
    text: str

    @classmethod
    def read(cls, path: Path, display: str | None = None) -> Source:
        return cls(display or str(path), decode_text(read_regular(path), display or str(path)))

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


class NotText(ValueError):
    """The file is not UTF-8 text (a binary file, say)."""


def decode_text(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise NotText(f"{name} is a binary file, not a recipe")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotText(f"{name} is not UTF-8 text (byte {exc.start} is invalid)") from None
    return text.removeprefix("\ufeff")


# ---- files a recipe reads -----------------------------------------------------------------

ALLOW_ENV = "RECIPEC_ALLOW_DIRS"  # more folders a recipe may read, separated by os.pathsep
MAX_RECIPE_BYTES = 4 << 20
MAX_DATA_BYTES = 256 << 20


class Refused(Exception):
    """A file a recipe names cannot be read: outside the allowed folders, not a regular file,
    too large, or not there. The message never holds the file's content."""

    def __init__(self, message: str, hint: str, code: str = "file"):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


@dataclass(frozen=True)
class Confinement:
    """The folders whose files a recipe may read: the recipe's own folder (and everything under
    it), each folder of `allow`, and each folder named in $RECIPEC_ALLOW_DIRS."""

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, recipe: Path | str, allow: Iterable[Path | str] = ()) -> Confinement:
        env = [d for d in os.environ.get(ALLOW_ENV, "").split(os.pathsep) if d.strip()]
        folders = [Path(recipe).parent, *map(Path, allow), *map(Path, env)]
        return cls(tuple(_resolved(f) for f in folders if _resolved(f) is not None))  # type: ignore[misc]

    def allows(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in self.roots)


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return None


def read_confined(
    path: Path, confinement: Confinement | None, limit: int = MAX_DATA_BYTES
) -> bytes:
    """The bytes of a regular file inside the confinement (None: anywhere), at most `limit`.
    Symbolic links are followed first, so a link cannot lead out of an allowed folder."""
    real = _resolved(path)
    if real is None:
        raise Refused(f"'{_shown(path)}' is not a usable path", "check the file name")
    if confinement is not None and not confinement.allows(real):
        raise Refused(
            f"'{_shown(path)}' is outside the folders this recipe may read",
            f"move the file under the recipe's folder, or allow its folder with ${ALLOW_ENV} "
            "(or --allow-dir)",
            "confined",
        )
    return _read_regular(real, path, limit)


def _read_regular(real: Path, shown: Path, limit: int) -> bytes:
    try:
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(
                f"'{_shown(shown)}' is not a regular file",
                "name a file, not a device, a pipe or a folder",
                "confined",
            )
        if info.st_size > limit:
            raise Refused(
                f"'{_shown(shown)}' is {info.st_size:,} bytes, above the limit of {limit:,}",
                "split the file, or sample it down before naming it in a recipe",
            )
        # O_NONBLOCK: a file swapped for a pipe after the stat cannot block the open.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise Refused(f"'{_shown(shown)}' is not a regular file", "name a file", "confined")
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise Refused(f"file '{_shown(shown)}' not found", "check the path") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unusable name"
        raise Refused(f"cannot read '{_shown(shown)}': {reason}", "check the path") from None
    if len(data) > limit:
        raise Refused(f"'{_shown(shown)}' is above the limit of {limit:,} bytes", "split it")
    return data


def read_regular(path: Path, limit: int = MAX_RECIPE_BYTES) -> bytes:
    """A file the user names directly (a recipe): any folder, but a regular file of bounded
    size."""
    return _read_regular(_resolved(path) or path, path, limit)


def _shown(path: Path) -> str:
    """A path as a message shows it: printable, and not longer than a line."""
    text = str(path).encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= 120 else text[:80] + "..." + text[-30:]
