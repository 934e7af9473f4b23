"""What a user relies on, measured on real builds with the default teacher by tests/audit.py,
which shares no code with recipec's guards: no synthetic record holds a real field (verbatim or
80% of its word 5-grams), no eval record near-duplicates a train record, no exported string was
cut at its length bound. Built: the shipped demo, and a hybrid that takes and guards every real
row while prompting with two real rows per record (the case that copies most)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import audit
import orjson
import pytest

import recipec

ROOT = Path(__file__).parent.parent
REAL = ROOT / "recipes" / "data" / "real_sessions.jsonl"
RECIPES = {
    "demo": ROOT / "recipes" / "counseling.recipe",
    "hybrid": ROOT / "tests" / "cases" / "build" / "hybrid.recipe",
}

pytestmark = pytest.mark.model


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="module", params=sorted(RECIPES))
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, teacher_path: Path
) -> tuple[str, Path]:
    name = request.param
    out = tmp_path_factory.mktemp(name) / "out"
    result = subprocess.run(
        [sys.executable, "-m", "recipec.cli", "build", str(RECIPES[name]), "--out", str(out)]
        + ["--allow-dir", str(ROOT / "recipes")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return name, out


def test_no_synthetic_record_holds_a_real_field(built: tuple[str, Path]) -> None:
    _, out = built
    records = _jsonl(out / ".recipec" / "examples.jsonl")
    real_rows = _jsonl(REAL)
    assert sum(r["synthetic"] for r in records) > 0
    assert audit.verbatim_copies(records, real_rows) == []
    assert audit.fivegram_copies(records, real_rows, share=0.8) == []


def test_no_eval_record_near_duplicates_a_train_record(built: tuple[str, Path]) -> None:
    _, out = built
    records = _jsonl(out / ".recipec" / "examples.jsonl")
    train = [r for r in records if r["split"] == "train"]
    held_out = [r for r in records if r["split"] != "train"]
    assert train and held_out
    assert audit.eval_train_near_dups(train, held_out, threshold=0.85) == []


def test_no_exported_string_was_cut_at_its_bound(built: tuple[str, Path]) -> None:
    name, out = built
    allow = (ROOT / "recipes",)
    program = recipec.check(recipec.parse(RECIPES[name], allow=allow), allow=allow)
    schema = next(recipec.plan(program).jobs()).schema
    accepted = {
        (row["id"], row["retries"]) for row in _jsonl(out / "provenance.jsonl") if row["synthetic"]
    }
    outputs = [
        (entry["job"], entry["value"])
        for entry in _jsonl(out / ".recipec" / "journal.jsonl")
        if entry["kind"] == "gen" and (entry["job"], entry["attempt"]) in accepted
    ]
    assert len(outputs) == len(accepted) > 0
    assert audit.strings_at_bound(outputs, schema) == []
    assert audit.mid_word_endings(outputs, schema) == []


def test_what_the_filters_turned_away_is_counted(built: tuple[str, Path]) -> None:
    """The stricter filters reject more: the manifest says how many, by reason."""
    _, out = built
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["status"] == "complete"
    rejected = _jsonl(out / ".recipec" / "rejected.jsonl")
    assert sum(manifest["rejections"].values()) >= len(rejected)
    for row in rejected:
        assert row["reason"] in manifest["rejections"]
