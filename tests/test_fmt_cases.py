"""Formatter case files: input, a `# output` line, then the expected canonical text."""

from __future__ import annotations

from pathlib import Path

import pytest

import recipec
from recipec.parser import parse
from recipec.source import Source

CASES = sorted((Path(__file__).parent / "cases" / "fmt").glob("*.recipe"))
SHIPPED = sorted((Path(__file__).parent.parent / "recipes").glob("*.recipe"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fmt_case(path: Path) -> None:
    source, expected = path.read_text().split("# output\n")
    result = recipec.format_recipe(source, str(path))
    assert result == expected
    assert recipec.format_recipe(result) == result
    assert parse(Source("a", result)) == parse(Source("a", source))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_recipes_are_formatted_and_check(path: Path) -> None:
    text = path.read_text()
    assert recipec.format_recipe(text, str(path)) == text
    recipec.check(recipec.parse(path))
