"""Golden plans: `recipec plan --json` output compared byte for byte (UPDATE_GOLDEN=1 rewrites)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson
import pytest

import recipec
from recipec.diagnostics import RecipeError
from recipec.planner import write_json

ROOT = Path(__file__).parent.parent
CASES = sorted((Path(__file__).parent / "cases" / "plan").glob("*.recipe"))


def _plan_bytes(path: Path) -> bytes:
    buffer = io.BytesIO()
    write_json(recipec.plan(recipec.check(recipec.parse(path.relative_to(ROOT)))), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_matches_golden(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    golden = path.with_suffix(".plan.json")
    actual = _plan_bytes(path)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(actual)
    assert actual == golden.read_bytes()


def test_plan_meets_quota_exactly_and_is_valid_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    plan = orjson.loads(_plan_bytes(CASES[0]))
    jobs = plan["jobs"]
    assert len(jobs) == 4
    assert sum(1 for j in jobs if j["persona"]["level"] == "expert") >= 2
    assert all(
        j["persona"]["topic"] == "basics" for j in jobs if j["persona"]["level"] == "beginner"
    )
    assert all(18 <= j["persona"]["age"] <= 70 for j in jobs)
    assert len({j["seed"] for j in jobs}) == 4


def test_million_job_plan_streams(tmp_path: Path) -> None:
    """Planning is a generator: the first jobs of a huge mix come without planning the rest."""
    text = (
        CASES[0]
        .read_text()
        .replace("total = 6\n", "")
        .replace("take real 2\n", "")
        .replace("take qa 4", "take qa 1000000")
    )
    path = CASES[0].parent / "_big.recipe"
    path.write_text(text)
    try:
        plan = recipec.plan(recipec.check(recipec.parse(path)))
        jobs = plan.jobs()
        first = [next(jobs) for _ in range(3)]
    finally:
        path.unlink()
    assert [j.index for j in first] == [0, 1, 2]


def test_a_condition_too_rare_to_plan_is_a_diagnostic(tmp_path: Path) -> None:
    """This condition passes `check` (a sample meets it) but one job cannot be planned: the
    planner reports it as a diagnostic, never a traceback (it once raised IndexError)."""
    text = CASES[0].read_text()
    text = text.replace(
        '"../check/data/real.jsonl"',
        f'"{CASES[0].parent.parent / "check" / "data" / "real.jsonl"}"',
    )
    text = text.replace('"../../../models/', f'"{ROOT}/models/')
    text = text.replace("online = bool(0.3)", "rare   = int(1..20000)")
    text = text.replace("take qa 4", "take qa 4 where persona.rare <= 1")
    text = text.replace('quota qa where persona.level == "expert" at_least 2', "").replace(
        "take real 2", "take real 2\n"
    )
    path = tmp_path / "rare.recipe"
    path.write_text(text)
    program = recipec.check(recipec.parse(path))
    with pytest.raises(RecipeError) as info:
        list(recipec.plan(program).jobs())
    message = info.value.diagnostics[0].message
    assert message.startswith("job train/qa/000000: no persona of 'asker'")


def test_plan_round_trips_through_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan read back from `plan --json` has the same header and jobs, and writes the same
    bytes again: the file is the build's whole contract."""
    monkeypatch.chdir(ROOT)
    written = _plan_bytes(CASES[0])
    path = tmp_path / "plan.json"
    path.write_bytes(written)
    again = recipec.read_plan(path)
    original = recipec.plan(recipec.check(recipec.parse(CASES[0].relative_to(ROOT))))
    assert again.header == original.header
    assert list(again.jobs()) == list(original.jobs())
    buffer = io.BytesIO()
    write_json(again, buffer)
    assert buffer.getvalue() == written


def test_a_slice_of_jobs_is_planned_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    plan = recipec.plan(recipec.check(recipec.parse(CASES[0].relative_to(ROOT))))
    everything = list(plan.jobs())
    assert list(plan.jobs(start=1, stop=3)) == everything[1:3]


def test_retries_draw_other_few_shot_examples() -> None:
    """A task shown examples gets a fresh, seeded draw per retry (issue: a job copied the same
    example in all six attempts)."""
    program = recipec.check(recipec.parse(ROOT / "recipes" / "counseling.recipe"))
    jobs = list(recipec.plan(program).jobs())
    for job in jobs:
        draws = [job.prompt(a).examples for a in range(6)]
        assert len({orjson.dumps(d) for d in draws}) > 1
        assert job.prompt(0).messages == job.messages
    again = list(recipec.plan(program).jobs())
    assert [j.retry_prompts for j in again] == [j.retry_prompts for j in jobs]


def test_degenerate_checks_named_by_the_recipe_reach_the_plan(tmp_path: Path) -> None:
    from recipec import program
    from recipec.dataset.degenerate import REASONS

    assert program.DEGENERATE_CHECKS == REASONS  # one vocabulary
    text = (ROOT / "recipes" / "counseling.recipe").read_text()
    text = text.replace("  dedupe near 0.85", '  dedupe near 0.85\n  degenerate = ["echo"]')
    recipe = ROOT / "recipes" / "_degenerate.recipe"
    recipe.write_text(text)
    try:
        plan = recipec.plan(recipec.check(recipec.parse(recipe)))
    finally:
        recipe.unlink()
    assert plan.header.mixes[0].degenerate_off == ("same_answers", "prompt_copy", "repetition")
