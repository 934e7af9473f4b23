"""Output types (nodes.Object of type expressions) -> JSON Schema, with every field required
unless marked optional and no extra properties."""

from __future__ import annotations

import re
from typing import Any

from recipec import nodes as n
from recipec.checker.context import Context, Invalid, kind_of
from recipec.diagnostics import did_you_mean

TYPES = ("string", "int", "float", "bool", "enum", "list", "regex")
MAX_STRING = 100_000
MAX_ITEMS = 1_000  # items of a list field


def object_schema(ctx: Context, obj: n.Object) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for fld in obj.fields:
        if fld.name in properties:
            ctx.error("duplicate-name", f"field '{fld.name}' is declared twice", fld.span)
            continue
        try:
            properties[fld.name] = type_schema(ctx, fld.value)
        except Invalid:
            properties[fld.name] = {}
        if not fld.optional:
            required.append(fld.name)
    if not properties:
        ctx.error("schema", "an output needs at least one field", obj.span, "add `name: string`")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def type_schema(ctx: Context, v: n.Value) -> dict[str, Any]:
    if isinstance(v, n.Object):
        return object_schema(ctx, v)
    if isinstance(v, n.Ref) and len(v.parts) == 1:
        v = n.Call(v.parts[0], (), v.span)
    if not isinstance(v, n.Call):
        raise ctx.fail(
            "schema", f"expected a type such as string or int(1..5), not {kind_of(v)}", v.span
        )
    builder = _BUILDERS.get(v.name)
    if builder is None:
        hint = did_you_mean(v.name, TYPES) or "types: " + ", ".join(TYPES) + ", or { ... }"
        raise ctx.fail("schema", f"unknown type '{v.name}'", v.span, hint)
    return builder(ctx, v)


def _range(ctx: Context, call: n.Call, integer: bool) -> tuple[float | None, float | None]:
    ranges = [a for a in call.positional if isinstance(a, n.Range)]
    if not ranges:
        return None, None
    r = ranges[0]
    lo, hi = r.lo.value, r.hi.value
    if integer and (isinstance(lo, float) or isinstance(hi, float)):
        raise ctx.fail("schema", f"{call.name}(...) bounds must be integers", r.span)
    if lo > hi:
        raise ctx.fail(
            "range", f"empty range {lo}..{hi}: the lower bound is above the upper", r.span
        )
    return lo, hi


def _unexpected(ctx: Context, call: n.Call, allowed: tuple[str, ...], max_positional: int) -> None:
    for name, kw in call.keywords.items():
        if name not in allowed:
            hint = did_you_mean(name, allowed) or (
                f"allowed: {', '.join(allowed)}" if allowed else None
            )
            ctx.error("schema", f"{call.name}(...) has no option '{name}'", kw.span, hint)
    if len(call.positional) > max_positional:
        ctx.error(
            "schema",
            f"{call.name}(...) takes at most {max_positional} argument(s) before options",
            call.span,
        )


def _string(ctx: Context, call: n.Call) -> dict[str, Any]:
    _unexpected(ctx, call, ("pattern",), 1)
    schema: dict[str, Any] = {"type": "string"}
    lo, hi = _range(ctx, call, integer=True)
    if lo is not None and hi is not None:
        if lo < 0 or hi > MAX_STRING:
            raise ctx.fail("range", f"string lengths must lie in 0..{MAX_STRING}", call.span)
        schema["minLength"], schema["maxLength"] = int(lo), int(hi)
    pattern = call.keywords.get("pattern")
    if pattern is not None:
        schema["pattern"] = _pattern(ctx, pattern.value)
    return schema


def _regex(ctx: Context, call: n.Call) -> dict[str, Any]:
    args = call.positional
    if len(args) != 1 or not isinstance(args[0], n.Str):
        raise ctx.fail(
            "schema", 'regex(...) takes one pattern string, e.g. regex("[A-Z]{3}")', call.span
        )
    return {"type": "string", "pattern": _pattern(ctx, args[0])}


def _pattern(ctx: Context, v: n.Value) -> str:
    text = ctx.string(v, "a pattern")
    try:
        re.compile(text)
    except re.error as exc:
        raise ctx.fail("schema", f"invalid regular expression: {exc}", v.span) from None
    # Patterns describe the whole value, as a user reads them.
    return text if text.startswith("^") and text.endswith("$") else f"^(?:{text})$"


def _number(ctx: Context, call: n.Call, integer: bool) -> dict[str, Any]:
    _unexpected(ctx, call, (), 1)
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    lo, hi = _range(ctx, call, integer)
    if lo is not None:
        schema["minimum"], schema["maximum"] = lo, hi
    return schema


def _bool(ctx: Context, call: n.Call) -> dict[str, Any]:
    _unexpected(ctx, call, (), 0)
    return {"type": "boolean"}


def _enum(ctx: Context, call: n.Call) -> dict[str, Any]:
    values = []
    for a in call.positional:
        if not isinstance(a, n.Str):
            raise ctx.fail("schema", "enum(...) takes strings", a.span)
        values.append(a.value)
    if not values:
        raise ctx.fail("schema", "enum(...) needs at least one value", call.span)
    if len(set(values)) != len(values):
        raise ctx.fail("schema", "enum(...) repeats a value", call.span)
    return {"enum": values}


def _list(ctx: Context, call: n.Call) -> dict[str, Any]:
    _unexpected(ctx, call, (), 2)
    args = call.positional
    if not args or isinstance(args[0], n.Range | n.Weighted):
        raise ctx.fail(
            "schema", "list(...) needs an item type first, e.g. list(string, 1..3)", call.span
        )
    schema: dict[str, Any] = {"type": "array", "items": type_schema(ctx, args[0])}
    lo, hi = _range(ctx, call, integer=True)
    if lo is not None and hi is not None:
        if lo < 0:
            raise ctx.fail("range", "list sizes cannot be negative", call.span)
        if hi > MAX_ITEMS:
            raise ctx.fail(
                "limit",
                f"a list holds at most {MAX_ITEMS:,} items, not {hi:,}",
                call.span,
                "generate smaller records; split a long list over several records",
            )
        schema["minItems"], schema["maxItems"] = int(lo), int(hi)
    return schema


_BUILDERS = {
    "string": _string,
    "regex": _regex,
    "int": lambda ctx, call: _number(ctx, call, True),
    "float": lambda ctx, call: _number(ctx, call, False),
    "bool": _bool,
    "enum": _enum,
    "list": _list,
}
