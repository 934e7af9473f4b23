"""The syntax tree: frozen dataclasses of tuples; spans and raw spellings excluded from equality."""

from __future__ import annotations

from dataclasses import dataclass, field

from recipec.source import NO_SPAN, Span


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Str:
    value: str
    raw: str = field(default="", compare=False, repr=False)
    span: Span = _span()


@dataclass(frozen=True)
class Num:
    value: int | float
    raw: str = field(default="", compare=False, repr=False)
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Ref:
    parts: tuple[str, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Range:
    lo: Num
    hi: Num
    span: Span = _span()


@dataclass(frozen=True)
class Weighted:
    """`"ADHD": 1` inside choice(...): a value with a weight."""

    value: Value
    weight: Value
    span: Span = _span()


@dataclass(frozen=True)
class Keyword:
    """`name = value` inside a call."""

    name: str
    value: Value
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Value | Weighted | Keyword, ...]
    span: Span = _span()

    @property
    def positional(self) -> tuple[Value | Weighted, ...]:
        return tuple(a for a in self.args if not isinstance(a, Keyword))

    @property
    def keywords(self) -> dict[str, Keyword]:
        return {a.name: a for a in self.args if isinstance(a, Keyword)}


@dataclass(frozen=True)
class Field:
    name: str
    optional: bool
    value: Value
    quoted: bool = field(default=False, compare=False, repr=False)
    span: Span = _span()


@dataclass(frozen=True)
class Object:
    fields: tuple[Field, ...]
    span: Span = _span()


@dataclass(frozen=True)
class List:
    items: tuple[Value, ...]
    span: Span = _span()


@dataclass(frozen=True)
class IfValue:
    cond: Condition
    then: Value
    else_: Value
    span: Span = _span()


Value = Str | Num | Bool | Ref | Range | Call | Object | List | IfValue


# ---- conditions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    left: Ref
    op: str
    right: Value
    span: Span = _span()


@dataclass(frozen=True)
class Member:
    left: Ref
    items: List
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    item: Condition
    span: Span = _span()


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]
    span: Span = _span()


Condition = Compare | Member | Not | And | Or


# ---- statements ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    name: str
    value: Value
    span: Span = _span()


@dataclass(frozen=True)
class Require:
    cond: Condition
    span: Span = _span()


@dataclass(frozen=True)
class Output:
    schema: Object
    span: Span = _span()


@dataclass(frozen=True)
class Take:
    origin: str
    amount: Num
    percent: bool
    where: Condition | None
    span: Span = _span()


@dataclass(frozen=True)
class Quota:
    origin: str
    where: Condition
    bound: str  # at_least | at_most | exactly
    count: Num
    span: Span = _span()


@dataclass(frozen=True)
class Balance:
    origin: str
    by: Ref
    span: Span = _span()


@dataclass(frozen=True)
class Dedupe:
    mode: str
    threshold: Num | None
    span: Span = _span()


@dataclass(frozen=True)
class Leakage:
    source: str
    max_overlap: Num
    span: Span = _span()


@dataclass(frozen=True)
class Judge:
    model: str
    rubric: Str
    min: Num
    span: Span = _span()


@dataclass(frozen=True)
class Validate:
    """`validate sql(database = shop, field = query)`: a validator call in a mix."""

    call: Call
    span: Span = _span()


@dataclass(frozen=True)
class SplitPart:
    name: str
    ratio: Num
    span: Span = _span()


@dataclass(frozen=True)
class Split:
    parts: tuple[SplitPart, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Write:
    path: Str
    format: str
    span: Span = _span()


Statement = (
    Assign
    | Require
    | Output
    | Take
    | Quota
    | Balance
    | Dedupe
    | Leakage
    | Judge
    | Validate
    | Split
    | Write
)


# ---- top level ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """`recipe`, `model`, `source`, `database`, `persona`, `task` or `mix`: name and body."""

    kind: str
    name: str
    body: tuple[Statement, ...]
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class Include:
    path: Str
    span: Span = _span()


Item = Block | Include


@dataclass(frozen=True)
class Comment:
    text: str
    span: Span


@dataclass(frozen=True)
class Module:
    file: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
    span: Span = _span()

    def blocks(self, kind: str) -> tuple[Block, ...]:
        return tuple(i for i in self.items if isinstance(i, Block) and i.kind == kind)
