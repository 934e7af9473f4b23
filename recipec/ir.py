"""The Plan: the build's complete, typed contract (planner -> builder), frozen, to and from JSON.

Nothing here knows the recipe language: a Plan carries every model, source row, filter setting
and job a build needs, so `recipec plan --json FILE > plan.json` followed by
`recipec build plan.json` gives the same bytes as `recipec build FILE`, and a worker can be
handed any slice of jobs. JSON objects are written with sorted keys; the job stream is one job
per line, so a plan file is read back in bounded memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson

from recipec.engine.spec import ModelSpec, Sampling

PLAN_VERSION = 2
Json = dict[str, Any]


def dumps(value: Any) -> bytes:
    """Canonical JSON: sorted keys, so equal values give equal bytes (and equal hashes)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from sha256 of the parts: stable across processes and platforms."""
    digest = hashlib.sha256("/".join(str(x) for x in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


# ---- settings -----------------------------------------------------------------------------


def sampling_to_json(s: Sampling) -> Json:
    return asdict(s)


@dataclass(frozen=True)
class ModelPlan:
    """A model as the recipe declares it: how to load it, and its default sampling."""

    spec: ModelSpec
    sampling: Sampling

    def to_json(self) -> Json:
        s = self.spec
        return {
            "file": str(s.path),
            "sha256": s.sha256,
            "context": s.context,
            "threads": s.threads,
            "gpu_layers": s.gpu_layers,
            "batch": s.batch,
            "chat_template": s.chat_template,
            "sampling": sampling_to_json(self.sampling),
        }

    @classmethod
    def from_json(cls, name: str, d: Json) -> ModelPlan:
        spec = ModelSpec(
            name,
            Path(d["file"]),
            d["sha256"],
            d["context"],
            d["threads"],
            d["gpu_layers"],
            d["chat_template"],
            d["batch"],
        )
        return cls(spec, Sampling(**d["sampling"]))


@dataclass(frozen=True)
class Format:
    """How a record's fields become a training example: kind, (role, field) pairs, system."""

    kind: str  # chat | instruction | preference
    roles: tuple[tuple[str, str], ...]
    system: str | None = None

    def field(self, role: str) -> str | None:
        return dict(self.roles).get(role)

    def to_json(self) -> Json:
        return {"kind": self.kind, "roles": dict(self.roles), "system": self.system}

    @classmethod
    def from_json(cls, d: Json) -> Format:
        return cls(d["kind"], tuple(d["roles"].items()), d["system"])


@dataclass(frozen=True)
class RealRow:
    """One row of a real data source, with the id provenance and leakage reports use."""

    id: str  # "<source>/<file line, 6 digits>"
    values: Json


@dataclass(frozen=True)
class SourcePlan:
    """Every row of a source a mix takes from or guards against (all rows, not only taken)."""

    name: str
    path: str
    format: Format | None
    rows: tuple[RealRow, ...]
    skipped: tuple[tuple[int, str], ...] = ()

    def to_json(self) -> Json:
        return {
            "path": self.path,
            "format": self.format.to_json() if self.format else None,
            "rows": [[r.id, r.values] for r in self.rows],
            "skipped": [list(s) for s in self.skipped],
        }

    @classmethod
    def from_json(cls, name: str, d: Json) -> SourcePlan:
        return cls(
            name,
            d["path"],
            Format.from_json(d["format"]) if d["format"] else None,
            tuple(RealRow(i, v) for i, v in d["rows"]),
            tuple((line, reason) for line, reason in d["skipped"]),
        )


# ---- mixes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    origin: str
    where: str  # the condition as recipe text; jobs name the quotas they fill by it
    bound: str  # at_least | at_most | exactly
    count: int

    @property
    def text(self) -> str:
        return f"{self.origin} where {self.where} {self.bound} {self.count}"


@dataclass(frozen=True)
class Judge:
    model: str
    rubric: str
    min: int
    scale: tuple[int, int] = (1, 5)


@dataclass(frozen=True)
class MixPlan:
    """One mix: what it takes, how it filters, splits and writes."""

    name: str
    total: int
    targets: tuple[tuple[str, int], ...]  # (origin, count) in take order
    real: tuple[tuple[str, tuple[int, ...]], ...]  # (source, indexes of the rows taken)
    quotas: tuple[Quota, ...]
    dedupe: tuple[str, float] | None
    leakage: tuple[tuple[str, float], ...]
    judge: Judge | None
    splits: tuple[tuple[str, float], ...]
    write_path: str
    write_format: str
    retries: int
    models: tuple[str, ...] = ()  # every model the mix's build may call (teachers, judge)
    # task -> attribute -> value -> weight, for `choice` attributes: the report compares draws
    persona_weights: Json = field(default_factory=dict, hash=False)
    degenerate_off: tuple[str, ...] = ()  # degenerate-record checks the recipe switched off

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "models": list(self.models),
            "persona_weights": self.persona_weights,
            "degenerate_off": list(self.degenerate_off),
            "total": self.total,
            # Pairs, not objects: take order is meaningful and JSON keys are written sorted.
            "targets": [list(t) for t in self.targets],
            "real": [[name, list(rows)] for name, rows in self.real],
            "quotas": [
                {"origin": q.origin, "where": q.where, "bound": q.bound, "count": q.count}
                for q in self.quotas
            ],
            "dedupe": list(self.dedupe) if self.dedupe else None,
            "leakage": [list(x) for x in self.leakage],
            "judge": (
                {
                    "model": self.judge.model,
                    "rubric": self.judge.rubric,
                    "min": self.judge.min,
                    "scale": list(self.judge.scale),
                }
                if self.judge
                else None
            ),
            "splits": [list(s) for s in self.splits],
            "write": {"path": self.write_path, "format": self.write_format},
            "retries": self.retries,
        }

    @classmethod
    def from_json(cls, d: Json) -> MixPlan:
        judge = d["judge"]
        return cls(
            d["name"],
            d["total"],
            tuple((origin, count) for origin, count in d["targets"]),
            tuple((name, tuple(rows)) for name, rows in d["real"]),
            tuple(Quota(**q) for q in d["quotas"]),
            (d["dedupe"][0], d["dedupe"][1]) if d["dedupe"] else None,
            tuple((s, o) for s, o in d["leakage"]),
            Judge(judge["model"], judge["rubric"], judge["min"], tuple(judge["scale"]))
            if judge
            else None,
            tuple((n, r) for n, r in d["splits"]),
            d["write"]["path"],
            d["write"]["format"],
            d["retries"],
            tuple(d["models"]),
            d["persona_weights"],
            tuple(d["degenerate_off"]),
        )


# ---- jobs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """What one attempt shows the model: the few-shot rows and the chat messages."""

    examples: tuple[Json, ...]
    messages: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Job:
    """One synthetic record to generate: a pure function of these fields (and the model)."""

    id: str
    mix: str
    task: str
    index: int
    seed: int
    persona: Json | None
    strata: tuple[str, ...]  # the quotas (by condition text) this job's persona fills
    examples: tuple[Json, ...]  # the few-shot rows shown in the prompt
    messages: tuple[dict[str, str], ...]
    schema: Json
    model: str
    model_sha256: str | None
    sampling: Sampling
    turns: int
    format: Format
    retry_prompts: tuple[Prompt, ...] = ()  # attempts 1, 2, …: other few-shot draws

    def prompt(self, attempt: int) -> Prompt:
        """The prompt of attempt `attempt` (0 is the job's own; retries may differ)."""
        if attempt == 0 or not self.retry_prompts:
            return Prompt(self.examples, self.messages)
        return self.retry_prompts[(attempt - 1) % len(self.retry_prompts)]

    def to_json(self) -> Json:
        retries = [
            {"examples": list(r.examples), "messages": list(r.messages)} for r in self.retry_prompts
        ]
        return ({"retry_prompts": retries} if retries else {}) | {
            "id": self.id,
            "mix": self.mix,
            "task": self.task,
            "index": self.index,
            "seed": self.seed,
            "persona": self.persona,
            "strata": list(self.strata),
            "examples": list(self.examples),
            "messages": list(self.messages),
            "schema": self.schema,
            "model": {"name": self.model, "sha256": self.model_sha256},
            "sampling": sampling_to_json(self.sampling),
            "turns": self.turns,
            "format": self.format.to_json(),
        }

    @classmethod
    def from_json(cls, d: Json) -> Job:
        return cls(
            d["id"],
            d["mix"],
            d["task"],
            d["index"],
            d["seed"],
            d["persona"],
            tuple(d["strata"]),
            tuple(d["examples"]),
            tuple(d["messages"]),
            d["schema"],
            d["model"]["name"],
            d["model"]["sha256"],
            Sampling(**d["sampling"]),
            d["turns"],
            Format.from_json(d["format"]),
            tuple(
                Prompt(tuple(r["examples"]), tuple(r["messages"]))
                for r in d.get("retry_prompts", ())
            ),
        )

    @property
    def fingerprint(self) -> str:
        """sha256 of the job's canonical JSON (every attempt's prompt included)."""
        return hashlib.sha256(dumps(self.to_json())).hexdigest()

    def attempt_key(self, attempt: int) -> str:
        """sha256 of what attempt `attempt` depends on: the job less its other attempts'
        prompts, plus this attempt's. The journal's key, so raising `retries` (more retry
        prompts) keeps every generation already made."""
        base = self.to_json()
        base.pop("retry_prompts", None)
        prompt = self.prompt(attempt)
        return hashlib.sha256(
            dumps([base, list(prompt.examples), list(prompt.messages)])
        ).hexdigest()


# ---- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    recipe: str
    file: str
    seed: int
    models: dict[str, ModelPlan] = field(hash=False)
    sources: dict[str, SourcePlan] = field(hash=False)
    mixes: tuple[MixPlan, ...] = ()
    version: int = PLAN_VERSION

    def to_json(self) -> Json:
        return {
            "version": self.version,
            "recipe": self.recipe,
            "file": self.file,
            "seed": self.seed,
            "models": {name: m.to_json() for name, m in sorted(self.models.items())},
            "sources": {name: s.to_json() for name, s in sorted(self.sources.items())},
            "mixes": [m.to_json() for m in self.mixes],
        }

    @classmethod
    def from_json(cls, d: Json) -> Header:
        if d.get("version") != PLAN_VERSION:
            raise PlanFormatError(
                f"plan version {d.get('version')!r}; this recipec reads version {PLAN_VERSION}"
            )
        return cls(
            d["recipe"],
            d["file"],
            d["seed"],
            {n: ModelPlan.from_json(n, m) for n, m in d["models"].items()},
            {n: SourcePlan.from_json(n, s) for n, s in d["sources"].items()},
            tuple(MixPlan.from_json(m) for m in d["mixes"]),
        )

    def mix(self, name: str) -> MixPlan:
        return next(m for m in self.mixes if m.name == name)


JobStream = Callable[[str], Iterator[Job]]


@dataclass(frozen=True)
class Plan:
    """A header and, per mix, a deterministic stream of jobs (planned lazily, or read)."""

    header: Header
    stream: JobStream = field(compare=False)

    def jobs(
        self, mix: str | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[Job]:
        """The jobs of one mix (or all), `start` to `stop` within each mix."""
        for m in self.header.mixes:
            if mix is None or m.name == mix:
                yield from islice(self.stream(m.name), start, stop)


class PlanFormatError(Exception):
    """A plan file that is not a plan this recipec wrote."""


def write_plan(plan: Plan, out: IO[bytes]) -> None:
    """The full plan as one JSON document, one job per line (bounded memory)."""
    out.write(b'{"header":' + dumps(plan.header.to_json()) + b',"jobs":[')
    for i, job in enumerate(plan.jobs()):
        out.write((b",\n" if i else b"\n") + dumps(job.to_json()))
    out.write(b"\n]}\n")


def read_plan(path: Path) -> Plan:
    """A plan written by `write_plan`; jobs are re-read from the file on demand."""
    with open(path, "rb") as f:
        first = f.readline()
    prefix, suffix = b'{"header":', b',"jobs":['
    try:
        if not (first.startswith(prefix) and first.rstrip().endswith(suffix)):
            raise ValueError("not in the layout `recipec plan --json` writes")
        header = Header.from_json(orjson.loads(first.rstrip()[len(prefix) : -len(suffix)]))
    except (ValueError, KeyError, TypeError) as exc:
        raise PlanFormatError(f"{path}: not a recipec plan ({exc})") from None

    def stream(mix: str) -> Iterator[Job]:
        with open(path, "rb") as f:
            f.readline()
            for number, line in enumerate(f, start=2):
                line = line.strip().rstrip(b",")
                if not line or line == b"]}":
                    continue
                try:
                    job = Job.from_json(orjson.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    raise PlanFormatError(f"{path}:{number}: not a plan job ({exc})") from None
                if job.mix == mix:
                    yield job

    return Plan(header, stream)
