"""Build journal: an append-only JSON Lines log of every generation, flushed per entry, so a
killed build loses nothing and a rerun reuses what was already generated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


class Journal:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[tuple[str, ...], dict[str, Any]] = {}
        self.stale = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self._file = open(path, "ab")  # noqa: SIM115 - kept open for the whole build

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # A build killed mid-write leaves a partial last line: cut it off, keep the rest.
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for line in data[:end].splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            self.entries[key(entry)] = entry

    def get(self, *parts: str) -> dict[str, Any] | None:
        return self.entries.get(tuple(parts))

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.entries[key(entry)] = entry

    def close(self) -> None:
        self._file.close()


def key(entry: dict[str, Any]) -> tuple[str, ...]:
    return (entry["kind"], entry["job"], str(entry["attempt"]), entry["fp"])
