"""The CLI on good and bad input: exit codes, messages, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
GOOD = ROOT / "recipes" / "counseling.recipe"


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recipec.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_check_clean_exits_0() -> None:
    result = run("check", GOOD)
    assert result.returncode == 0, result.stderr
    assert "no errors" in result.stdout


def test_check_reports_every_error_with_location_and_exits_1() -> None:
    path = ROOT / "tests" / "cases" / "check" / "mixes.recipe"
    result = run("check", path)
    assert result.returncode == 1
    no_traceback(result)
    assert f"{path}:30:3: error: take 5 from 'real'" in result.stderr
    assert "    ^~~~" in result.stderr
    assert "7 errors found" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("check").returncode == 2
    assert run("check", "no-such-file.recipe").returncode == 2
    assert run("frobnicate").returncode == 2


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\xff" * 100,
        "garbage ☃ {{{ ]]] \n".encode() * 500_000,
        b"\xff\xfe not utf8",
        b"recipe x { seed = }",
    ],
    ids=["binary", "10MB-garbage", "bad-utf8", "syntax"],
)
def test_bad_files_get_a_message_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.recipe"
    path.write_bytes(content)
    result = run("check", path)
    assert result.returncode == 1
    no_traceback(result)
    assert "error:" in result.stderr


def test_empty_recipe_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "empty.recipe"
    path.write_text("")
    assert run("check", path).returncode == 0


def test_fmt_check_and_diff_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ugly.recipe"
    ugly = "recipe  x {seed=1}\n"
    path.write_text(ugly)
    assert run("fmt", "--check", path).returncode == 1
    diff = run("fmt", "--diff", path)
    assert diff.returncode == 0 and "+  seed = 1" in diff.stdout
    assert path.read_text() == ugly
    assert run("fmt", path).returncode == 0
    assert path.read_text() == "recipe x {\n  seed = 1\n}\n"
    assert run("fmt", "--check", path).returncode == 0


def test_include_splices_declarations(tmp_path: Path) -> None:
    (tmp_path / "common.recipe").write_text("persona p {\n  age = int(1..3)\n}\n")
    main = tmp_path / "main.recipe"
    main.write_text('include "common.recipe"\ninclude "missing.recipe"\n')
    result = run("check", main)
    assert result.returncode == 1
    assert "main.recipe:2:1: error: included file 'missing.recipe' not found" in result.stderr
    main.write_text('include "common.recipe"\n')
    assert run("check", main).returncode == 0


def test_plan_summary_and_json() -> None:
    summary = run("plan", GOOD)
    assert summary.returncode == 0, summary.stderr
    assert "take counseling_turn" in summary.stdout and "quota" in summary.stdout
    full = run("plan", "--json", GOOD)
    assert full.returncode == 0 and full.stdout.startswith('{"header":')
