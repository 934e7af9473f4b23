"""A record's trip, typed: a journaled Attempt, a Candidate with its Example, a written Record
with its Provenance row. Every shape the build passes between stages is defined here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from recipec import dataset as ds
from recipec.dataset.degenerate import REASONS as DEGENERATE_REASONS
from recipec.ir import Format, Job, Json

# The one vocabulary of rejection reasons: filters return these, the manifest and the report
# count them. `DROPS` are the ones that remove an otherwise well-formed record.
DROPS = (
    *DEGENERATE_REASONS,
    "exact_duplicate",
    "near_duplicate",
    "leakage",
    "judge",
)
REASONS = ("truncated", "invalid_json", "schema", *DROPS)


@dataclass(frozen=True)
class Attempt:
    """One generation for (job, attempt), as the journal keeps it."""

    job: str
    attempt: int
    fp: str  # the job's fingerprint: an entry is reused only for the same job
    seed: int
    text: str
    value: Any
    finish: str  # stop | length
    prompt_tokens: int
    output_tokens: int
    seconds: float

    def to_json(self) -> Json:
        return {"kind": "gen", **self.__dict__}

    @classmethod
    def from_json(cls, d: Json) -> Attempt:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass(frozen=True)
class Verdict:
    """The judge's score for (job, attempt), as the journal keeps it."""

    job: str
    attempt: int
    fp: str  # sha256 of the judge prompt and model: a changed rubric re-judges
    score: int
    prompt_tokens: int
    output_tokens: int

    def to_json(self) -> Json:
        return {"kind": "judge", **self.__dict__}

    @classmethod
    def from_json(cls, d: Json) -> Verdict:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass(frozen=True)
class Candidate:
    """A well-formed, schema-valid attempt as a training example, on its way through filters.
    `evidence` collects what filters measured (judge score, nearest real row) for provenance."""

    job: Job
    attempt: Attempt
    example: ds.Example
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Provenance:
    """Where a written record came from: one row of provenance.jsonl."""

    id: str
    origin: str
    synthetic: bool
    persona: Json | None = None
    seed: int | None = None
    retries: int = 0
    judge_score: int | None = None
    rejections: tuple[str, ...] = ()
    model: str | None = None  # synthetic records only, from here on
    strata: tuple[str, ...] = ()
    output_tokens: int | None = None
    at_bounds: tuple[str, ...] = ()  # strings exactly at a length bound of the schema
    nearest_real: Json | None = None  # {"id", "overlap"}: the real text it is closest to
    checks: tuple[str, ...] = ()  # every check the accepted attempt passed, in order

    def to_json(self) -> Json:
        row = {
            "id": self.id,
            "origin": self.origin,
            "synthetic": self.synthetic,
            "persona": self.persona,
            "seed": self.seed,
            "retries": self.retries,
            "judge_score": self.judge_score,
            "rejections": list(self.rejections),
        }
        if self.synthetic:
            row |= {
                "model": self.model,
                "strata": list(self.strata),
                "output_tokens": self.output_tokens,
                "at_bounds": list(self.at_bounds),
                "nearest_real": self.nearest_real,
                "checks": list(self.checks),
            }
        return row


@dataclass(frozen=True)
class Rejected:
    """An attempt a filter turned away, kept for the report and for `preview`."""

    job: str
    task: str
    attempt: int
    reason: str
    text: str
    persona: Json | None

    def to_json(self) -> Json:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Record:
    """An accepted record: the example to write and where it came from."""

    example: ds.Example
    provenance: Provenance


def real_record(row_id: str, origin: str, values: Json, fmt: Format) -> Record:
    example = to_example(row_id, origin, values, fmt, False, "")
    return Record(example, Provenance(row_id, origin, False))


def synthetic_record(
    c: Candidate, rejections: tuple[str, ...], checks: tuple[str, ...] = ()
) -> Record:
    job = c.job
    provenance = Provenance(
        id=job.id,
        origin=job.task,
        synthetic=True,
        persona=job.persona,
        seed=c.attempt.seed,
        retries=c.attempt.attempt,
        judge_score=c.evidence.get("judge_score"),
        rejections=rejections,
        model=job.model,
        strata=job.strata,
        output_tokens=c.attempt.output_tokens,
        at_bounds=tuple(ds.strings_at_bounds(c.attempt.value, job.schema)),
        nearest_real=c.evidence.get("nearest_real"),
        checks=checks,
    )
    return Record(c.example, provenance)


def field_text(value: Any) -> str:
    """A field as text: strings as they are, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def to_example(
    ident: str, origin: str, value: Any, fmt: Format, synthetic: bool, stratum: str
) -> ds.Example:
    """A record's fields, through its format, become a format-neutral training example."""
    system = (ds.Message("system", fmt.system),) if fmt.system else ()
    roles = dict(fmt.roles)
    if fmt.kind == "preference":
        prompt = ds.Message("user", field_text(value[roles["prompt"]]))
        chosen, rejected = (field_text(value[roles[r]]) for r in ("chosen", "rejected"))
        return ds.Example(
            ident, origin, "preference", (*system, prompt), chosen, rejected, stratum, synthetic
        )
    messages: list[ds.Message] = list(system)
    for turn in value if isinstance(value, list) else [value]:
        messages += _turn(turn, fmt.kind, roles)
    return ds.Example(ident, origin, "chat", tuple(messages), stratum=stratum, synthetic=synthetic)


def _turn(turn: Json, kind: str, roles: dict[str, str]) -> list[ds.Message]:
    if kind == "instruction":
        user = field_text(turn[roles["instruction"]])
        if "input" in roles and turn.get(roles["input"]):
            user += "\n\n" + field_text(turn[roles["input"]])
        answer = field_text(turn[roles["response"]])
    else:
        user, answer = field_text(turn[roles["user"]]), field_text(turn[roles["assistant"]])
    return [ds.Message("user", user), ds.Message("assistant", answer)]
