"""SQLite validation: schema.sql and one CSV per table in; a read-only database that runs a
query through the gates (parse, read_only, schema, execute, non_empty) out."""

from __future__ import annotations

import atexit
import csv
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from recipec.validators import (
    ROW_CAP,
    DatabaseError,
    Schema,
    Verdict,
    csv_files,
    statements,
)

# A query may read; every other action is refused while it is compiled (the authorizer), and
# the file is opened read-only besides.
_RECURSIVE = 33  # SQLITE_RECURSIVE: a WITH RECURSIVE read (not exported by every Python)
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, _RECURSIVE}
# The time limit is a budget of virtual-machine instructions, not seconds: a verdict that
# depended on the machine's speed would make a build differ from one computer to another.
BUDGET_STEPS = 20_000  # progress-handler calls
STEP = 1_000  # instructions between calls: 20 million instructions in all
_SCHEMA_ERROR = re.compile(r"no such (table|column)|ambiguous column")


class SqliteDatabase:
    engine = "sqlite"

    def __init__(self, schema: Path, data: Path) -> None:
        folder = Path(tempfile.mkdtemp(prefix="recipec-sqlite-"))
        atexit.register(shutil.rmtree, folder, True)
        self.path = folder / "db.sqlite"
        _load(self.path, schema, data)
        uri = f"file:{self.path}?mode=ro"
        self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._schema = self._read_schema()

    def _read_schema(self) -> Schema:
        names = [r[0] for r in self.conn.execute(_TABLES)]
        return Schema(
            {t: tuple(r[1] for r in self.conn.execute(f'PRAGMA table_info("{t}")')) for t in names}
        )

    def schema(self) -> Schema:
        return self._schema

    def values(self, table: str, column: str) -> tuple[Any, ...]:
        sql = f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL ORDER BY 1'
        return tuple(r[0] for r in self.conn.execute(sql))

    def edges(self, relation: str, prop: str) -> tuple[dict[str, Any], ...]:
        raise DatabaseError("an SQL database has no relationships; name a table.column")

    def run(self, query: str) -> Verdict:
        query = query.strip().rstrip(";").strip()
        if not sqlite3.complete_statement(query + ";") or ";" in _strip_literals(query):
            return Verdict("parse", error="not one complete SQL statement")
        denied: list[str] = []
        self.conn.set_authorizer(lambda action, *_: _authorize(action, denied))
        try:
            self.conn.execute("EXPLAIN " + query).fetchall()
        except sqlite3.Error as exc:
            return _compile_error(str(exc), denied)
        finally:
            self.conn.set_authorizer(None)
        return self._execute(query)

    def _execute(self, query: str) -> Verdict:
        steps = [0]

        def tick() -> int:
            steps[0] += 1
            return 1 if steps[0] > BUDGET_STEPS else 0

        self.conn.set_progress_handler(tick, STEP)
        try:
            rows = len(self.conn.execute(query).fetchmany(ROW_CAP))
        except sqlite3.Error as exc:
            error = "over the instruction budget" if steps[0] > BUDGET_STEPS else str(exc)
            return Verdict("execute", error=error)
        finally:
            self.conn.set_progress_handler(None, STEP)
        return Verdict(None if rows else "non_empty", rows, None if rows else "no rows")


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"


def _authorize(action: int, denied: list[str]) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    denied.append(str(action))
    return sqlite3.SQLITE_DENY


def _compile_error(message: str, denied: list[str]) -> Verdict:
    if denied or "not authorized" in message:
        return Verdict("read_only", error="the statement would change the database")
    if _SCHEMA_ERROR.search(message):
        return Verdict("schema", error=message)
    return Verdict("parse", error=message)


def _strip_literals(query: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"])*\"", "''", query)


def _load(path: Path, schema: Path, data: Path) -> None:
    try:
        ddl = statements(schema.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatabaseError(f"cannot read schema file '{schema}': {exc.strerror}") from None
    conn = sqlite3.connect(path)
    try:
        for stmt in ddl:
            conn.execute(stmt)
        for table, file in csv_files(data).items():
            _load_csv(conn, table, file)
        conn.commit()
    except sqlite3.Error as exc:
        raise DatabaseError(f"{schema}: {exc}") from None
    finally:
        conn.close()


def _load_csv(conn: sqlite3.Connection, table: str, file: Path) -> None:
    with open(file, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        marks = ", ".join("?" * len(header))
        columns = ", ".join(f'"{c}"' for c in header)
        conn.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', reader)
