"""Model, source and persona blocks -> program.Model, program.DataSource, program.Persona."""

from __future__ import annotations

import csv
import io
import math
import os
import random
import stat
from pathlib import Path
from typing import Any

import orjson

from recipec import nodes as n
from recipec import program as p
from recipec.checker.conditions import condition
from recipec.checker.context import Context, Invalid, kind_of, literal
from recipec.diagnostics import did_you_mean, missing_model_hint
from recipec.source import Span

MODEL_SETTINGS = {
    "file": '"models/NAME.gguf"',
    "sha256": '"<64 hex digits>"',
    "context": "2048",
    "threads": "4",
    "gpu_layers": "0",
    "batch": "512",
    "chat_template": '"..."',
    "temperature": "0.8",
    "top_p": "0.95",
    "top_k": "0",
    "min_p": "0.0",
    "repeat_penalty": "1.0",
    "max_tokens": "512",
}
SAMPLING = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens")
# setting -> (lowest, highest, integer?)
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "context": (64, 1 << 20, True),
    "threads": (1, 1024, True),
    "gpu_layers": (-1, 100_000, True),
    "batch": (1, 1 << 16, True),
    "temperature": (0.0, 10.0, False),
    "top_p": (0.0, 1.0, False),
    "top_k": (0, 1 << 20, True),
    "min_p": (0.0, 1.0, False),
    "repeat_penalty": (0.0, 10.0, False),
    "max_tokens": (1, 1 << 20, True),
}


def bounded(ctx: Context, name: str, v: n.Value) -> int | float | None:
    """A numeric model or sampling setting within its bounds (None once reported)."""
    lo, hi, integer = BOUNDS[name]
    try:
        if integer:
            return ctx.integer(v, name, int(lo), int(hi))
        return ctx.number(v, name, lo, hi)
    except Invalid:
        return None


def model(ctx: Context, block: n.Block) -> p.Model:
    s = ctx.settings(block, MODEL_SETTINGS, required=("file", "sha256"))
    if "file" not in s or "sha256" not in s:
        raise Invalid(block.name)
    path = ctx.string(s["file"].value, "file")
    digest = ctx.string(s["sha256"].value, "sha256").lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        ctx.error(
            "type",
            "sha256 must be 64 hexadecimal digits",
            s["sha256"].value.span,
            "`sha256sum FILE` prints it",
        )
    found = find_model_file(path, block.span.file)
    if found is None:
        ctx.error(
            "file",
            f"model file '{path}' not found",
            s["file"].value.span,
            missing_model_hint(path),
        )
    values: dict[str, Any] = {}
    for name in BOUNDS:
        if name in s and (value := bounded(ctx, name, s[name].value)) is not None:
            values[name] = value
    if "chat_template" in s:
        values["chat_template"] = ctx.string(s["chat_template"].value, "chat_template")
    return p.Model(block.name, str(found or path), digest, span=block.span, **values)


def find_model_file(path: str, recipe_file: str) -> Path | None:
    """A model file is looked up relative to the recipe, then to the current directory, then by
    its name in ./models and in the models/ folder beside the recipe's folder."""
    given = Path(path)
    if given.is_absolute():
        return given if _is_file(given) else None
    here = Path(recipe_file).parent
    for candidate in (
        here / given,
        Path.cwd() / given,
        Path("models") / given.name,
        here.parent / "models" / given.name,
    ):
        if _is_file(candidate):
            return Path(os.path.normpath(candidate))
    return None


def _is_file(path: Path) -> bool:
    """A regular file (pathlib's is_file raises on a name too long for the system)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


# ---- sources ------------------------------------------------------------------------------

SOURCE_SETTINGS = {
    "file": '"data/records.jsonl"',
    "fields": "{ message: string, reply: string }",
    "format": "chat(user = message, assistant = reply)",
    "on_error": '"skip"',
}
FIELD_TYPES = ("string", "int", "float", "bool")


def source(ctx: Context, block: n.Block) -> p.DataSource:
    s = ctx.settings(block, SOURCE_SETTINGS, required=("file", "fields"))
    if "file" not in s or "fields" not in s:
        raise Invalid(block.name)
    fields = source_fields(ctx, s["fields"].value)
    path_text = ctx.string(s["file"].value, "file")
    path = ctx.resolve(path_text, block.span.file)
    on_error = "stop"
    if "on_error" in s:
        on_error = ctx.string(s["on_error"].value, "on_error")
        if on_error not in ("stop", "skip"):
            ctx.error("type", 'on_error must be "stop" or "skip"', s["on_error"].value.span)
    fmt = None
    if "format" in s:
        names_ = {f.name for f in fields}
        fmt = format_call(
            ctx, s["format"].value, names_, frozenset(f.name for f in fields if f.optional)
        )
    missing = f"data file '{path_text}' not found (looked at {path})"
    data = ctx.read(path, s["file"].value.span, missing)
    rows, lines, skipped = load_rows(ctx, path, data, fields, on_error == "skip")
    return p.DataSource(block.name, str(path), fields, rows, lines, fmt, skipped, block.span)


def source_fields(ctx: Context, v: n.Value) -> tuple[p.SourceField, ...]:
    if not isinstance(v, n.Object):
        raise ctx.fail(
            "type", f"fields must be an object such as {{ text: string }}, not {kind_of(v)}", v.span
        )
    out = []
    for f in v.fields:
        if not (isinstance(f.value, n.Ref) and f.value.dotted in FIELD_TYPES):
            ctx.error(
                "type",
                f"source field '{f.name}' must have a plain type: {', '.join(FIELD_TYPES)}",
                f.value.span,
            )
            continue
        out.append(p.SourceField(f.name, f.value.dotted, f.optional))
    return tuple(out)


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def load_rows(
    ctx: Context, path: Path, data: bytes, fields: tuple[p.SourceField, ...], skip: bool
) -> tuple[tuple[dict[str, Any], ...], tuple[int, ...], tuple[tuple[int, str], ...]]:
    rows, lines, skipped = [], [], []
    is_csv = path.suffix.lower() == ".csv"
    records = _csv_rows(data, fields) if is_csv else _jsonl_rows(data)
    reported, first_unshown = 0, 0
    for line, record in records:
        problem = record if isinstance(record, str) else _row_problem(record, fields, is_csv)
        if problem is None:
            assert isinstance(record, dict)
            rows.append({f.name: record.get(f.name) for f in fields})
            lines.append(line)
        elif skip and line > 0:
            skipped.append((line, problem))
        elif reported < MAX_ROW_ERRORS:
            reported += 1
            hint = _ROW_HINT if line > 0 else _FILE_HINT
            ctx.error("data", problem, Span(str(path), max(line, 1), 1, max(line, 1), 2), hint)
        else:
            reported += 1
            first_unshown = first_unshown or line
    if reported > MAX_ROW_ERRORS:
        ctx.error(
            "data",
            f"{reported - MAX_ROW_ERRORS} more malformed rows from here on, not shown",
            Span(str(path), first_unshown, 1, first_unshown, 2),
            _ROW_HINT,
        )
    return tuple(rows), tuple(lines), tuple(skipped)


MAX_ROW_ERRORS = 20  # per source; more would bury every other diagnostic
_FILE_HINT = "a CSV source is UTF-8 text whose first line names each declared field once"
_ROW_HINT = 'fix the row, or add `on_error = "skip"` to the source to skip and count such rows'


def _jsonl_rows(data: bytes) -> list[tuple[int, dict[str, Any] | str]]:
    out: list[tuple[int, dict[str, Any] | str]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            out.append((number, f"malformed JSON: {exc.args[0].split(':')[0]}"))
            continue
        out.append((number, value if isinstance(value, dict) else "a row must be a JSON object"))
    return out


def _csv_rows(
    data: bytes, fields: tuple[p.SourceField, ...]
) -> list[tuple[int, dict[str, Any] | str]]:
    """Rows as dicts, or a problem: a row whose cell count differs from the header's is an
    error (an unquoted comma would otherwise shift every later value into the wrong column).
    Line 0 marks a problem of the whole file, which `on_error = "skip"` cannot skip."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [(0, f"the file is not UTF-8 text (byte {exc.start} is invalid)")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, dict[str, Any] | str]] = []
    try:
        header = next(reader, None)
        if header is None:
            return []
        problem = _header_problem(header, fields)
        if problem:
            return [(0, problem)]
        for cells in reader:
            if not cells:
                continue  # a blank line
            if len(cells) != len(header):
                out.append((reader.line_num, _cells_problem(len(cells), len(header))))
            else:
                out.append((reader.line_num, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        out.append((reader.line_num, f"malformed CSV: {exc}"))
    return out


def _header_problem(header: list[str], fields: tuple[p.SourceField, ...]) -> str | None:
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        return f"the CSV header names column '{duplicated[0]}' twice"
    missing = [f.name for f in fields if f.name not in header]
    if missing:
        return f"the CSV header has no column '{missing[0]}' (it has: {', '.join(header)[:200]})"
    return None


def _cells_problem(found: int, expected: int) -> str:
    extra = " (an unquoted comma? quote cells that hold commas)" if found > expected else ""
    return f"the row has {found} cells, the header has {expected}{extra}"


def _row_problem(
    record: dict[str, Any], fields: tuple[p.SourceField, ...], is_csv: bool
) -> str | None:
    for f in fields:
        given = record.get(f.name)
        if given is None or given == "":
            if not f.optional:
                return f"missing field '{f.name}'"
            continue
        # CSV cells are text: typed fields are read from it; JSON values must have the type.
        value = _from_csv(given, f.type) if is_csv and f.type != "string" else given
        wrong_bool = f.type != "bool" and isinstance(value, bool)
        infinite = isinstance(value, float) and not math.isfinite(value)
        if value is None or not isinstance(value, _PY_TYPES[f.type]) or wrong_bool or infinite:
            return f"field '{f.name}' must be {f.type}, not {_json_type(given)}"
        record[f.name] = value
    return None


def _json_type(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
    return names.get(type(value), "an object" if isinstance(value, dict) else "a list")


def _from_csv(text: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        return None
    return {"true": True, "false": False}.get(text.lower()) if kind == "bool" else None


FORMAT_ROLES = {
    "chat": (("user", "assistant"), ("system",)),
    "instruction": (("instruction", "response"), ("input", "system")),
    "preference": (("prompt", "chosen", "rejected"), ("system",)),
}


def format_call(
    ctx: Context, v: n.Value, field_names: set[str], optional_fields: frozenset[str] = frozenset()
) -> p.Format:
    if not isinstance(v, n.Call) or v.name not in FORMAT_ROLES:
        hint = did_you_mean(v.name, FORMAT_ROLES) if isinstance(v, n.Call) else None
        raise ctx.fail(
            "type", "format must be chat(...), instruction(...) or preference(...)", v.span, hint
        )
    required, optional = FORMAT_ROLES[v.name]
    roles, system = [], None
    for arg in v.args:
        if not isinstance(arg, n.Keyword):
            ctx.error(
                "type",
                f"{v.name}(...) takes role = field arguments, e.g. {required[0]} = message",
                arg.span,
            )
        elif arg.name not in required + optional:
            ctx.error(
                "type",
                f"{v.name}(...) has no role '{arg.name}'",
                arg.span,
                did_you_mean(arg.name, required + optional),
            )
        elif arg.name == "system":
            system = _format_system(ctx, arg.value)
        elif isinstance(arg.value, n.Ref) and len(arg.value.parts) == 1:
            roles.append((arg.name, _role_field(ctx, arg, field_names, optional_fields)))
        else:
            ctx.error("type", f"{arg.name} must name a field", arg.value.span)
    for role in required:
        if role not in dict(roles):
            ctx.error("missing-setting", f"{v.name}(...) needs {role} = FIELD", v.span)
    return p.Format(v.name, tuple(roles), system)


def _format_system(ctx: Context, value: n.Value) -> str | None:
    if isinstance(value, n.Str):
        verbatim(ctx, value, "a format's system message")
        return value.value
    ctx.error("type", "system must be a string: the system message of every example", value.span)
    return None


def _role_field(
    ctx: Context, arg: n.Keyword, field_names: set[str], optional_fields: frozenset[str]
) -> str:
    """The field a format role names (reported if it is optional or does not exist)."""
    assert isinstance(arg.value, n.Ref)
    name = arg.value.parts[0]
    if name in optional_fields:
        ctx.error(
            "type",
            f"field '{name}' is optional, but {arg.name} needs a value in every record",
            arg.value.span,
            f"remove the '?' from '{name}'",
        )
    elif name not in field_names:
        ctx.error(
            "undefined-name",
            f"no field '{name}' to use as {arg.name}",
            arg.value.span,
            did_you_mean(name, field_names),
        )
    return name


_TEMPLATE_MARKS = ("{{", "{%", "{#")


def verbatim(ctx: Context, v: n.Str, what: str) -> None:
    """Text written as it is (never rendered) that holds template syntax is almost surely a
    template meant to be rendered: it would reach the data with its braces."""
    mark = next((m for m in _TEMPLATE_MARKS if m in v.value), None)
    if mark is not None:
        ctx.error(
            "literal-template",
            f"{what} is written verbatim, but it holds template syntax '{mark}'",
            v.span,
            "only a task's `prompt` and `system` are rendered: move the template there, "
            "or remove the braces",
        )


# ---- personas -----------------------------------------------------------------------------

SAMPLERS = ("choice", "int", "float", "normal", "bool", "lines", "column")


def persona(ctx: Context, block: n.Block) -> p.Persona:
    attributes: list[tuple[str, p.Sampler]] = []
    requires: list[p.Cond] = []
    for stmt in block.body:
        known = [name for name, _ in attributes]
        resolve = _attribute_resolver(ctx, known)
        try:
            if isinstance(stmt, n.Assign):
                if stmt.name in known:
                    ctx.error(
                        "duplicate-name", f"attribute '{stmt.name}' is defined twice", stmt.span
                    )
                    continue
                attributes.append((stmt.name, sampler(ctx, stmt.value, resolve)))
            elif isinstance(stmt, n.Require):
                requires.append(condition(ctx, stmt.cond, resolve))
        except Invalid:
            continue
    result = p.Persona(block.name, tuple(attributes), tuple(requires), block.span)
    if requires:
        try:
            p.sample_persona(result, random.Random(0), budget=20_000)
        except p.Unsatisfiable:
            ctx.error(
                "persona",
                f"persona '{block.name}': no sample meets its `require` constraints (20000 tries)",
                block.name_span,
                "loosen a `require`, or widen an attribute's distribution",
            )
    return result


def _attribute_resolver(ctx: Context, known: list[str]):
    def resolve(ref: n.Ref) -> tuple[str, ...]:
        parts = ref.parts[1:] if ref.parts[0] == "persona" and len(ref.parts) > 1 else ref.parts
        if len(parts) != 1 or parts[0] not in known:
            raise ctx.fail(
                "undefined-name",
                f"'{ref.dotted}' is not an attribute defined above",
                ref.span,
                did_you_mean(parts[-1], known),
            )
        return (parts[0],)

    return resolve


def sampler(ctx: Context, v: n.Value, resolve: Any) -> p.Sampler:
    if isinstance(v, n.IfValue):
        cond = condition(ctx, v.cond, resolve)
        return p.When(cond, sampler(ctx, v.then, resolve), sampler(ctx, v.else_, resolve))
    if isinstance(v, n.Str | n.Num | n.Bool):
        return p.Const(v.value)
    if not isinstance(v, n.Call) or v.name not in _SAMPLERS:
        hint = did_you_mean(v.name, SAMPLERS) if isinstance(v, n.Call) else None
        raise ctx.fail(
            "type",
            f"an attribute must be a literal or a sampler ({', '.join(SAMPLERS)}), "
            f"not {kind_of(v)}",
            v.span,
            hint,
        )
    return _SAMPLERS[v.name](ctx, v)


def _choice(ctx: Context, call: n.Call) -> p.Sampler:
    values, weights = [], []
    for a in call.positional:
        if isinstance(a, n.Weighted):
            values.append(literal(ctx, a.value))
            weights.append(ctx.number(a.weight, "a weight", 0))
        else:
            values.append(literal(ctx, a))
            weights.append(1.0)
    if not values or sum(weights) <= 0:
        raise ctx.fail(
            "persona", "choice(...) needs at least one value with a positive weight", call.span
        )
    return p.Choice(tuple(values), tuple(weights))


def _range_of(ctx: Context, call: n.Call, integer: bool) -> tuple[float, float]:
    ranges = [a for a in call.positional if isinstance(a, n.Range)]
    if len(ranges) != 1:
        raise ctx.fail(
            "persona", f"{call.name}(...) needs a range, e.g. {call.name}(18..25)", call.span
        )
    lo, hi = ranges[0].lo.value, ranges[0].hi.value
    if integer and (isinstance(lo, float) or isinstance(hi, float)):
        raise ctx.fail("persona", "int(...) bounds must be integers", ranges[0].span)
    if lo > hi:
        raise ctx.fail("range", f"empty range {lo}..{hi}", ranges[0].span)
    return float(lo), float(hi)


def _uniform(ctx: Context, call: n.Call, integer: bool) -> p.Sampler:
    lo, hi = _range_of(ctx, call, integer)
    return p.Uniform(lo, hi, integer)


def _normal(ctx: Context, call: n.Call) -> p.Sampler:
    kw = call.keywords
    for needed in ("mean", "sd", "clamp"):
        if needed not in kw:
            raise ctx.fail(
                "persona", "normal(...) needs mean = M, sd = S, clamp = LO..HI", call.span
            )
    clamp = kw["clamp"].value
    if not isinstance(clamp, n.Range):
        raise ctx.fail("persona", "clamp must be a range LO..HI", clamp.span)
    if clamp.lo.value > clamp.hi.value:
        raise ctx.fail("range", f"empty clamp {clamp.lo.value}..{clamp.hi.value}", clamp.span)
    integer = "integer" in kw and ctx.boolean(kw["integer"].value, "integer")
    mean = ctx.number(kw["mean"].value, "mean")
    sd = ctx.number(kw["sd"].value, "sd", 0)
    return p.Normal(mean, sd, float(clamp.lo.value), float(clamp.hi.value), integer)


def _bernoulli(ctx: Context, call: n.Call) -> p.Sampler:
    args = call.positional
    prob = ctx.number(args[0], "a probability", 0, 1) if args else 0.5  # type: ignore[arg-type]
    return p.Bernoulli(prob)


def _lines(ctx: Context, call: n.Call) -> p.Sampler:
    args = call.positional
    if len(args) != 1:
        raise ctx.fail(
            "persona", 'lines(...) takes one file name, e.g. lines("data/names.txt")', call.span
        )
    path = ctx.resolve(ctx.string(args[0], "a file name"), call.span.file)  # type: ignore[arg-type]
    values = tuple(
        line.strip() for line in _read_text(ctx, path, args[0].span).splitlines() if line.strip()
    )
    if not values:
        raise ctx.fail("persona", f"{path} holds no values", args[0].span)
    return p.Choice(values, (1.0,) * len(values))


def _column(ctx: Context, call: n.Call) -> p.Sampler:
    args = call.positional
    if len(args) != 2:
        raise ctx.fail(
            "persona",
            'column(...) takes a file and a column: column("people.csv", "name")',
            call.span,
        )
    path = ctx.resolve(ctx.string(args[0], "a file name"), call.span.file)  # type: ignore[arg-type]
    column = ctx.string(args[1], "a column name")  # type: ignore[arg-type]
    text = _read_text(ctx, path, args[0].span)
    values: list[Any] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if column not in (reader.fieldnames or []):
            raise ctx.fail(
                "persona",
                f"{path} has no column '{column}'",
                args[1].span,
                did_you_mean(column, reader.fieldnames or []),
            )
        values = [row[column] for row in reader if row.get(column)]
    else:
        for line in text.splitlines():
            if line.strip():
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise ctx.fail("data", f"{path}: malformed JSON line", args[0].span) from None
                if isinstance(record, dict) and record.get(column) is not None:
                    values.append(record[column])
    if not values:
        raise ctx.fail("persona", f"{path} has no values in column '{column}'", args[1].span)
    return p.Choice(tuple(values), (1.0,) * len(values))


def _read_text(ctx: Context, path: Path, span: Span) -> str:
    data = ctx.read(path, span, f"file '{path}' not found")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ctx.fail("file", f"{path} is not UTF-8 text (byte {exc.start})", span) from None


_SAMPLERS: dict[str, Any] = {
    "choice": _choice,
    "int": lambda ctx, call: _uniform(ctx, call, True),
    "float": lambda ctx, call: _uniform(ctx, call, False),
    "normal": _normal,
    "bool": _bernoulli,
    "lines": _lines,
    "column": _column,
}
