"""`recipec build` on the real default teacher: exact counts, determinism, resume, bad models."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).parent.parent
TINY = ROOT / "tests" / "cases" / "build" / "tiny.recipe"
OUTPUTS = ("train.jsonl", "eval.jsonl", "provenance.jsonl")

pytestmark = pytest.mark.model


def build(recipe: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recipec.cli", "build", str(recipe), "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory, teacher_path: Path) -> Path:
    out = tmp_path_factory.mktemp("build") / "a"
    result = build(TINY, out)
    assert result.returncode == 0, result.stderr
    return out


def test_counts_are_exact_and_records_valid(first_build: Path) -> None:
    manifest = orjson.loads((first_build / "manifest.json").read_bytes())
    assert manifest["status"] == "complete"
    assert manifest["counts"] == {"qa": 4, "real": 2}
    assert manifest["splits"] == {"train": 3, "eval": 3}
    assert manifest["quotas"][0]["delivered"] >= 2
    rows = [
        orjson.loads(line)
        for name in ("train.jsonl", "eval.jsonl")
        for line in (first_build / name).read_bytes().splitlines()
    ]
    assert len(rows) == 6
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] and all(m["content"] for m in row["messages"])
    provenance = [
        orjson.loads(line) for line in (first_build / "provenance.jsonl").read_bytes().splitlines()
    ]
    synthetic = [p for p in provenance if p["synthetic"]]
    assert len(synthetic) == 4
    assert all(1 <= p["judge_score"] <= 5 for p in synthetic)
    assert sum(p["persona"]["mood"] == "worried" for p in synthetic) >= 2
    assert (first_build / "report.md").is_file() and (first_build / "report.html").is_file()


def test_two_builds_are_byte_identical(first_build: Path, tmp_path: Path) -> None:
    result = build(TINY, tmp_path / "b")
    assert result.returncode == 0, result.stderr
    for name in OUTPUTS:
        assert (tmp_path / "b" / name).read_bytes() == (first_build / name).read_bytes(), name


def start_build(out: Path, generations: int) -> subprocess.Popen[str]:
    """A build in the background, returned once its journal holds `generations` entries."""
    journal = out / ".recipec" / "journal.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "recipec.cli", "build", str(TINY), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b'"kind":"gen"') >= generations:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be stopped"
    return proc


def test_sigkill_then_resume_is_byte_identical(first_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    proc = start_build(out, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (out / "train.jsonl").exists()
    result = build(TINY, out)
    assert result.returncode == 0, result.stderr
    assert "resuming:" in result.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (first_build / name).read_bytes(), name


def test_changed_recipe_reuses_what_still_matches(first_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "d"
    shutil.copytree(first_build, out)
    changed = tmp_path / "changed.recipe"
    text = TINY.read_text().replace(
        '"../check/data/real.jsonl"', f'"{TINY.parent.parent / "check" / "data" / "real.jsonl"}"'
    )
    changed.write_text(text.replace("about plants", "about trees"))
    result = build(changed, out)
    assert result.returncode == 0, result.stderr
    assert "no longer match the recipe" in result.stderr


@pytest.mark.parametrize("case", ["missing", "wrong-hash", "truncated", "text"])
def test_bad_models_fail_clearly(case: str, tmp_path: Path, teacher_path: Path) -> None:
    model = tmp_path / "m.gguf"
    digest = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    if case == "wrong-hash":
        shutil.copy(teacher_path, model)
        digest = "0" * 64
    elif case == "truncated":
        with open(teacher_path, "rb") as f:
            model.write_bytes(f.read(5_000_000))
    elif case == "text":
        model.write_text("this is not a model\n")
    recipe = tmp_path / "r.recipe"
    text = TINY.read_text().replace(
        '"../../../models/SmolLM2-135M-Instruct.Q4_1.gguf"', f'"{model}"'
    )
    text = text.replace("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", digest)
    recipe.write_text(
        text.replace(
            '"../check/data/real.jsonl"',
            f'"{TINY.parent.parent / "check" / "data" / "real.jsonl"}"',
        )
    )
    result = build(recipe, tmp_path / "out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    expected = {
        "missing": "not found",
        "wrong-hash": "sha256",
        "truncated": "truncated",
        "text": "not a GGUF",
    }[case]
    assert expected in result.stderr, result.stderr
    assert "hint:" in result.stderr


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_shipped_preference_recipe_writes_dpo_pairs(tmp_path: Path, teacher_path: Path) -> None:
    result = build(ROOT / "recipes" / "support_dpo.recipe", tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _lines(tmp_path / "train.jsonl") + _lines(tmp_path / "test.jsonl")
    assert len(rows) == 4
    for row in rows:
        assert sorted(row) == ["chosen", "prompt", "rejected"]
        assert [m["role"] for m in row["prompt"]] == ["user"]
        assert (
            [m["role"] for m in row["chosen"]]
            == [m["role"] for m in row["rejected"]]
            == ["assistant"]
        )


def test_shipped_multiturn_recipe_keeps_turns(tmp_path: Path, teacher_path: Path) -> None:
    result = build(ROOT / "recipes" / "tutoring_multiturn.recipe", tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _lines(tmp_path / "train.jsonl")
    assert len(rows) == 3
    for row in rows:
        speakers = [turn["from"] for turn in row["conversations"]]
        assert speakers == ["system", "human", "gpt", "human", "gpt"]


def test_regex_constrained_query_pairs(tmp_path: Path, teacher_path: Path) -> None:
    recipe = ROOT / "recipes" / "cypher_pairs.recipe"
    result = build(recipe, tmp_path)
    assert result.returncode == 0, result.stderr
    pattern = re.search(r'regex\("(.*)"\)', recipe.read_text())
    assert pattern is not None
    rows = _lines(tmp_path / "train.jsonl") + _lines(tmp_path / "eval.jsonl")
    assert len(rows) == 3
    for row in rows:
        assert re.fullmatch(pattern.group(1), row["output"]), row["output"]


def test_ctrl_c_stops_cleanly_and_resumes(first_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "e"
    proc = start_build(out, 1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    result = build(TINY, out)
    assert result.returncode == 0, result.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (first_build / name).read_bytes(), name


def test_sigterm_stops_like_ctrl_c_and_resumes(first_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    proc = start_build(out, 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "terminated; everything generated so far is kept" in stderr
    assert "Traceback" not in stderr
    result = build(TINY, out)
    assert result.returncode == 0, result.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (first_build / name).read_bytes(), name


def test_report_rerenders_from_the_output_folder(first_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    shutil.copytree(first_build, out)
    (out / "report.md").unlink()
    (out / "report.html").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "recipec.cli", "report", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (out / "report.md").read_bytes() == (first_build / "report.md").read_bytes()
    assert "<svg" in (out / "report.html").read_text()


def test_prompt_over_the_context_fails_clearly(tmp_path: Path, teacher_path: Path) -> None:
    recipe = tmp_path / "small_context.recipe"
    text = TINY.read_text().replace("max_tokens = 96", "max_tokens = 96\n  context    = 64")
    text = text.replace('"../../../models/', f'"{ROOT}/models/')
    text = text.replace("You write short questions and answers.", "Be brief. " * 40)
    recipe.write_text(text.replace('"../check/data/', f'"{TINY.parent.parent}/check/data/'))
    result = build(recipe, tmp_path / "out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "more than the context of 64" in result.stderr and "hint:" in result.stderr


def test_preview_shows_records_and_a_later_build_reuses_its_work(tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = subprocess.run(
        [sys.executable, "-m", "recipec.cli", "preview", str(TINY), "-n", "2", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "── train/qa/000000" in result.stdout and "── train/qa/000001" in result.stdout
    assert "persona: " in result.stdout and "judge " in result.stdout
    assert "<h3>train/qa/000000</h3>" in (out / ".recipec" / "preview.html").read_text()
    assert not (out / "train.jsonl").exists()
    later = build(TINY, out)
    assert later.returncode == 0, later.stderr
    assert "resuming:" in later.stderr
