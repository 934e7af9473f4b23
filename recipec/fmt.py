"""Formatter: nodes.Module with its comments -> canonical recipe text (comments kept)."""

from __future__ import annotations

from collections.abc import Sequence

from recipec import nodes as n
from recipec.strings import quote

INDENT = "  "
WIDTH = 100


def format_module(module: n.Module) -> str:
    printer = _Printer(module.comments)
    for index, item in enumerate(module.items):
        # The blank line between items goes where the source had one; with none, it goes before
        # the comments, so that a comment stays attached to the item it documents (as black does).
        if index > 0 and not printer.gap_before(item.span.line):
            printer.blank()
        printer.leading(item.span.line, "", top=True)
        if isinstance(item, n.Include):
            printer.emit(f"include {value(item.path)}", item.span.end_line)
        else:
            printer.block(item)
    printer.leading(10**9, "", top=True)
    return "\n".join(printer.out).rstrip("\n") + "\n" if printer.out else ""


class _Printer:
    def __init__(self, comments: Sequence[n.Comment]):
        self.comments = sorted(comments, key=lambda c: (c.span.line, c.span.col))
        self.next = 0
        self.out: list[str] = []
        self.last_line = 0  # source line of the last thing emitted

    def blank(self) -> None:
        if self.out and self.out[-1] != "":
            self.out.append("")

    def leading(self, line: int, indent: str, top: bool = False) -> None:
        """Emit the comments that stand before source line `line`."""
        while self.next < len(self.comments) and self.comments[self.next].span.line < line:
            comment = self.comments[self.next]
            if self.out and comment.span.line > self.last_line + 1 and not self._opened():
                self.blank()
            self.out.append(indent + comment.text)
            self.last_line = comment.span.line
            self.next += 1
        if top and self.out and self.out[-1] != "" and line > self.last_line + 1:
            self.blank()

    def gap_before(self, line: int) -> bool:
        """Whether the comments before source line `line` follow the last thing emitted without
        a blank line and have one further down, so that `leading` keeps the blank where it was."""
        lines = [c.span.line for c in self.comments[self.next :] if c.span.line < line]
        if not lines or lines[0] != self.last_line + 1:
            return False
        return any(b > a + 1 for a, b in zip([*lines], [*lines[1:], line], strict=True))

    def trailing(self, line: int) -> None:
        while self.next < len(self.comments) and self.comments[self.next].span.line == line:
            self.out[-1] += "  " + self.comments[self.next].text
            self.next += 1

    def _opened(self) -> bool:
        return bool(self.out) and self.out[-1].endswith("{")

    def emit(self, text: str, end_line: int, trail: bool = True) -> None:
        self.out.extend(text.split("\n"))
        self.last_line = end_line
        if trail:
            self.trailing(end_line)

    def gap(self, line: int) -> None:
        """Keep one blank line where the source had one or more."""
        if line > self.last_line + 1 and not self._opened():
            self.blank()

    def _inside(self, first: int, last: int) -> bool:
        """Whether a comment stands on a line strictly between `first` and `last`."""
        return any(first < c.span.line < last for c in self.comments[self.next :])

    def block(self, block: n.Block) -> None:
        head = f"{block.kind} {block.name} {{"
        if not block.body and not self._inside(block.name_span.line, block.span.end_line):
            self.emit(head + "}", block.name_span.line)
            self.trailing(block.span.end_line)
            return
        # A comment on the header line belongs to the statement sharing that line, if any.
        shared = bool(block.body) and block.body[0].span.line == block.name_span.line
        self.emit(head, block.name_span.line, trail=not shared)
        self.body(block.body, INDENT)
        self.leading(block.span.end_line, INDENT)
        self.out.append("}")
        self.last_line = block.span.end_line
        self.trailing(block.span.end_line)

    def body(self, body: Sequence[n.Statement], indent: str) -> None:
        widths = _assign_widths(body)
        for stmt, width in zip(body, widths, strict=True):
            self.leading(stmt.span.line, indent)
            self.gap(stmt.span.line)
            if isinstance(stmt, n.Output) and (
                stmt.schema.fields or self._inside(stmt.span.line, stmt.span.end_line)
            ):
                self.emit(f"{indent}output {{", stmt.span.line)
                self.fields(stmt.schema, indent + INDENT)
                self.close(stmt.span.end_line, indent)
            elif isinstance(stmt, n.Assign) and _multiline_object(stmt.value, indent, width):
                assert isinstance(stmt.value, n.Object)
                self.emit(f"{indent}{stmt.name.ljust(width)} = {{", stmt.span.line)
                self.fields(stmt.value, indent + INDENT)
                self.close(stmt.span.end_line, indent)
            else:
                # Long strings keep their raw lines: re-indenting them would change nothing in
                # their value but would drift on every run.
                self.emit(indent + statement(stmt, width), stmt.span.end_line)

    def fields(self, obj: n.Object, indent: str) -> None:
        widths = _field_widths(obj.fields)
        for fld, width in zip(obj.fields, widths, strict=True):
            self.leading(fld.span.line, indent)
            self.gap(fld.span.line)
            head = (_field_name(fld) + ":").ljust(width)
            if isinstance(fld.value, n.Object) and _multiline_object(fld.value, indent, width):
                self.emit(f"{indent}{head} {{", fld.span.line)
                self.fields(fld.value, indent + INDENT)
                self.close(fld.span.end_line, indent)
            else:
                self.emit(f"{indent}{head} {value(fld.value)}", fld.span.end_line)

    def close(self, end_line: int, indent: str) -> None:
        self.leading(end_line, indent + INDENT)
        self.out.append(indent + "}")
        self.last_line = end_line
        self.trailing(end_line)


def _field_name(fld: n.Field) -> str:
    name = quote(fld.name) if fld.quoted else fld.name
    return name + ("?" if fld.optional else "")


def _assign_widths(body: Sequence[n.Statement]) -> list[int]:
    """Align `=` across runs of consecutive assignments; any other statement ends a run. (Runs
    depend on statements alone, not on blank lines or comments, so alignment is stable.)"""
    widths = [0] * len(body)
    run: list[int] = []
    names: dict[int, str] = {}
    for i, stmt in enumerate([*body, None]):
        if isinstance(stmt, n.Assign):
            run.append(i)
            names[i] = stmt.name
            continue
        width = max((len(names[j]) for j in run), default=0)
        for j in run:
            widths[j] = width
        run = []
    return widths


def _field_widths(fields: Sequence[n.Field]) -> list[int]:
    width = max((len(_field_name(f)) + 1 for f in fields), default=0)
    return [width] * len(fields)


def _multiline_object(v: n.Value, indent: str, width: int) -> bool:
    if not isinstance(v, n.Object) or not v.fields:
        return False
    if v.span.line and v.span.end_line > v.span.line:
        return True
    return len(indent) + width + 3 + len(value(v)) > WIDTH


# ---- statements and values ----------------------------------------------------------------


def statement(stmt: n.Statement, width: int = 0) -> str:
    match stmt:
        case n.Assign(name, v):
            return f"{name.ljust(width)} = {value(v)}"
        case n.Require(cond):
            return f"require {condition(cond)}"
        case n.Output(schema):
            return f"output {value(schema)}"
        case n.Take(origin, amount, percent, where):
            text = f"take {origin} {amount.raw or amount.value}{'%' if percent else ''}"
            return text + (f" where {condition(where)}" if where else "")
        case n.Quota(origin, where, bound, count):
            return f"quota {origin} where {condition(where)} {bound} {value(count)}"
        case n.Balance(origin, by):
            return f"balance {origin} by {by.dotted}"
        case n.Dedupe(mode, threshold):
            return f"dedupe {mode}" + (f" {value(threshold)}" if threshold else "")
        case n.Leakage(source, max_overlap):
            return f"leakage {source} max_overlap {value(max_overlap)}"
        case n.Judge(model, rubric, minimum):
            return f"judge {model} rubric {value(rubric)} min {value(minimum)}"
        case n.Split(parts):
            return "split " + ", ".join(f"{p.name} {value(p.ratio)}" for p in parts)
        case n.Write(path, fmt):
            return f"write {value(path)} as {fmt}"
    raise TypeError(stmt)


def value(v: n.Value | n.Weighted | n.Keyword) -> str:
    match v:
        case n.Str(text, raw):
            return raw or quote(text)
        case n.Num(number, raw):
            return raw or repr(number)
        case n.Bool(flag):
            return "true" if flag else "false"
        case n.Ref():
            return v.dotted
        case n.Range(lo, hi):
            return f"{value(lo)}..{value(hi)}"
        case n.Weighted(item, weight):
            return f"{value(item)}: {value(weight)}"
        case n.Keyword(name, item):
            return f"{name} = {value(item)}"
        case n.Call(name, args):
            return f"{name}({', '.join(value(a) for a in args)})"
        case n.Object(fields):
            if not fields:
                return "{}"
            inner = ", ".join(f"{_field_name(f)}: {value(f.value)}" for f in fields)
            return f"{{ {inner} }}"
        case n.List(items):
            return "[" + ", ".join(value(i) for i in items) + "]"
        case n.IfValue(cond, then, else_):
            return f"if {condition(cond)} then {value(then)} else {value(else_)}"
    raise TypeError(v)


def condition(c: n.Condition) -> str:
    match c:
        case n.Compare(left, op, right):
            return f"{left.dotted} {op} {value(right)}"
        case n.Member(left, items):
            return f"{left.dotted} in {value(items)}"
        case n.Not(item):
            inner = condition(item)
            return f"not ({inner})" if isinstance(item, n.And | n.Or) else f"not {inner}"
        case n.And(items):
            return " and ".join(_grouped(i) for i in items)
        case n.Or(items):
            return " or ".join(_grouped(i) for i in items)
    raise TypeError(c)


def _grouped(c: n.Condition) -> str:
    return f"({condition(c)})" if isinstance(c, n.And | n.Or) else condition(c)
