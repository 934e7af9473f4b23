"""The shipped recipes: each checks and is in canonical layout; the query recipes build on the
real default teacher (small --limit) and every record they keep is re-executed here on a
database loaded by this test's own code from the shipped files (not by recipec.validators)."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import pytest

import recipec

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
SHIPPED = sorted(RECIPES.glob("*.recipe"))
QUOTED = re.compile(r"'([^']*)'")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_recipe_checks_and_is_formatted(path: Path) -> None:
    recipec.check(recipec.parse(path))
    text = path.read_text(encoding="utf-8")
    assert recipec.format_recipe(text, str(path)) == text


def test_readme_indexes_every_shipped_recipe() -> None:
    readme = (RECIPES / "README.md").read_text(encoding="utf-8")
    for path in SHIPPED:
        assert f"({path.name})" in readme, f"{path.name} is not in recipes/README.md"


def _build(name: str, out: Path, limit: int) -> tuple[list[dict], list[dict], dict]:
    plan = recipec.plan(recipec.check(recipec.parse(RECIPES / name)))
    recipec.build(plan, out, limit=limit, allow_short=True)
    records = [
        json.loads(line)
        for split in ("train", "eval")
        if (out / f"{split}.jsonl").exists()
        for line in (out / f"{split}.jsonl").read_text().splitlines()
    ]
    provenance = [json.loads(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    return records, provenance, json.loads((out / "manifest.json").read_text())


def _shop() -> sqlite3.Connection:
    folder = RECIPES / "data" / "shop"
    conn = sqlite3.connect(":memory:")
    conn.executescript((folder / "schema.sql").read_text())
    for table in ("customers", "products", "orders", "order_items"):
        with open(folder / f"{table}.csv", newline="") as f:
            rows = list(csv.reader(f))
        marks = ",".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[1:])
    return conn


def _kept_queries_hold(records: list[dict], run) -> None:
    assert records, "the build kept no record"
    for r in records:
        assert run(r["output"]) > 0, r
        for value in QUOTED.findall(r["output"]):
            assert value.casefold() in r["instruction"].casefold(), r


def test_text_to_sql_builds_and_every_kept_query_returns_rows(tmp_path: Path) -> None:
    records, provenance, manifest = _build("text_to_sql.recipe", tmp_path, limit=3)
    shop = _shop()
    _kept_queries_hold(records, lambda q: len(shop.execute(q).fetchall()))
    synthetic = [p for p in provenance if p["synthetic"]]
    assert all(p["validation"][0]["failed_gate"] is None for p in synthetic)
    assert all(p["validation"][0]["rows"] > 0 for p in synthetic)
    # The validator turned attempts away on this build (it is not a filter that passes all).
    assert any(k.startswith("query_") for k in manifest["rejections"]), manifest["rejections"]
    # The yield table per gate: what reached a gate and failed it is the rejection count.
    (gates,) = manifest["validation"].values()
    for gate in gates:
        failed = gate["in"] - gate["passed"]
        assert failed == manifest["rejections"].get(f"query_{gate['gate']}", 0), gate


def test_text_to_cypher_builds_and_every_kept_query_returns_rows(tmp_path: Path) -> None:
    import ladybug

    records, provenance, _ = _build("text_to_cypher.recipe", tmp_path / "out", limit=3)
    folder = RECIPES / "data" / "medgraph"
    db = ladybug.Database(str(tmp_path / "graph"))
    conn = ladybug.Connection(db)
    for stmt in (folder / "schema.cypher").read_text().split(";"):
        lines = [x for x in stmt.splitlines() if x.strip() and not x.startswith("--")]
        if lines:
            conn.execute("\n".join(lines))
    for table in ("Compound", "Disease", "Gene", "SideEffect", "TREATS", "BINDS", "CAUSES"):
        conn.execute(f"COPY {table} FROM '{folder / table}.csv' (HEADER=true)")
    conn.execute(f"COPY ASSOCIATES FROM '{folder / 'ASSOCIATES'}.csv' (HEADER=true)")

    def rows(query: str) -> int:
        result, n = conn.execute(query), 0
        while result.has_next():
            result.get_next()
            n += 1
        return n

    _kept_queries_hold(records, rows)
    assert all(p["validation"][0]["failed_gate"] is None for p in provenance if p["synthetic"])
