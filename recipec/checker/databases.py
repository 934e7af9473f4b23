"""Database blocks, `validate` statements and the `values(...)` sampler -> program.Database,
program.ValidatorRule and a persona Choice; names of tables, labels and columns are checked
against the loaded database, with a did-you-mean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipec import nodes as n
from recipec import program as p
from recipec.checker.context import Context, Invalid, kind_of
from recipec.diagnostics import did_you_mean
from recipec.validators import ENGINES, Database, DatabaseError, open_database

DATABASE_SETTINGS = {
    "engine": '"sqlite"',
    "schema": '"data/shop/schema.sql"',
    "data": '"data/shop"',
    "dialect": '"sqlite"',
}
VALIDATOR_OPTIONS = ("database", "field", "question", "task")


def database(ctx: Context, block: n.Block) -> p.Database:
    s = ctx.settings(block, DATABASE_SETTINGS, required=("engine", "schema", "data"))
    if not all(k in s for k in ("engine", "schema", "data")):
        raise Invalid(block.name)
    engine = ctx.string(s["engine"].value, "engine")
    if engine not in ENGINES:
        raise ctx.fail(
            "type",
            f"unknown engine '{engine}'",
            s["engine"].value.span,
            did_you_mean(engine, ENGINES) or "engines: " + ", ".join(ENGINES),
        )
    dialect = ENGINES[engine][1]
    if "dialect" in s and (given := ctx.string(s["dialect"].value, "dialect")) != dialect:
        raise ctx.fail(
            "type",
            f"engine '{engine}' executes the '{dialect}' dialect, not '{given}'",
            s["dialect"].value.span,
        )
    paths = {}
    for key in ("schema", "data"):
        text = ctx.string(s[key].value, key)
        paths[key] = ctx.resolve(text, block.span.file)
        try:
            found = paths[key].exists()
            if found:
                _confined(ctx, paths[key], s[key].value.span)
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, no permission
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ctx.fail(
                "file", f"{key} '{text[:80]}' is not a usable path ({reason})", s[key].span
            ) from None
        if not found:
            raise ctx.fail(
                "file", f"{key} '{text}' not found (looked at {paths[key]})", s[key].span
            )
    result = p.Database(
        block.name, engine, dialect, str(paths["schema"]), str(paths["data"]), block.span
    )
    loaded(ctx, result, block.name_span)
    return result


def _confined(ctx: Context, path: Path, span: Any) -> None:
    """A database's files are read like a source's: only inside the folders a recipe may read."""
    if ctx.confinement is None:
        return
    for file in [path, *sorted(path.iterdir())] if path.is_dir() else [path]:
        if not ctx.confinement.allows(file.resolve()):
            raise ctx.fail(
                "confined",
                f"'{file}' is outside the folders this recipe may read",
                span,
                "move the database under the recipe's folder, or allow its folder with "
                "$RECIPEC_ALLOW_DIRS (or --allow-dir)",
            )


def loaded(ctx: Context, db: p.Database, span: Any) -> Database:
    try:
        return open_database(db.engine, db.schema, db.data)
    except DatabaseError as exc:
        raise ctx.fail("database", f"database '{db.name}' cannot be loaded: {exc}", span) from None


# ---- validate statements ------------------------------------------------------------------


def validator(ctx: Context, stmt: n.Validate, prog: dict[str, Any], synthetic: list[str]):
    call = stmt.call
    kinds = sorted({kind for kind, _ in ENGINES.values()})
    if call.name not in kinds:
        raise ctx.fail(
            "undefined-name",
            f"unknown validator '{call.name}'",
            call.span,
            did_you_mean(call.name, kinds) or "validators: " + ", ".join(kinds),
        )
    options = _options(ctx, call)
    db = _database(ctx, options, call, prog)
    if ENGINES[db.engine][0] != call.name:
        raise ctx.fail(
            "type",
            f"database '{db.name}' runs {ENGINES[db.engine][0]}, not {call.name}",
            options["database"].span,
        )
    tasks = _tasks(ctx, options, call, synthetic)
    field = _field(ctx, options["field"], tasks, prog)
    question = _field(ctx, options["question"], tasks, prog) if "question" in options else None
    return p.ValidatorRule(call.name, db.name, field, question, tuple(tasks))


def _options(ctx: Context, call: n.Call) -> dict[str, n.Value]:
    if call.positional:
        raise ctx.fail(
            "type",
            f"{call.name}(...) takes named options: database = NAME, field = NAME",
            call.positional[0].span,
        )
    kw = call.keywords
    for name, arg in kw.items():
        if name not in VALIDATOR_OPTIONS:
            raise ctx.fail(
                "type",
                f"{call.name}(...) has no option '{name}'",
                arg.span,
                did_you_mean(name, VALIDATOR_OPTIONS),
            )
    for needed in ("database", "field"):
        if needed not in kw:
            raise ctx.fail(
                "missing-setting",
                f"{call.name}(...) needs `{needed} = NAME`",
                call.span,
                f"write {call.name}(database = NAME, field = OUTPUT_FIELD)",
            )
    return {name: arg.value for name, arg in kw.items()}


def _name(ctx: Context, v: n.Value, what: str) -> str:
    if isinstance(v, n.Ref) and len(v.parts) == 1:
        return v.parts[0]
    raise ctx.fail("type", f"{what} must be a name, not {kind_of(v)}", v.span)


def _database(
    ctx: Context, options: dict[str, n.Value], call: n.Call, prog: dict[str, Any]
) -> p.Database:
    name = _name(ctx, options["database"], "database")
    if name in prog["database"]:
        db: p.Database = prog["database"][name]
        return db
    if name in prog["declared"]["database"]:
        raise Invalid(name)  # declared, but it failed to check: already reported
    raise ctx.fail(
        "undefined-name",
        f"no database named '{name}'",
        options["database"].span,
        did_you_mean(name, prog["declared"]["database"]),
    )


def _tasks(
    ctx: Context, options: dict[str, n.Value], call: n.Call, synthetic: list[str]
) -> list[str]:
    if "task" not in options:
        if not synthetic:
            raise ctx.fail("mix", "a validator needs a task taken in this mix", call.span)
        return synthetic
    name = _name(ctx, options["task"], "task")
    if name not in synthetic:
        raise ctx.fail(
            "mix",
            f"'{name}' is not a task taken in this mix",
            options["task"].span,
            did_you_mean(name, synthetic),
        )
    return [name]


def _field(ctx: Context, v: n.Value, tasks: list[str], prog: dict[str, Any]) -> str:
    name = _name(ctx, v, "a field")
    for task_name in tasks:
        task: p.Task = prog["task"][task_name]
        if task.schema["properties"].get(name, {}).get("type") != "string":
            known = [f for f in task.fields if task.schema["properties"][f].get("type") == "string"]
            raise ctx.fail(
                "undefined-name",
                f"task '{task.name}' has no string output field '{name}'",
                v.span,
                did_you_mean(name, known),
            )
    return name


# ---- the values(...) persona sampler ------------------------------------------------------


def values_sampler(ctx: Context, call: n.Call) -> p.Sampler:
    """`values(DB, "table.column")`, `values(DB, "Label.property")` or `values(DB, "REL")`
    (each edge as {from, to} of the endpoints' `name`): a uniform choice of what the database
    holds, read once when the recipe is checked."""
    args = call.positional
    if len(args) != 2 or not isinstance(args[0], n.Ref) or not isinstance(args[1], n.Str):
        raise ctx.fail(
            "persona",
            'values(...) takes a database and a "table.column": values(shop, "customers.city")',
            call.span,
        )
    name, path = args[0].dotted, args[1].value
    declared: dict[str, p.Database] = ctx.databases
    if name not in declared:
        raise ctx.fail(
            "undefined-name",
            f"no database named '{name}'",
            args[0].span,
            did_you_mean(name, declared),
        )
    db = loaded(ctx, declared[name], args[0].span)
    found = _read_values(ctx, db, path, args[1].span)
    if not found:
        raise ctx.fail("persona", f"'{path}' holds no values in '{name}'", args[1].span)
    return p.Choice(found, (1.0,) * len(found))


def _read_values(ctx: Context, db: Database, path: str, span: Any) -> tuple[Any, ...]:
    schema = db.schema()
    table, _, column = path.partition(".")
    if not column and table in schema.relations:
        return db.edges(table, "name")
    if table not in schema.tables or table in schema.relations:
        tables = [t for t in schema.tables if t not in schema.relations]
        raise ctx.fail(
            "undefined-name",
            f"the database has no table or label '{table}'",
            span,
            did_you_mean(table, list(schema.tables)) or "there are: " + ", ".join(tables),
        )
    if column not in schema.tables[table]:
        raise ctx.fail(
            "undefined-name",
            f"'{table}' has no column or property '{column}'",
            span,
            did_you_mean(column, schema.tables[table])
            or "it has: " + ", ".join(schema.tables[table]),
        )
    return db.values(table, column)
