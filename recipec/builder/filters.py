"""Filters: a Candidate in, a rejection reason (or None) out; one protocol, one ordered tuple.

The accept fold runs every candidate through `filters_for(...)` in order, cheapest first and the
judge last, and tells each filter about the records it keeps (`remember`), so duplicates are
found against everything accepted before, real rows included. Adding a filter is a class here
and a line in `filters_for`; its reason name joins `records.REASONS`.
"""

from __future__ import annotations

from typing import Protocol

from recipec import dataset as ds
from recipec.builder.generate import Generator
from recipec.builder.records import Attempt, Candidate, Record, to_example
from recipec.dataset.degenerate import example_turns
from recipec.ir import Header, Job, MixPlan

# What `candidate` checks before any filter runs: provenance lists these, then the filters'.
CANDIDATE_CHECKS = ("complete", "json", "schema", "length_bounds")


class Filter(Protocol):
    name: str  # as provenance lists it among the checks a record passed

    def check(self, c: Candidate) -> str | None:
        """The rejection reason for `c`, or None to let it through."""

    def remember(self, record: Record) -> None:
        """`record` was accepted (real rows first, then synthetic ones in plan order)."""


def candidate(job: Job, attempt: Attempt) -> Candidate | str:
    """A finished, parseable, schema-valid attempt as an example; else the rejection reason."""
    if attempt.finish != "stop" or attempt.value is None:
        return "truncated" if attempt.finish == "length" else "invalid_json"
    if ds.validate(attempt.value, job.schema):
        return "schema"
    if ds.cut_strings(attempt.value, job.schema):
        # Decoding closed a string at its maxLength, most likely mid-word: a training target
        # that stops mid-word is worse than another attempt.
        return "truncated"
    stratum = "|".join(job.strata)
    return Candidate(
        job, attempt, to_example(job.id, job.task, attempt.value, job.format, True, stratum)
    )


class ExactDedupe:
    name = "exact_dedupe"

    def __init__(self) -> None:
        self.seen = ds.ExactDeduper()

    def check(self, c: Candidate) -> str | None:
        return "exact_duplicate" if self.seen.contains(c.example.text()) else None

    def remember(self, record: Record) -> None:
        self.seen.add(record.example.id, record.example.text())


class NearDedupe:
    def __init__(self, threshold: float) -> None:
        self.seen = ds.NearDeduper(threshold)
        self.name = f"near_dedupe {threshold:g}"

    def check(self, c: Candidate) -> str | None:
        return "near_duplicate" if self.seen.find(c.example.text()) else None

    def remember(self, record: Record) -> None:
        self.seen.add(record.example.id, record.example.text())


class Leakage:
    """Rejects a record whose generated text reproduces a field of any row of a guarded real
    source, or of a few-shot example its prompt showed (dataset/leakage.py says how)."""

    def __init__(self, header: Header, source: str, max_overlap: float) -> None:
        fields = [f for r in header.sources[source].rows for f in ds.row_fields(r.id, r.values)]
        self.guard = ds.LeakageGuard(fields, max_overlap)
        self.name = f"leakage {source} {max_overlap:g}"

    def check(self, c: Candidate) -> str | None:
        texts = ds.generated_texts(c.attempt.value)
        nearest = self.guard.nearest(texts)
        if nearest is not None:
            _note_nearest(c, nearest)
        shown = ds.example_fields(c.job.prompt(c.attempt.attempt).examples)
        return "leakage" if self.guard.check(texts, shown) else None

    def remember(self, record: Record) -> None:
        pass


def _note_nearest(c: Candidate, leak: ds.Leak) -> None:
    """Keep the closest real row any guard found, for provenance."""
    known = c.evidence.get("nearest_real")
    if known is None or leak.containment > known["overlap"]:
        c.evidence["nearest_real"] = {
            "id": leak.row_id,
            "field": leak.field_id,
            "overlap": round(leak.containment, 4),
            "run": leak.run,
        }


class Degenerate:
    """Rejects an answer that repeats its question, copies the prompt, or repeats itself."""

    def __init__(self, off: tuple[str, ...]) -> None:
        self.settings = ds.DegenerateSettings.without(off)
        self.name = "degenerate " + (",".join(self.settings.enabled()) or "none")

    def check(self, c: Candidate) -> str | None:
        prompt = "\n".join(m["content"] for m in c.job.prompt(c.attempt.attempt).messages)
        supplied = [str(v) for v in (c.job.persona or {}).values()]
        turns = example_turns(c.example)
        return ds.degenerate_turns(turns, prompt, self.settings, supplied)

    def remember(self, record: Record) -> None:
        pass


class JudgeFilter:
    """Scores a record with the judge model; below the recipe's minimum is a rejection."""

    def __init__(self, header: Header, mix: MixPlan, generator: Generator) -> None:
        assert mix.judge is not None
        self.judge, self.model, self.generator = (
            mix.judge,
            header.models[mix.judge.model],
            generator,
        )
        self.name = f"judge {mix.judge.model} min {mix.judge.min}"

    def check(self, c: Candidate) -> str | None:
        score = self.generator.verdict(c, self.judge, self.model).score
        c.evidence["judge_score"] = score
        return "judge" if score < self.judge.min else None

    def remember(self, record: Record) -> None:
        pass


def filters_for(header: Header, mix: MixPlan, generator: Generator) -> tuple[Filter, ...]:
    """The mix's filters in the order they run: degenerate records, dedupe, leakage, then the
    (costly) judge."""
    filters: list[Filter] = [Degenerate(mix.degenerate_off)]
    if mix.dedupe:
        filters.append(ExactDedupe())
        if mix.dedupe[0] == "near":
            filters.append(NearDedupe(mix.dedupe[1]))
    filters += [Leakage(header, source, overlap) for source, overlap in mix.leakage]
    if mix.judge:
        filters.append(JudgeFilter(header, mix, generator))
    return tuple(filters)
