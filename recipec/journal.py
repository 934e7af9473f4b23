"""Build journal: a JSON Lines file in, the entries of earlier runs out (keyed by kind, job,
attempt and job fingerprint); each new entry is appended and fsynced before the next, so a killed
build loses nothing and a rerun reuses what was already generated."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from recipec.diagnostics import BuildFailed
from recipec.outdir import os_failure

Entry = dict[str, Any]
Key = tuple[str, ...]
ANY: tuple[type, ...] = ()  # the field must be present; any JSON value will do
KEY_FIELDS: dict[str, tuple[type, ...]] = {"job": (str,), "attempt": (int,), "fp": (str,)}
# The fields each kind of entry must have, and their JSON types; extra fields are allowed.
FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "gen": {
        **KEY_FIELDS,
        "seed": (int,),
        "text": (str,),
        "value": ANY,
        "finish": (str,),
        "prompt_tokens": (int,),
        "output_tokens": (int,),
        "seconds": (int, float),
    },
    "judge": {**KEY_FIELDS, "score": (int,), "prompt_tokens": (int,), "output_tokens": (int,)},
}
TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}


class Journal:
    """The journal at `path`: `entries` holds what earlier runs wrote; `append` adds one more."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: dict[Key, Entry] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._load()
            # Unbuffered: an entry is on disk (or failed) when append returns, never half-queued.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise os_failure(exc, self.path, "open the build journal") from None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # A build killed mid-write leaves a partial last line: cut it off, keep the rest.
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
            if line.strip():
                entry = self._parse(number, line)
                self.entries[key(entry)] = entry

    def _parse(self, number: int, line: bytes) -> Entry:
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise self._bad_line(number, "it is not JSON") from None
        problem = shape_problem(entry)
        if problem is not None:
            raise self._bad_line(number, problem)
        return entry

    def _bad_line(self, number: int, problem: str) -> BuildFailed:
        return BuildFailed(
            f"{self.path}:{number}: this line of the build journal is not an entry: {problem}",
            f"the journal is written by recipec alone; delete line {number} (its generation is "
            f"made again on the next build) or delete {self.path} to generate everything again",
        )

    def get(self, *parts: str) -> Entry | None:
        return self.entries.get(tuple(parts))

    def append(self, entry: Entry) -> None:
        """Write one entry and fsync it; after an error the journal must be closed, not reused."""
        data = memoryview(orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n")
        try:
            while data:
                data = data[os.write(self._fd, data) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise os_failure(exc, self.path, "append to the build journal") from None
        self.entries[key(entry)] = entry

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def key(entry: Entry) -> Key:
    return (entry["kind"], entry["job"], str(entry["attempt"]), entry["fp"])


def shape_problem(entry: Any) -> str | None:
    """None for a well-formed journal entry, else what is wrong with it."""
    if not isinstance(entry, dict):
        return f"it is {_json_type(entry)}, not an object"
    kind = entry.get("kind")
    if kind not in FIELDS:
        known = " or ".join(f"'{name}'" for name in FIELDS)
        return f"unknown kind {orjson.dumps(kind).decode()} (an entry's kind is {known})"
    for name, types in FIELDS[kind].items():
        if name not in entry:
            return f"a '{kind}' entry has no '{name}'"
        value = entry[name]
        # bool is an int to Python, never to the journal.
        if types and (isinstance(value, bool) or not isinstance(value, types)):
            return f"'{name}' is {_json_type(value)}, expected {TYPE_NAMES[types[0]]}"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer"}.get(
        type(value), "a number"
    )
