"""render_report: report.md and a self-contained, escaped report.html from a small build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from recipec.dataset import Example, Message, render_report
from recipec.dataset.report import NA

HOSTILE = "<script>alert('x')</script>"


def chat(i: int, origin: str, stratum: str, answer: str) -> Example:
    turns = (Message("user", f"question number {i}"), Message("assistant", answer))
    return Example(f"{origin}-{i}", origin, "chat", turns, stratum=stratum)


SPLITS = {
    "train": [chat(i, "qa", "easy", f"answer {i} is here") for i in range(5)]
    + [chat(9, "tricky", "", HOSTILE)],
    "test": [chat(i, "qa", "hard", f"another answer {i}") for i in range(5, 7)],
}
MANIFEST = {
    "recipe": "therapy & <friends>",
    "fingerprint": "f" * 64,
    "seed": 7,
    "model": {"teacher": {"file": "models/tiny.gguf", "sha256": "ab" * 32}},
    "targets": {"qa": 8, "tricky": 1},
    "counts": {"qa": 7, "tricky": 1},
    "quotas": [
        {
            "name": "hard ones",
            "origin": "qa",
            "where": "level == 'hard'",
            "at_least": 2,
            "wanted": 2,
            "delivered": 2,
        },
        {"name": "cap", "origin": "qa", "where": None, "at_most": 1, "wanted": 1, "delivered": 3},
    ],
    "rejections": {"schema": 4, "judge": 2, HOSTILE: 1},
    "dropped": {"exact_duplicate": 3, "near_duplicate": 1, "leakage": 0, "judge": 2},
    "tokens": {"prompt": 1234, "output": 5678},
    "seconds": 12.5,
    "splits": {"train": 6, "test": 2},
}
PROVENANCE = [
    {
        "id": f"qa-{i}",
        "origin": "qa",
        "synthetic": True,
        "persona": {"name": "ana"},
        "seed": i,
        "retries": i % 2,
        "judge_score": 3 + i % 3,
        "rejections": [],
    }
    for i in range(7)
] + [
    {
        "id": "tricky-9",
        "origin": "tricky",
        "synthetic": False,
        "persona": None,
        "seed": 9,
        "retries": 0,
        "judge_score": None,
        "rejections": ["schema"],
    }
]


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[str, str]:
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path / "out")
    return (tmp_path / "out" / "report.md").read_text(), (
        tmp_path / "out" / "report.html"
    ).read_text()


def test_both_files_are_written(rendered):
    markdown, page = rendered
    assert markdown.startswith("# recipec report: therapy &amp; &lt;friends&gt;\n")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_html_is_self_contained(rendered):
    _, page = rendered
    assert not re.search(r"""\b(src|href)\s*=""", page, re.IGNORECASE)
    assert "http" not in page and "<script" not in page.lower() and "@import" not in page
    assert "<svg" in page and "<style>" in page


def test_content_is_escaped(rendered):
    markdown, page = rendered
    assert "&lt;script&gt;" in page and "&lt;friends&gt;" in page
    assert "<script" not in markdown and "&lt;script&gt;" in markdown


@pytest.mark.parametrize(
    "fact",
    [
        "<td>qa</td><td>8</td><td>7</td><td>short by 1</td>",  # counts vs targets
        "<td>hard ones</td><td>qa</td><td>level == &#x27;hard&#x27;</td><td>at least 2</td>",
        "<td>cap</td><td>qa</td><td>n/a</td><td>at most 1</td><td>1</td><td>3</td><td>no</td>",
        "<td>train</td><td>6</td><td>75.0%</td>",
        "<td>qa</td><td>hard</td><td>0</td><td>2</td><td>2</td>",  # stratum by split
        "<td>schema</td><td>4</td>",
        "<td>exact duplicate</td><td>3</td>",
        "<td>output tokens</td><td>5678</td>",
        "<td>seconds</td><td>12.500</td>",
        "<td>5</td><td>2</td>",  # judge score 5 given twice
        "ab" * 32,
    ],
)
def test_html_holds_the_numbers(rendered, fact):
    assert fact in rendered[1]


def test_markdown_holds_the_numbers(rendered):
    markdown, _ = rendered
    assert "| qa | 8 | 7 | short by 1 |" in markdown
    assert "| train | 6 | 75.0% |" in markdown
    assert "| exact duplicate | 3 |" in markdown
    assert "distinct-1" in markdown and "█" in markdown


def test_missing_manifest_keys_show_not_available(tmp_path):
    render_report({}, {"train": []}, [], tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert f"# recipec report: {NA}" in markdown
    assert f"| fingerprint | {NA} |" in markdown and f"<td>leakage</td><td>{NA}</td>" in page


def test_rendering_is_deterministic(tmp_path):
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path / "a")
    shuffled = {**MANIFEST, "rejections": dict(reversed(MANIFEST["rejections"].items()))}
    render_report(shuffled, SPLITS, PROVENANCE, tmp_path / "b")
    for name in ("report.md", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
