"""Accept: jobs in plan order in; accepted Records, rejection counts and failed jobs out.

One ordered fold: for each job, attempts 0, 1, … come from the generator until one passes every
filter or the retries run out. Only this fold depends on order (what was accepted before decides
what is a duplicate), so generation can run ahead in batches or elsewhere and the result is
the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from recipec.builder.filters import CANDIDATE_CHECKS, Filter, candidate
from recipec.builder.generate import Generator
from recipec.builder.records import Attempt, Candidate, Record, Rejected, synthetic_record
from recipec.ir import Job

SAMPLE = 20  # rejected attempts kept per reason, with their text


@dataclass
class Outcome:
    """What the fold produced: records in acceptance order, and what it turned away."""

    records: list[Record] = field(default_factory=list)
    rejections: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)  # ids of jobs that found no record
    fingerprints: list[str] = field(default_factory=list)  # of every job folded, in order
    keys: set[str] = field(default_factory=set)  # journal keys of every attempt folded
    rejected: list[Rejected] = field(default_factory=list)  # up to `sample` per reason
    stopped: str | None = None  # why the fold stopped before the last job, if it did
    sample: int | None = SAMPLE  # None keeps every rejected attempt (preview)

    def reject(self, job: Job, attempt: Attempt, reason: str) -> None:
        self.rejections[reason] += 1
        if self.sample is None or self.rejections[reason] <= self.sample:
            self.rejected.append(
                Rejected(job.id, job.task, attempt.attempt, reason, attempt.text, job.persona)
            )


# Told of every attempt: the job, the attempt, why it was rejected (None: accepted), and
# whether the generation came from the journal.
OnAttempt = Callable[[Job, Attempt, str | None, bool], None]


def accept(
    jobs: Iterable[Job],
    generator: Generator,
    filters: tuple[Filter, ...],
    retries: int,
    outcome: Outcome,
    on_attempt: OnAttempt | None = None,
    max_failures: int | None = None,
) -> Outcome:
    """Fold `jobs` into `outcome` (which already holds the real rows, remembered by filters).
    Stops early once `max_failures` jobs found no acceptable record."""
    for done, job in enumerate(jobs, start=1):
        outcome.fingerprints.append(job.fingerprint)
        record = _first_accepted(job, generator, filters, retries, outcome, on_attempt)
        if record is None:
            outcome.failed.append(job.id)
        else:
            for f in filters:
                f.remember(record)
            outcome.records.append(record)
        if max_failures and len(outcome.failed) >= max_failures:
            outcome.stopped = (
                f"stopped early after {done} job(s): {len(outcome.failed)} found no "
                f"acceptable record in {retries + 1} attempts"
            )
            break
    return outcome


def _first_accepted(
    job: Job,
    generator: Generator,
    filters: tuple[Filter, ...],
    retries: int,
    outcome: Outcome,
    on_attempt: OnAttempt | None,
) -> Record | None:
    reasons: list[str] = []
    for number in range(retries + 1):
        reused_before = generator.counts["reused"]
        key = job.attempt_key(number)
        outcome.keys.add(key)
        attempt = generator.attempt(job, number, key)
        c = candidate(job, attempt)
        reason = c if isinstance(c, str) else _rejected_by(c, filters)
        if on_attempt:
            on_attempt(job, attempt, reason, generator.counts["reused"] > reused_before)
        if reason is None:
            assert isinstance(c, Candidate)
            checks = (*CANDIDATE_CHECKS, *(f.name for f in filters))
            return synthetic_record(c, tuple(reasons), checks)
        reasons.append(reason)
        outcome.reject(job, attempt, reason)
    return None


def _rejected_by(c: Candidate, filters: tuple[Filter, ...]) -> str | None:
    for f in filters:
        reason = f.check(c)
        if reason is not None:
            return reason
    return None
