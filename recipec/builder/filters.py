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
from recipec.builder.records import Attempt, Candidate, Record, field_text, to_example
from recipec.builder.validate import QueryValidator
from recipec.ir import Header, Job, MixPlan


class Filter(Protocol):
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
    stratum = "|".join(job.strata)
    return Candidate(
        job, attempt, to_example(job.id, job.task, attempt.value, job.format, True, stratum)
    )


class ExactDedupe:
    def __init__(self) -> None:
        self.seen = ds.ExactDeduper()

    def check(self, c: Candidate) -> str | None:
        return "exact_duplicate" if self.seen.contains(c.example.text()) else None

    def remember(self, record: Record) -> None:
        self.seen.add(record.example.id, record.example.text())


class NearDedupe:
    def __init__(self, threshold: float) -> None:
        self.seen = ds.NearDeduper(threshold)

    def check(self, c: Candidate) -> str | None:
        return "near_duplicate" if self.seen.find(c.example.text()) else None

    def remember(self, record: Record) -> None:
        self.seen.add(record.example.id, record.example.text())


class Leakage:
    """Rejects a record that reproduces a row of a guarded real source."""

    def __init__(self, header: Header, source: str, max_overlap: float) -> None:
        rows = header.sources[source].rows
        texts = [
            (r.id, " ".join(field_text(v) for v in r.values.values() if v is not None))
            for r in rows
        ]
        self.guard = ds.LeakageGuard(texts, max_overlap)

    def check(self, c: Candidate) -> str | None:
        return "leakage" if self.guard.check(c.example.text()) else None

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

    def check(self, c: Candidate) -> str | None:
        score = self.generator.verdict(c, self.judge, self.model).score
        c.evidence["judge_score"] = score
        return "judge" if score < self.judge.min else None

    def remember(self, record: Record) -> None:
        pass


def filters_for(header: Header, mix: MixPlan, generator: Generator) -> tuple[Filter, ...]:
    """The mix's filters in the order they run: dedupe, leakage, then the (costly) judge."""
    filters: list[Filter] = []
    if mix.dedupe:
        filters.append(ExactDedupe())
        if mix.dedupe[0] == "near":
            filters.append(NearDedupe(mix.dedupe[1]))
    filters += [Leakage(header, source, overlap) for source, overlap in mix.leakage]
    filters += [QueryValidator(header, v) for v in mix.validators]
    if mix.judge:
        filters.append(JudgeFilter(header, mix, generator))
    return tuple(filters)
