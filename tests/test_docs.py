"""The docs are tested: every ```recipe block in docs/*.md checks and is formatted, and a block
followed by a ```text block of diagnostics fails with exactly those diagnostics."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recipec.cli import main

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "cases" / "docs"
MODEL = """
model teacher {
  file   = "../models/SmolLM2-135M-Instruct.Q4_1.gguf"
  sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
}
"""
BLOCK = re.compile(r"```(\w*)[^\n]*\n(.*?)```", re.S)


def _blocks(doc: Path) -> list[tuple[str, str, int]]:
    text = doc.read_text()
    return [
        (m.group(1), m.group(2), text[: m.start()].count("\n") + 1) for m in BLOCK.finditer(text)
    ]


def _cases() -> list[tuple[Path, int]]:
    return [
        (doc, line)
        for doc in sorted((ROOT / "docs").glob("*.md"))
        for lang, _, line in _blocks(doc)
        if lang == "recipe"
    ]


def _errors(output: str) -> list[str]:
    return [
        re.sub(r"^\S+?:(\d+:\d+: )", r"\1", line)
        for line in output.splitlines()
        if " error: " in line
    ]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs") / "recipes"
    shutil.copytree(DATA, folder)
    (folder.parent / "models").symlink_to(ROOT / "models")
    return folder


def _run(workdir: Path, *args: str) -> tuple[int, str]:
    """Run the CLI in-process from the docs' recipes folder; output holds stdout and stderr."""
    old = Path.cwd()
    os.chdir(workdir)
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        os.chdir(old)
    return result.exit_code, result.output


@pytest.mark.parametrize(("doc", "line"), _cases(), ids=[f"{d.stem}:{n}" for d, n in _cases()])
def test_doc_example(doc: Path, line: int, workdir: Path) -> None:
    blocks = _blocks(doc)
    index = next(i for i, b in enumerate(blocks) if b[2] == line)
    _, body, _ = blocks[index]
    after = blocks[index + 1] if index + 1 < len(blocks) else None
    text = doc.read_text()
    if body.startswith("# (unformatted)"):
        path = workdir / f"unformatted{line}.recipe"
        path.write_text(body.split("\n", 1)[1])
        _run(workdir, "fmt", path.name)
        assert after is not None and path.read_text() == after[1]
        return
    named = re.search(
        r"^`recipes/(\S+)`:\s*$", "\n".join(text.splitlines()[max(0, line - 4) : line - 1]), re.M
    )
    path = workdir / (named.group(1) if named else f"example{line}.recipe")
    needs_model = re.search(r"^task ", body, re.M) and not re.search(r"^model ", body, re.M)
    path.write_text(body + MODEL if needs_model and "include" not in body else body)
    expected: list[str] = []
    between = ""
    if (
        after is not None
        and after[0] == "text"
        and "error:" in after[1]
        and after[2] - (line + body.count("\n")) <= 6
    ):
        expected = _errors(after[1])
        between = "\n".join(text.splitlines()[line + body.count("\n") : after[2]])
    command = "plan" if "`recipec plan` reports" in between else "check"
    if command == "plan":
        assert _run(workdir, "check", str(path.relative_to(workdir)))[0] == 0
    code, output = _run(workdir, command, str(path.relative_to(workdir)))
    if expected:
        assert _errors(output) == expected
    else:
        assert code == 0, output
    if not any("[syntax]" in e for e in expected):
        unformatted = workdir / f"fmt{line}.recipe"
        unformatted.write_text(body)
        assert _run(workdir, "fmt", "--check", unformatted.name)[0] == 0
