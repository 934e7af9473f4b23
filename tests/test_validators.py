"""Query validators on the real shipped databases (SQLite file, LadybugDB graph): each gate
rejects what it should, passes what it should, and the database is never changed."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from pathlib import Path

import pytest

import recipec
from recipec.builder.validate import gate_yield
from recipec.ir import Header
from recipec.validators import open_database, validate

DATA = Path(__file__).resolve().parent.parent / "recipes" / "data"


@pytest.fixture(scope="module")
def shop():
    return open_database("sqlite", str(DATA / "shop" / "schema.sql"), str(DATA / "shop"))


@pytest.fixture(scope="module")
def graph():
    folder = DATA / "medgraph"
    return open_database("ladybug", str(folder / "schema.cypher"), str(folder))


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


SQL_CASES = [
    ("SELECT name FROM customers WHERE city = 'Oslo'", None),
    ("SELECT name FROM customers WHERE city = 'Oslo';", None),
    ("SELEC name FROM customers", "parse"),
    ("SELECT name FROM customers; SELECT 1", "parse"),
    ("SELECT name FROM customers WHERE", "parse"),
    ("DELETE FROM customers", "read_only"),
    ("UPDATE products SET price = 0", "read_only"),
    ("DROP TABLE orders", "read_only"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "read_only"),
    ("PRAGMA writable_schema = 1", "read_only"),
    ("SELECT name FROM customer", "schema"),
    ("SELECT nam FROM customers", "schema"),
    (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        "execute",
    ),
    ("SELECT name FROM customers WHERE city = 'Atlantis'", "non_empty"),
]


@pytest.mark.parametrize("query,gate", SQL_CASES)
def test_sql_gates(shop, query: str, gate: str | None) -> None:
    assert validate(shop, query, None).gate == gate


def test_sql_rows_are_counted_as_sqlite_counts_them(shop) -> None:
    # Counted independently from the CSV the database was loaded from.
    expected = sum(1 for r in _csv(DATA / "shop" / "customers.csv") if r["city"] == "Oslo")
    assert expected > 0
    verdict = validate(shop, "SELECT name FROM customers WHERE city = 'Oslo'", None)
    assert verdict.rows == expected


def test_sql_database_is_opened_read_only(shop) -> None:
    before = hashlib.sha256(Path(shop.path).read_bytes()).hexdigest()
    for query, _ in SQL_CASES:
        validate(shop, query, None)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        shop.conn.execute("DELETE FROM customers")
    assert hashlib.sha256(Path(shop.path).read_bytes()).hexdigest() == before


def test_entity_gate_needs_the_quoted_values_in_the_question(shop) -> None:
    query = "SELECT name FROM customers WHERE city = 'Oslo'"
    assert validate(shop, query, "Who lives in oslo?").gate is None
    verdict = validate(shop, query, "Who lives in Lisbon?")
    assert (verdict.gate, verdict.reason) == ("entity", "query_entity")
    assert "Oslo" in (verdict.error or "")


CYPHER_CASES = [
    ("MATCH (c:Compound)-[:TREATS]->(d:Disease) RETURN c.name, d.name LIMIT 5", None),
    ("MATCH (d:Disease)<-[:TREATS]-(c:Compound) RETURN c.name LIMIT 5", None),
    ("MATCH (d:Disease)-[:TREATS]-(c:Compound) RETURN c.name LIMIT 5", None),  # undirected
    ("MATC (c:Compound) RETURN c.name", "parse"),
    ("MATCH (c:Compound) RETURN c.name; MATCH (d:Disease) RETURN d.name", "parse"),
    ("MATCH (c:Compound) SET c.name = 'x' RETURN c", "read_only"),
    ("CREATE (:Disease {id: 'D9999', name: 'x'})", "read_only"),
    ("MATCH (c:Compund) RETURN c.name", "schema"),  # label
    ("MATCH (c:Compound)-[:TREAT]->(d:Disease) RETURN d.name", "schema"),  # type
    ("MATCH (c:Compound) RETURN c.nme", "schema"),  # property
    ("MATCH (d:Disease)-[:TREATS]->(c:Compound) RETURN c.name", "schema"),  # direction
    ("MATCH (c:Compound {name: 'Notacompound'}) RETURN c.name", "non_empty"),
]


@pytest.mark.parametrize("query,gate", CYPHER_CASES)
def test_cypher_gates(graph, query: str, gate: str | None) -> None:
    assert validate(graph, query, None).gate == gate


def test_cypher_rows_match_the_csv_files(graph) -> None:
    compounds = {r["id"]: r["name"] for r in _csv(DATA / "medgraph" / "Compound.csv")}
    treats = _csv(DATA / "medgraph" / "TREATS.csv")
    name = compounds[treats[0]["from"]]
    expected = sum(1 for t in treats if compounds[t["from"]] == name)
    query = f"MATCH (c:Compound {{name: '{name}'}})-[:TREATS]->(d:Disease) RETURN d.name"
    assert validate(graph, query, f"What does {name} treat?") == validate(graph, query, None)
    assert validate(graph, query, None).rows == expected


def test_graph_schema_and_values(graph) -> None:
    schema = graph.schema()
    assert schema.relations == {
        "ASSOCIATES": ("Disease", "Gene"),
        "BINDS": ("Compound", "Gene"),
        "CAUSES": ("Compound", "SideEffect"),
        "TREATS": ("Compound", "Disease"),
    }
    categories = sorted({r["category"] for r in _csv(DATA / "medgraph" / "Disease.csv")})
    assert list(graph.values("Disease", "category")) == categories
    assert len(graph.edges("TREATS", "name")) == len(_csv(DATA / "medgraph" / "TREATS.csv"))


def test_generators_are_deterministic(tmp_path: Path) -> None:
    import runpy

    for script, folder in (("make_shop.py", "shop"), ("make_medgraph.py", "medgraph")):
        module = runpy.run_path(str(DATA / script))
        module["OUT"] = tmp_path / folder
        module["main"].__globals__["OUT"] = tmp_path / folder
        module["main"]()
        for shipped in sorted((DATA / folder).iterdir()):
            assert (tmp_path / folder / shipped.name).read_bytes() == shipped.read_bytes()


def test_gate_yield_table() -> None:
    rows = gate_yield(("parse", "schema", "non_empty"), 10, {"query_parse": 2, "query_schema": 3})
    assert [(r["gate"], r["in"], r["passed"]) for r in rows] == [
        ("parse", 10, 8),
        ("schema", 8, 5),
        ("non_empty", 5, 5),
    ]


def test_plan_carries_databases_and_validators() -> None:
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "text_to_sql.recipe"
    plan = recipec.plan(recipec.check(recipec.parse(recipe)))
    header = plan.header
    assert header.databases["shop"].engine == "sqlite"
    (spec,) = header.mixes[0].validators
    assert (spec.kind, spec.database, spec.field, spec.question) == (
        "sql",
        "shop",
        "sql",
        "question",
    )
    assert spec.gates[-1] == "entity"
    assert Header.from_json(header.to_json()) == header
    assert Header.from_json(header.to_json()).databases == header.databases


def test_plan_summary_lists_validators_and_gates() -> None:
    from recipec.planner import summary

    recipe = Path(__file__).resolve().parent.parent / "recipes" / "text_to_sql.recipe"
    text = summary(recipec.plan(recipec.check(recipec.parse(recipe))))
    assert (
        "validate sql on shop (sql): parse, read_only, schema, execute, non_empty, entity" in text
    )


def test_fixed_fields_are_forced_and_every_template_query_holds(graph) -> None:
    """The template pipeline's queries come from the recipe, so every one of them must pass
    every gate but entity (which is about the model's question) on the graph."""
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "text_to_cypher.recipe"
    plan = recipec.plan(recipec.check(recipec.parse(recipe)))
    jobs = [j for j in plan.jobs() if j.task == "phrase_template"]
    assert jobs
    shapes = set()
    for job in jobs:
        query = job.schema["properties"]["cypher"]["const"]
        assert query in job.messages[-1]["content"]  # the prompt shows it (fixed.cypher)
        assert validate(graph, query, None).gate is None, query
        shapes.add(job.persona["shape"])
    free = [j for j in plan.jobs() if j.task == "write_pair"]
    assert free and all("const" not in j.schema["properties"]["cypher"] for j in free)
    assert len(shapes) >= 3
