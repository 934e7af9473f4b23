"""Cypher validation on LadybugDB (Kùzu's dialect): schema.cypher and one CSV per node or
relationship table in; a read-only embedded graph that runs a query through the gates out.

Executing on Ladybug proves the query parses and binds in Kùzu's Cypher (declared schema, walk
semantics, no APOC) and returns rows on this graph; a query written for Neo4j may use syntax
Kùzu lacks (and the reverse), so a pass here says nothing about another engine.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from recipec.validators import ROW_CAP, DatabaseError, Schema, Verdict, csv_files, statements

# Clauses that change a graph; refused before the engine sees the query (the database is also
# opened read-only, which refuses them again).
_WRITES = re.compile(
    r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|ALTER|COPY|INSTALL|LOAD|ATTACH|IMPORT|EXPORT)\b",
    re.IGNORECASE,
)
# (a:Label ...)-[r:TYPE ...]->(b:Label ...) and the leftward form: a labelled hop to check.
_HOP = re.compile(
    r"\(\s*\w*\s*:\s*(\w+)[^()]*\)\s*(<?)-\s*\[\s*\w*\s*:\s*(\w+)[^\]]*\]\s*-(>?)\s*"
    r"(?=\(\s*\w*\s*:\s*(\w+))"
)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
TIMEOUT_MS = 10_000  # a safety net only: the shipped graph answers any subset query in ms


class LadybugDatabase:
    engine = "ladybug"

    def __init__(self, schema: Path, data: Path) -> None:
        import ladybug

        self.folder = Path(tempfile.mkdtemp(prefix="recipec-ladybug-"))
        path = str(self.folder / "graph.lbug")
        _load(ladybug, path, schema, data)
        self.db = ladybug.Database(path, read_only=True)
        self.conn = ladybug.Connection(self.db)
        self.conn.set_query_timeout(TIMEOUT_MS)
        self._schema = self._read_schema()
        atexit.register(remove, self)

    def _rows(self, query: str) -> list[Any]:
        result = self.conn.execute(query)
        assert not isinstance(result, list)
        out = []
        while result.has_next():
            out.append(result.get_next())
        return out

    def _read_schema(self) -> Schema:
        tables, relations = {}, {}
        for row in self._rows("CALL show_tables() RETURN name, type ORDER BY name"):
            name, kind = row[0], row[1]
            props = self._rows(f"CALL table_info('{name}') RETURN name")
            tables[name] = tuple(p[0] for p in props)
            if kind == "REL":
                ends = self._rows(f"CALL show_connection('{name}') RETURN *")[0]
                relations[name] = (ends[0], ends[1])
        return Schema(tables, relations)

    def schema(self) -> Schema:
        return self._schema

    def values(self, table: str, column: str) -> tuple[Any, ...]:
        rows = self._rows(
            f"MATCH (n:{table}) WHERE n.{column} IS NOT NULL "
            f"RETURN DISTINCT n.{column} AS v ORDER BY v"
        )
        return tuple(r[0] for r in rows)

    def edges(self, relation: str, prop: str) -> tuple[dict[str, Any], ...]:
        rows = self._rows(
            f"MATCH (a)-[:{relation}]->(b) RETURN a.{prop} AS f, b.{prop} AS t ORDER BY f, t"
        )
        return tuple({"from": f, "to": t} for f, t in rows)

    def run(self, query: str) -> Verdict:
        query = query.strip().rstrip(";").strip()
        bare = _STRINGS.sub("''", query)
        if ";" in bare:
            return Verdict("parse", error="not one Cypher statement")
        if write := _WRITES.search(bare):
            return Verdict("read_only", error=f"{write.group(1).upper()} changes the graph")
        if problem := self._direction(bare):
            return Verdict("schema", error=problem)
        try:
            result = self.conn.execute(query)
        except RuntimeError as exc:
            return _error(str(exc))
        if isinstance(result, list):
            return Verdict("parse", error="not one Cypher statement")
        rows = 0
        try:
            while rows < ROW_CAP and result.has_next():
                result.get_next()
                rows += 1
        except RuntimeError as exc:
            return Verdict("execute", error=_first_line(str(exc)))
        return Verdict(None if rows else "non_empty", rows, None if rows else "no rows")

    def _direction(self, query: str) -> str | None:
        """A labelled hop whose relationship does not join those labels that way round
        (Kùzu binds such a pattern and returns no rows, so the engine cannot tell)."""
        for left, back, rel, fwd, right in _HOP.findall(query):
            ends = self._schema.relations.get(rel)
            if ends is None or (back and fwd) or not (back or fwd):
                continue  # unknown type: the engine's binder reports it; undirected: any way
            src, dst = (right, left) if back else (left, right)
            if (src, dst) != ends:
                return f"{rel} goes ({ends[0]})-[:{rel}]->({ends[1]}), not ({src})->({dst})"
        return None


def _error(message: str) -> Verdict:
    line = _first_line(message)
    if line.startswith("Parser exception"):
        return Verdict("parse", error=line)
    if line.startswith("Binder exception"):
        return Verdict("schema", error=line)
    if "read-only" in line:
        return Verdict("read_only", error=line)
    return Verdict("execute", error=line)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0][:300] if message.strip() else "error"


def _load(ladybug: Any, path: str, schema: Path, data: Path) -> None:
    try:
        ddl = statements(schema.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatabaseError(f"cannot read schema file '{schema}': {exc.strerror}") from None
    db = ladybug.Database(path)
    conn = ladybug.Connection(db)
    try:
        for stmt in ddl:
            conn.execute(stmt)
        files = csv_files(data)
        # Nodes before relationships: an edge's endpoints must exist when it is copied.
        for kind in ("NODE", "REL"):
            for table in _tables(conn, kind):
                if table in files:
                    conn.execute(f"COPY {table} FROM '{files[table]}' (HEADER=true)")
    except RuntimeError as exc:
        raise DatabaseError(f"{schema}: {_first_line(str(exc))}") from None
    finally:
        conn.close()
        db.close()


def _tables(conn: Any, kind: str) -> list[str]:
    result = conn.execute("CALL show_tables() RETURN name, type ORDER BY name")
    names = []
    while result.has_next():
        name, found = result.get_next()
        if found == kind:
            names.append(name)
    return names


def remove(db: LadybugDatabase) -> None:
    """Close a loaded graph and delete its temporary folder."""
    db.conn.close()
    db.db.close()
    shutil.rmtree(db.folder, ignore_errors=True)
