"""The resolved program: every name bound, defaults filled, sources loaded; plus the semantics
of persona sampling and conditions that the checker and planner share."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from recipec.formats import FORMATS
from recipec.source import NO_SPAN, Span

EXPORT_FORMATS = tuple(FORMATS)
JUDGE_SCALE = (1, 5)
# The degenerate-record checks a mix runs (all, unless its `degenerate` setting lists fewer);
# the names are the rejection reasons recipec.dataset.degenerate returns.
DEGENERATE_CHECKS = ("echo", "same_answers", "prompt_copy", "repetition")


# ---- conditions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cmp:
    path: tuple[str, ...]  # ("persona", "age") or ("row", "condition")
    op: str
    value: Any


@dataclass(frozen=True)
class In:
    path: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Neg:
    item: Cond


@dataclass(frozen=True)
class AllOf:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Cond, ...]


Cond = Cmp | In | Neg | AllOf | AnyOf

_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def lookup(env: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = env
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def holds(cond: Cond, env: dict[str, Any]) -> bool:
    match cond:
        case Cmp(path, op, expected):
            actual = lookup(env, path)
            try:
                return bool(_OPS[op](actual, expected))
            except TypeError:  # None or mixed types never satisfy an ordering
                return False
        case In(path, values):
            return lookup(env, path) in values
        case Neg(item):
            return not holds(item, env)
        case AllOf(items):
            return all(holds(i, env) for i in items)
        case AnyOf(items):
            return any(holds(i, env) for i in items)
    raise TypeError(cond)


def describe(cond: Cond) -> str:
    """A condition as recipe text, for plans and reports."""
    match cond:
        case Cmp(path, op, value):
            return f"{'.'.join(path)} {op} {_literal(value)}"
        case In(path, values):
            return f"{'.'.join(path)} in [{', '.join(_literal(v) for v in values)}]"
        case Neg(item):
            return f"not ({describe(item)})"
        case AllOf(items):
            return " and ".join(f"({describe(i)})" for i in items)
        case AnyOf(items):
            return " or ".join(f"({describe(i)})" for i in items)
    raise TypeError(cond)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# ---- persona samplers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float
    integer: bool


@dataclass(frozen=True)
class Normal:
    mean: float
    sd: float
    lo: float
    hi: float
    integer: bool


@dataclass(frozen=True)
class Bernoulli:
    p: float


@dataclass(frozen=True)
class When:
    """An attribute whose distribution depends on attributes sampled before it."""

    cond: Cond
    then: Sampler
    else_: Sampler


Sampler = Const | Choice | Uniform | Normal | Bernoulli | When


def draw(sampler: Sampler, rng: random.Random, env: dict[str, Any]) -> Any:
    match sampler:
        case Const(value):
            return value
        case Choice(values, weights):
            return values[_weighted_index(weights, rng)]
        case Uniform(lo, hi, integer):
            return rng.randint(int(lo), int(hi)) if integer else round(rng.uniform(lo, hi), 6)
        case Normal(mean, sd, lo, hi, integer):
            x = min(max(rng.gauss(mean, sd), lo), hi)
            return int(round(x)) if integer else round(x, 6)
        case Bernoulli(p):
            return rng.random() < p
        case When(cond, then, else_):
            return draw(then if holds(cond, env) else else_, rng, env)
    raise TypeError(sampler)


def _weighted_index(weights: tuple[float, ...], rng: random.Random) -> int:
    # Explicit cumulative search: identical across Python versions, unlike random.choices.
    point = rng.random() * math.fsum(weights)
    total = 0.0
    for index, weight in enumerate(weights):
        total += weight
        if point < total:
            return index
    return len(weights) - 1


def domain(sampler: Sampler) -> tuple[Any, ...] | None:
    """The finite set of values a sampler can produce, where there is one (for `balance`)."""
    match sampler:
        case Const(value):
            return (value,)
        case Choice(values, weights):
            return tuple(v for v, w in zip(values, weights, strict=True) if w > 0)
        case Bernoulli(p):
            return tuple(v for v in (True, False) if (p if v else 1 - p) > 0)
        case Uniform(lo, hi, True) if hi - lo < 1000:
            return tuple(range(int(lo), int(hi) + 1))
    return None


# ---- declarations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str
    path: str
    sha256: str | None
    context: int = 2048
    threads: int | None = None
    gpu_layers: int = 0
    batch: int = 512
    chat_template: str | None = None
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    max_tokens: int = 512
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Format:
    """How a record's fields become a training example."""

    kind: str  # chat | instruction | preference
    roles: tuple[tuple[str, str], ...]  # (role, field name), in the call's order
    system: str | None = None

    def field(self, role: str) -> str | None:
        return dict(self.roles).get(role)


@dataclass(frozen=True)
class Persona:
    name: str
    attributes: tuple[tuple[str, Sampler], ...]
    requires: tuple[Cond, ...] = ()
    span: Span = field(default=NO_SPAN, compare=False)

    def sampler(self, name: str) -> Sampler | None:
        return dict(self.attributes).get(name)


class Unsatisfiable(Exception):
    """No persona meets the constraints within the sampling budget."""


def sample_persona(
    persona: Persona, rng: random.Random, extra: Cond | None = None, budget: int = 10_000
) -> dict[str, Any]:
    """Rejection-sample one persona meeting its `require`s and `extra` (a quota or `where`)."""
    for _ in range(budget):
        values: dict[str, Any] = {}
        for name, sampler in persona.attributes:
            values[name] = draw(sampler, rng, values)
        env = {**values, "persona": values}
        if all(holds(c, env) for c in persona.requires) and (extra is None or holds(extra, env)):
            return values
    raise Unsatisfiable(persona.name)


@dataclass(frozen=True)
class SourceField:
    name: str
    type: str  # string | int | float | bool
    optional: bool = False


@dataclass(frozen=True)
class DataSource:
    name: str
    path: str
    fields: tuple[SourceField, ...]
    rows: tuple[dict[str, Any], ...]
    lines: tuple[int, ...]  # the file line of each row
    format: Format | None = None
    skipped: tuple[tuple[int, str], ...] = ()
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Template:
    text: str
    line: int  # recipe line of the template's first line
    col: int  # recipe column of the template's first character
    file: str
    indent: int = 0  # columns removed from later lines by dedenting


@dataclass(frozen=True)
class Task:
    name: str
    model: str
    persona: str | None
    system: Template | None
    prompt: Template
    schema: dict[str, Any]
    fields: tuple[str, ...]
    format: Format
    examples: tuple[str, int] | None = None
    turns: int = 1
    sampling: tuple[tuple[str, float], ...] = ()  # overrides of the model's sampling
    span: Span = field(default=NO_SPAN, compare=False)
    shows_examples: bool = False  # the prompt renders `examples` itself


@dataclass(frozen=True)
class TakeRule:
    origin: str
    synthetic: bool
    count: int
    where: Cond | None = None


@dataclass(frozen=True)
class QuotaRule:
    origin: str
    where: Cond
    bound: str  # at_least | at_most | exactly
    count: int
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def text(self) -> str:
        return f"{self.origin} where {describe(self.where)} {self.bound} {self.count}"


@dataclass(frozen=True)
class JudgeRule:
    model: str
    rubric: str
    min: int


@dataclass(frozen=True)
class Mix:
    name: str
    total: int
    takes: tuple[TakeRule, ...]
    quotas: tuple[QuotaRule, ...] = ()
    dedupe: tuple[str, float] | None = None  # ("exact", 1.0) or ("near", threshold)
    leakage: tuple[tuple[str, float], ...] = ()
    judge: JudgeRule | None = None
    splits: tuple[tuple[str, float], ...] = (("train", 1.0),)
    write_path: str = "out"
    write_format: str = "openai_chat"
    retries: int = 5
    degenerate: tuple[str, ...] = DEGENERATE_CHECKS
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Program:
    name: str
    file: str
    seed: int
    models: dict[str, Model] = field(hash=False)
    sources: dict[str, DataSource] = field(hash=False)
    personas: dict[str, Persona] = field(hash=False)
    tasks: dict[str, Task] = field(hash=False)
    mixes: dict[str, Mix] = field(hash=False)
    description: str = ""
