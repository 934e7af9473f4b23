"""Output folders: a path and the build that wants it in; a locked folder owned by one recipe
and mix out, whose write phase is one transaction, so a kill at any moment leaves the old build,
the new build, or a folder without a manifest (a rerun finishes it from the journal).

    DIR/manifest.json           written last: its presence vouches for the files beside it
    DIR/SPLIT.jsonl, ...        the files a build commits (any names the builder passes)
    DIR/.recipec/owner.json     the owner (recipe, file, mix, fingerprint) and every file it wrote
    DIR/.recipec/lock           flock()ed for the whole build; holds the holder's pid
    DIR/.recipec/journal.jsonl  the resume journal (recipec.journal)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from recipec.atomic import fsync_folder, stage_file, write_atomic
from recipec.diagnostics import BuildFailed

STATE = ".recipec"
OWNER = ".recipec/owner.json"
LOCK = ".recipec/lock"
JOURNAL = ".recipec/journal.jsonl"
MANIFEST = "manifest.json"
RESERVED = frozenset({MANIFEST, OWNER, LOCK, JOURNAL})
# A split NAME is written to NAME.jsonl beside these files; the checker refuses these names.
RESERVED_SPLIT_NAMES = frozenset({"provenance", "manifest", "report"})
# What builds from before owner records wrote besides their splits (adopted, then tracked).
LEGACY_FILES = ("provenance.jsonl", "report.md", "report.html", ".recipec/examples.jsonl")
RECORD_FORMAT = 1
# stage_file's temporaries: a dot, the target's name, mkstemp's 8 characters, `.tmp`.
TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NO_RIGHTS = (errno.EACCES, errno.EPERM, errno.EROFS)

Content = bytes | Iterable[bytes]


@dataclass(frozen=True)
class Owner:
    """The build a folder belongs to."""

    recipe: str
    file: str
    mix: str
    fingerprint: str

    def same_dataset(self, other: Owner) -> bool:
        # A revised recipe (same name and mix, new fingerprint) is the same dataset: its journal
        # reuses what still matches. Another recipe or mix would mix two datasets in one folder.
        return (self.recipe, self.mix) == (other.recipe, other.mix)

    def describe(self) -> str:
        return f"recipe '{self.recipe}' ({self.file}), mix '{self.mix}'"


@dataclass(frozen=True)
class Record:
    """`.recipec/owner.json`: the owner, and every file of the folder it may have written."""

    owner: Owner
    files: frozenset[str]


def os_failure(exc: OSError, path: Path, doing: str = "write") -> BuildFailed:
    """An OSError as a message naming the file and the fix (a full disk above all)."""
    where = exc.filename if exc.filename else path
    reason = exc.strerror or str(exc)
    if exc.errno in NO_SPACE:
        return BuildFailed(
            f"cannot {doing} {where}: no space left on the device",
            "free some space on that disk (or build into a folder on another disk with --out) "
            "and rerun; the build journal keeps every record generated so far",
        )
    if exc.errno in NO_RIGHTS:
        return BuildFailed(
            f"cannot {doing} {where}: {reason}",
            "check the folder's permissions, or build into another folder with --out",
        )
    return BuildFailed(f"cannot {doing} {where}: {reason}")


@contextlib.contextmanager
def _os_errors(path: Path, doing: str = "write") -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise os_failure(exc, path, doing) from None


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    # A failed write() names no file; the message must, so the file being written is added.
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _write(path: Path, data: bytes) -> None:
    with _naming(path):
        write_atomic(path, [data])


class OutputFolder:
    """An output folder held for a whole build: created, locked, its ownership checked.

    `with OutputFolder(path, owner, replace=..., limited=...) as folder:` then, at the end of
    the build, `folder.commit(files, manifest)` or `folder.record_failure(manifest)`. Every
    failure a user can meet is a BuildFailed.
    """

    def __init__(
        self, path: Path, owner: Owner, *, replace: bool = False, limited: bool = False
    ) -> None:
        self.path = Path(path)
        self.owner, self.replace, self.limited = owner, replace, limited
        self.journal_path = self.path / JOURNAL
        self._lock_fd: int | None = None
        # The owner on record until this build commits, and every file it may have left here.
        self._holder = owner
        self._files: frozenset[str] = frozenset()

    # -- opening ------------------------------------------------------------------------------

    def __enter__(self) -> OutputFolder:
        try:
            with _os_errors(self.path, "use"):
                self._refuse_foreign_early()
                (self.path / STATE).mkdir(parents=True, exist_ok=True)
                self._lock()
                self._claim()
                self._clean_temporaries()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._unlock()

    def _refuse_foreign_early(self) -> None:
        # Checked before anything is created, so a refused folder is left exactly as it was.
        if "\0" in str(self.path):
            raise BuildFailed(
                f"the output folder {str(self.path)!r} has a NUL byte in its name",
                "give `write` or --out a path without one",
            )
        if self.path.exists() and not self.path.is_dir():
            raise BuildFailed(f"{self.path} is not a folder", "give --out a folder path")
        if self.replace or not self.path.is_dir():
            return
        names = sorted(os.listdir(self.path))
        if names and STATE not in names:
            raise self._foreign(names)

    def _lock(self) -> None:
        descriptor = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(descriptor)
            os.close(descriptor)
            raise BuildFailed(
                f"{self.path} is in use by another build (pid {holder})",
                "wait for that build to finish (or stop it), or build into another folder "
                "with --out",
            ) from None
        except BaseException:
            os.close(descriptor)
            raise
        self._lock_fd = descriptor
        with _naming(self.path / LOCK):
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        descriptor, self._lock_fd = self._lock_fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, 0)
        os.close(descriptor)  # closing the last descriptor releases the flock

    def _claim(self) -> None:
        record = self._read_record()
        if record is None:
            others = self._other_entries()
            if others and not self.replace:
                raise self._foreign(others)
            if not others:
                # Claimed at once, so another recipe is refused even before this one commits.
                self._write_record(self.owner, frozenset())
            return
        if not record.owner.same_dataset(self.owner) and not self.replace:
            raise BuildFailed(
                f"{self.path} holds the build of {record.owner.describe()}; this build is "
                f"{self.owner.describe()}",
                "build into another folder with --out, or pass --replace to delete that "
                "build's files when this one is written",
            )
        if self.limited and not self.replace and self._manifest_status() == "complete":
            raise BuildFailed(
                f"{self.path} holds a complete build; a --limit build would replace it with "
                "a partial one",
                "build the limited run into another folder with --out, or pass --replace",
            )
        self._holder, self._files = record.owner, record.files

    def _foreign(self, names: list[str]) -> BuildFailed:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        return BuildFailed(
            f"{self.path} is not empty and was not written by recipec ({shown})",
            "build into a new or empty folder with --out, or pass --replace to write the "
            "build there (files of the same names are overwritten; other files are kept)",
        )

    def _other_entries(self) -> list[str]:
        return sorted(name for name in os.listdir(self.path) if name != STATE)

    def _clean_temporaries(self) -> None:
        # Left by a build killed while writing; never part of any build.
        for folder in (self.path, self.path / STATE):
            for name in os.listdir(folder):
                if TEMPORARY.fullmatch(name) and (folder / name).is_file():
                    (folder / name).unlink()

    # -- the owner record ---------------------------------------------------------------------

    def _read_record(self) -> Record | None:
        path = self.path / OWNER
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return self._legacy_record()
        record = _parse_record(data)
        if record is None:
            if self.replace:
                return self._legacy_record()
            raise BuildFailed(
                f"{path} is not an owner record recipec can read",
                "pass --replace to take the folder over, or build into another folder with --out",
            )
        return record

    def _legacy_record(self) -> Record | None:
        # A folder built before owner records: its manifest names the recipe, mix and splits.
        try:
            manifest = orjson.loads((self.path / MANIFEST).read_bytes())
            owner = Owner(
                str(manifest["recipe"]),
                str(manifest.get("file", "")),
                str(manifest["mix"]),
                str(manifest.get("fingerprint", "")),
            )
            names = [f"{split}.jsonl" for split in manifest.get("splits", {})]
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None
        names += [name for name in LEGACY_FILES if (self.path / name).exists()]
        if not all(_valid_name(name) for name in names):
            return None
        return Record(owner, frozenset(names))

    def _write_record(self, owner: Owner, files: frozenset[str]) -> None:
        record = {"format": RECORD_FORMAT, "owner": asdict(owner), "files": sorted(files)}
        data = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
        _write(self.path / OWNER, data)

    def _manifest_status(self) -> Any:
        try:
            return orjson.loads((self.path / MANIFEST).read_bytes()).get("status")
        except (FileNotFoundError, orjson.JSONDecodeError, AttributeError):
            return None

    # -- the write phase ----------------------------------------------------------------------

    def commit(self, files: Mapping[str, Content], manifest: bytes) -> None:
        """Put `files` (name in the folder -> bytes or chunks), then `manifest`, in place.

        Every file is staged and fsynced first; the old manifest goes before any file moves;
        files of the earlier build that this one does not write are removed; the manifest comes
        last. A file name is `NAME` or `.recipec/NAME`, never a reserved one.
        """
        names = frozenset(files)
        for name in names:
            _check_name(name)
        with _os_errors(self.path):
            staged = self._stage(files)
            try:
                # Everything that may be on disk is on record before anything moves.
                self._write_record(self._holder, self._files | names)
                self._remove([MANIFEST])
                for name in sorted(staged):
                    os.replace(staged[name], self.path / name)
                    del staged[name]
                self._sync()
                self._remove(sorted(self._files - names))
                self._settle(names)
                _write(self.path / MANIFEST, manifest)
            finally:
                for temporary in staged.values():
                    with contextlib.suppress(FileNotFoundError):
                        temporary.unlink()

    def record_failure(self, manifest: bytes) -> None:
        """A failed build: the earlier build's files go, then `manifest` is written alone."""
        with _os_errors(self.path):
            self._remove([MANIFEST])
            self._remove(sorted(self._files))
            self._settle(frozenset())
            _write(self.path / MANIFEST, manifest)

    def _stage(self, files: Mapping[str, Content]) -> dict[str, Path]:
        staged: dict[str, Path] = {}
        try:
            for name in sorted(files):
                content = files[name]
                chunks = [content] if isinstance(content, bytes | bytearray) else content
                with _naming(self.path / name):
                    staged[name] = stage_file(self.path / name, chunks)
        except BaseException:
            for temporary in staged.values():
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
            raise
        return staged

    def _remove(self, names: Iterable[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        self._sync()

    def _settle(self, names: frozenset[str]) -> None:
        self._holder, self._files = self.owner, names
        self._write_record(self.owner, names)

    def _sync(self) -> None:
        fsync_folder(self.path)
        fsync_folder(self.path / STATE)


def _parse_record(data: bytes) -> Record | None:
    try:
        raw = orjson.loads(data)
        owner = Owner(**{key: str(raw["owner"][key]) for key in Owner.__dataclass_fields__})
        files = raw["files"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    # Names are checked before they are trusted: a record never makes recipec delete elsewhere.
    if not isinstance(files, list) or not all(_valid_name(name) for name in files):
        return None
    return Record(owner, frozenset(files))


def _valid_name(name: object) -> bool:
    if not isinstance(name, str) or name in RESERVED or TEMPORARY.fullmatch(name.split("/")[-1]):
        return False
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == STATE:
        parts = parts[1:]
    return (
        len(parts) == 1
        and parts[0] not in ("", ".", "..", STATE)
        and "\0" not in parts[0]
        and "\\" not in parts[0]
    )


def _check_name(name: str) -> None:
    if not _valid_name(name):
        # The builder chooses these names, never the user: a wrong one is a bug, not input.
        raise ValueError(f"{name!r} cannot be committed to an output folder")


def _holder_pid(descriptor: int) -> str:
    # The holder writes its pid just after taking the lock: give it a moment to appear.
    for _ in range(20):
        text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.005)
    return "unknown"
