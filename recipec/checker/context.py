"""Checker context: collected diagnostics, and typed readers of setting values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipec import nodes as n
from recipec.diagnostics import Diagnostic, did_you_mean
from recipec.source import MAX_DATA_BYTES, Confinement, Refused, Span, read_confined


class Invalid(Exception):
    """A value could not be read; its diagnostic is already recorded."""


@dataclass
class Context:
    base_dir: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    confinement: Confinement | None = None  # None: any folder (checking a module built in code)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    def fail(self, code: str, message: str, span: Span, hint: str | None = None) -> Invalid:
        self.error(code, message, span, hint)
        return Invalid(message)

    def resolve(self, path: str, span_file: str) -> Path:
        """Paths in a recipe are relative to the file that names them."""
        p = Path(path)
        return p if p.is_absolute() else Path(span_file).parent / p

    def read(self, path: Path, span: Span, missing: str | None = None) -> bytes:
        """A data file the recipe names, confined to the allowed folders (source.Confinement)."""
        try:
            return read_confined(path, self.confinement, MAX_DATA_BYTES)
        except Refused as exc:
            not_found = exc.message.startswith("file '") and exc.message.endswith("not found")
            message = missing if missing and not_found else exc.message
            raise self.fail(exc.code, message, span, exc.hint) from None

    # -- typed readers ----------------------------------------------------------------------

    def string(self, v: n.Value, what: str) -> str:
        if isinstance(v, n.Str):
            return v.value
        raise self.fail("type", f"{what} must be a string, not {kind_of(v)}", v.span)

    def integer(self, v: n.Value, what: str, lo: int | None = None, hi: int | None = None) -> int:
        if isinstance(v, n.Num) and isinstance(v.value, int):
            self._bounds(v.value, v.span, what, lo, hi)
            return v.value
        raise self.fail("type", f"{what} must be an integer, not {kind_of(v)}", v.span)

    def number(
        self, v: n.Value, what: str, lo: float | None = None, hi: float | None = None
    ) -> float:
        if isinstance(v, n.Num):
            self._bounds(v.value, v.span, what, lo, hi)
            return float(v.value)
        raise self.fail("type", f"{what} must be a number, not {kind_of(v)}", v.span)

    def boolean(self, v: n.Value, what: str) -> bool:
        if isinstance(v, n.Bool):
            return v.value
        raise self.fail("type", f"{what} must be true or false, not {kind_of(v)}", v.span)

    def _bounds(self, x: float, span: Span, what: str, lo: float | None, hi: float | None) -> None:
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            low = "" if lo is None else f"at least {lo}"
            high = "" if hi is None else f"at most {hi}"
            raise self.fail(
                "range", f"{what} must be {' and '.join(filter(None, [low, high]))}, not {x}", span
            )

    def settings(
        self, block: n.Block, allowed: dict[str, str], required: tuple[str, ...] = ()
    ) -> dict[str, n.Assign]:
        """The block's assignments by name; unknown, repeated and missing ones reported."""
        found: dict[str, n.Assign] = {}
        for stmt in block.body:
            if not isinstance(stmt, n.Assign):
                continue
            if stmt.name not in allowed:
                hint = did_you_mean(stmt.name, allowed) or "settings here: " + ", ".join(
                    sorted(allowed)
                )
                self.error(
                    "unknown-setting",
                    f"unknown setting '{stmt.name}' in {block.kind} '{block.name}'",
                    _name_span(stmt),
                    hint,
                )
            elif stmt.name in found:
                self.error(
                    "duplicate-name", f"setting '{stmt.name}' is given twice", _name_span(stmt)
                )
            else:
                found[stmt.name] = stmt
        for name in required:
            if name not in found:
                self.error(
                    "missing-setting",
                    f"{block.kind} '{block.name}' needs a '{name}' setting",
                    block.name_span,
                    f"add `{name} = {allowed[name]}`",
                )
        return found


def _name_span(stmt: n.Assign) -> Span:
    s = stmt.span
    return Span(s.file, s.line, s.col, s.line, s.col + len(stmt.name))


def kind_of(v: n.Value) -> str:
    match v:
        case n.Str():
            return "a string"
        case n.Num(value) if isinstance(value, int):
            return "an integer"
        case n.Num():
            return "a number"
        case n.Bool():
            return "a boolean"
        case n.Ref():
            return f"the name '{v.dotted}'"
        case n.Range():
            return "a range"
        case n.Call(name):
            return f"{name}(...)"
        case n.Object():
            return "an object"
        case n.List():
            return "a list"
        case n.IfValue():
            return "an if-expression"
    return "a value"


def literal(ctx: Context, v: n.Value) -> Any:
    """A plain literal value (string, number, boolean) or a list of them."""
    match v:
        case n.Str(value) | n.Num(value) | n.Bool(value):
            return value
        case n.List(items):
            return tuple(literal(ctx, i) for i in items)
    raise ctx.fail("type", f"expected a literal value, not {kind_of(v)}", v.span)
