"""Checker case files: each `# E: code: message` comment names a diagnostic on its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import recipec
from recipec.diagnostics import RecipeError

CASES = sorted((Path(__file__).parent / "cases" / "check").glob("*.recipe"))
EXPECT = re.compile(r"# E: ([a-z-]+): (.+?)\s*$")


def expected(path: Path) -> list[tuple[int, str, str]]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = EXPECT.search(line)
        if m:
            out.append((number, m.group(1), m.group(2)))
    return out


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_check_case(path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(path))
    found = [
        (d.span.line, d.code, d.message) for d in info.value.diagnostics if d.span.file == str(path)
    ]
    for line, code, text in expected(path):
        matches = [f for f in found if f[0] == line and f[1] == code and text in f[2]]
        assert matches, f"line {line}: expected [{code}] {text!r}; found {found}"
    assert len(found) == len(expected(path)), f"unexpected diagnostics: {found}"


def test_data_rows_are_reported_at_their_file_and_line() -> None:
    path = Path(__file__).parent / "cases" / "check" / "data_rows.recipe"
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(path))
    rows = [
        (Path(d.span.file).name, d.span.line, d.message)
        for d in info.value.diagnostics
        if d.code == "data"
    ]
    assert [(f, line) for f, line, _ in rows] == [("bad.jsonl", 2), ("bad.jsonl", 3)]
    assert rows[0][2].startswith("malformed JSON")
    assert rows[1][2] == "field 'n' must be int, not a string"
