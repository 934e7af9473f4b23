"""A build whose generations are batched ahead gives the bytes of one generating one at a time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

import recipec
from recipec.builder import LlamaBackend
from recipec.builder.generate import Generator
from recipec.diagnostics import BuildFailed
from recipec.engine import Sampling
from recipec.engine.teacher import Generation
from recipec.journal import Journal

ROOT = Path(__file__).parent.parent
TINY = ROOT / "tests" / "cases" / "build" / "tiny.recipe"
OUTPUTS = ("train.jsonl", "eval.jsonl", "provenance.jsonl")

pytestmark = pytest.mark.model


class OneAtATime:
    """LlamaBackend without `generate_many`: the build generates each attempt when the fold
    asks for it, the way it did before batching."""

    def __init__(self, inner: LlamaBackend) -> None:
        self.inner = inner
        self.calls = 0

    def prepare(self, models: Iterable[str]) -> None:
        self.inner.prepare(models)

    def generate(
        self, model: str, messages: Any, schema: dict[str, Any], seed: int, sampling: Sampling
    ) -> Generation:
        self.calls += 1
        return self.inner.generate(model, messages, schema, seed, sampling)

    def versions(self) -> dict[str, str]:
        return self.inner.versions()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def batched(monkeypatch: pytest.MonkeyPatch, teacher_path: Path) -> Any:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("RECIPEC_PARALLEL", "3")  # batch even on one thread
    return recipec.plan(recipec.check(recipec.parse(TINY.relative_to(ROOT))))


def test_batched_build_equals_one_at_a_time(
    tmp_path: Path, batched: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = batched
    batches: list[int] = []
    real = Generator._generate_ahead

    def spy(self: Generator, jobs: list[Any]) -> None:
        batches.append(len(jobs))
        real(self, jobs)

    monkeypatch.setattr(Generator, "_generate_ahead", spy)
    recipec.build(plan, tmp_path / "batched")
    assert max(batches) > 1  # generations really went ahead in a batch
    # ... and the fold used them: every (job, attempt) was generated once, never again.
    entries = [
        orjson.loads(line)
        for line in (tmp_path / "batched" / ".recipec" / "journal.jsonl").read_bytes().splitlines()
    ]
    made = [(e["job"], e["attempt"]) for e in entries if e["kind"] == "gen"]
    assert len(made) == len(set(made))
    single = OneAtATime(LlamaBackend(plan.header.models))
    recipec.build(plan, tmp_path / "single", backend=single)
    assert single.calls > 0
    for name in OUTPUTS:
        batched = (tmp_path / "batched" / name).read_bytes()
        assert batched == (tmp_path / "single" / name).read_bytes(), name


def test_a_build_killed_mid_batch_resumes_to_the_same_bytes(
    tmp_path: Path, batched: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted after 2 generations of the first batch were journaled (the others were in
    flight): the rerun keeps those 2, regenerates the rest, and writes the bytes of a build
    that was never interrupted."""
    recipec.build(batched, tmp_path / "whole")
    appended = {"n": 0}
    real = Journal.append

    def dying(self: Journal, entry: dict[str, Any]) -> None:
        if appended["n"] == 2:
            raise KeyboardInterrupt
        appended["n"] += 1
        real(self, entry)

    monkeypatch.setattr(Journal, "append", dying)
    with pytest.raises(BuildFailed):
        recipec.build(batched, tmp_path / "resumed")
    monkeypatch.setattr(Journal, "append", real)
    journal = (tmp_path / "resumed" / ".recipec" / "journal.jsonl").read_bytes()
    assert journal.count(b"\n") == 2
    recipec.build(batched, tmp_path / "resumed")
    for name in OUTPUTS:
        resumed = (tmp_path / "resumed" / name).read_bytes()
        assert resumed == (tmp_path / "whole" / name).read_bytes(), name
