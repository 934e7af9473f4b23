"""The build journal: entries survive a reopen, a partial last line is cut off, a line of the
wrong shape is a message with its line number and a fix, every append is fsynced, and a full
disk names the journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from recipec import journal as journal_module
from recipec.diagnostics import BuildFailed
from recipec.journal import Journal
from tests.small_disk import small_disk

GEN = {
    "kind": "gen",
    "job": "main/ask/000000",
    "attempt": 0,
    "fp": "f0",
    "seed": 7,
    "text": '{"a": 1}',
    "value": {"a": 1},
    "finish": "stop",
    "prompt_tokens": 10,
    "output_tokens": 5,
    "seconds": 0.25,
}
JUDGE = {
    "kind": "judge",
    "job": "main/ask/000000",
    "attempt": 0,
    "fp": "j0",
    "score": 4,
    "prompt_tokens": 30,
    "output_tokens": 3,
}


def line(entry: dict[str, object]) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n"


def test_entries_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / ".recipec" / "journal.jsonl"
    with Journal(path) as journal:
        journal.append(GEN)
        journal.append(JUDGE)
        journal.append({**GEN, "attempt": 1, "value": None, "finish": "length"})
    reopened = Journal(path)
    assert reopened.get("gen", "main/ask/000000", "0", "f0") == GEN
    assert reopened.get("judge", "main/ask/000000", "0", "j0") == JUDGE
    assert reopened.get("gen", "main/ask/000000", "1", "f0") is not None
    assert reopened.get("gen", "main/ask/000000", "0", "other") is None
    reopened.close()


def entries(path: Path) -> int:
    with Journal(path) as journal:
        return len(journal.entries)


def test_a_partial_last_line_is_cut_off_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    whole = line(GEN) + line(JUDGE)
    path.write_bytes(whole + line({**GEN, "attempt": 1})[:40])  # killed mid-write
    with Journal(path) as journal:
        assert len(journal.entries) == 2
        assert path.read_bytes() == whole
        journal.append({**GEN, "attempt": 1})
    assert entries(path) == 3


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(line(GEN) + b"\n" + line(JUDGE))
    assert entries(path) == 2


BAD_LINES = {
    "array": (b"[1, 2]", "it is an array, not an object"),
    "number": (b"3", "it is an integer, not an object"),
    "not json": (b"{gen", "it is not JSON"),
    "unknown kind": (
        line({**GEN, "kind": "guess"}),
        "unknown kind \"guess\" (an entry's kind is 'gen' or 'judge')",
    ),
    "no kind": (
        line({k: v for k, v in GEN.items() if k != "kind"}),
        "unknown kind null (an entry's kind is 'gen' or 'judge')",
    ),
    "missing fp": (
        line({k: v for k, v in GEN.items() if k != "fp"}),
        "a 'gen' entry has no 'fp'",
    ),
    "attempt text": (line({**GEN, "attempt": "0"}), "'attempt' is a string, expected an integer"),
    "attempt bool": (line({**GEN, "attempt": True}), "'attempt' is a boolean, expected an integer"),
    "score float": (line({**JUDGE, "score": 4.5}), "'score' is a number, expected an integer"),
    "text null": (line({**GEN, "text": None}), "'text' is null, expected a string"),
    "judge without score": (
        line({k: v for k, v in JUDGE.items() if k != "score"}),
        "a 'judge' entry has no 'score'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_line_of_the_wrong_shape_is_reported_with_its_line(tmp_path: Path, case: str) -> None:
    bad, problem = BAD_LINES[case]
    path = tmp_path / "journal.jsonl"
    path.write_bytes(line(GEN) + b"\n" + bad.rstrip(b"\n") + b"\n" + line(JUDGE))
    with pytest.raises(BuildFailed) as failure:
        Journal(path)
    assert failure.value.message == (
        f"{path}:3: this line of the build journal is not an entry: {problem}"
    )
    assert "delete line 3" in failure.value.hint and str(path) in failure.value.hint


def test_extra_fields_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(line({**GEN, "note": "added later"}))
    assert entries(path) == 1


def test_every_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bytes] = []
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)

    def fsync(descriptor: int) -> None:
        # What is on disk at each fsync: the entries appended so far, whole.
        synced.append(path.read_bytes())

    monkeypatch.setattr(journal_module.os, "fsync", fsync)
    journal.append(GEN)
    journal.append(JUDGE)
    journal.close()
    assert synced == [line(GEN), line(GEN) + line(JUDGE)]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small", "64k") as mount:
        yield mount


def test_a_full_disk_names_the_journal_and_keeps_what_was_written(disk: Path) -> None:
    path = disk / ".recipec" / "journal.jsonl"
    journal = Journal(path)
    big = {**GEN, "text": "x" * 3000}
    written = 0
    with pytest.raises(BuildFailed) as failure:
        for attempt in range(100):
            journal.append({**big, "attempt": attempt})
            written += 1
    journal.close()
    assert written > 0
    assert failure.value.message == (
        f"cannot append to the build journal {path}: no space left on the device"
    )
    assert "free some space" in failure.value.hint
    # The rerun keeps every whole entry and cuts the partial one.
    assert not path.read_bytes().endswith(b"\n")
    assert entries(path) == written
