"""Query validators: a database declaration (engine, schema file, data folder) in; a Database
that reports its schema, samples its values, and runs a query through ordered gates out.

A validator proves what executing on the shipped database can prove: the query parses in the
engine's dialect, names only tables, labels, relationships (in their declared direction) and
columns or properties that exist, changes nothing, runs within its budget and returns rows, and
the values it quotes appear in the question. It does not prove the query answers the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

# The gates every validator runs, in order; a candidate stops at the first it fails.
GATES = ("parse", "read_only", "schema", "execute", "non_empty", "entity")
# The rejection reason (records.REASONS) a failed gate is counted under.
REASON = {gate: f"query_{gate}" for gate in GATES}
ENGINES = {"sqlite": ("sql", "sqlite"), "ladybug": ("cypher", "kuzu")}  # engine: (kind, dialect)
ROW_CAP = 1000  # rows counted at most; a result is only measured, never kept


class DatabaseError(Exception):
    """A declared database that cannot be loaded (bad schema file, malformed CSV)."""


@dataclass(frozen=True)
class Schema:
    """What a query may name: tables (or node/relationship labels) with their columns
    (properties), and for a graph each relationship's (from, to) labels."""

    tables: dict[str, tuple[str, ...]] = field(hash=False)
    relations: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Verdict:
    """A query's fate: the first gate it failed (None: passed all), rows returned, the error."""

    gate: str | None
    rows: int = 0
    error: str | None = None

    @property
    def reason(self) -> str | None:
        return REASON[self.gate] if self.gate else None

    def to_json(self) -> dict[str, Any]:
        return {"failed_gate": self.gate, "rows": self.rows, "error": self.error}


class Database(Protocol):
    engine: str

    def schema(self) -> Schema:
        """The tables (labels), their columns (properties), and the relationships."""

    def values(self, table: str, column: str) -> tuple[Any, ...]:
        """The distinct non-null values of a column (property), sorted."""

    def edges(self, relation: str, prop: str) -> tuple[dict[str, Any], ...]:
        """Each edge of a relationship as {"from": value, "to": value} of `prop`, sorted."""

    def run(self, query: str) -> Verdict:
        """The gates parse, read_only, schema, execute, non_empty, in that order."""


@cache
def open_database(engine: str, schema: str, data: str) -> Database:
    """The declared database, loaded once per process from its schema file and data folder."""
    if engine == "sqlite":
        from recipec.validators.sqlite import SqliteDatabase

        return SqliteDatabase(Path(schema), Path(data))
    if engine == "ladybug":
        from recipec.validators.cypher import LadybugDatabase

        return LadybugDatabase(Path(schema), Path(data))
    raise DatabaseError(f"unknown engine '{engine}'")


def validate(db: Database, query: str, question: str | None) -> Verdict:
    """All gates: the database's own, then entity coverage when a question is given."""
    verdict = db.run(query)
    if verdict.gate is None and question is not None:
        missing = missing_entities(question, query)
        if missing:
            return Verdict("entity", verdict.rows, f"not named in the question: {missing[0]!r}")
    return verdict


_LITERAL = re.compile(r"'((?:[^'\\]|\\.|'')*)'|\"((?:[^\"\\]|\\.)*)\"")


def missing_entities(question: str, query: str) -> list[str]:
    """The quoted string values of `query` that the question does not mention (any case)."""
    text = question.casefold()
    quoted = [a if a else b for a, b in _LITERAL.findall(query)]
    return [q for q in quoted if q.strip() and q.replace("''", "'").casefold() not in text]


def csv_files(data: Path) -> dict[str, Path]:
    """The data folder's CSV files by table name (file stem)."""
    if not data.is_dir():
        raise DatabaseError(f"data folder '{data}' not found")
    return {p.stem: p for p in sorted(data.glob("*.csv"))}


def statements(text: str) -> list[str]:
    """A schema file's statements (split on ';', comments starting with -- dropped)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
