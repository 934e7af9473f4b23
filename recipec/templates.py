"""Prompt templates: program.Template + variables -> text, in Jinja2's sandbox, with errors
mapped back to the recipe's line and column."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from recipec.program import Template
from recipec.source import Span


class TemplateFailure(Exception):
    def __init__(self, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.message, self.span, self.hint = message, span, hint


@cache
def environment() -> ImmutableSandboxedEnvironment:
    # The sandbox blocks attribute access to Python internals; no loader means no file access,
    # and only Jinja's own filters and tests are available.
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def span_at(t: Template, line: int, needle: str | None = None) -> Span:
    """The recipe span of template line `line` (1-based), at `needle` if it is found there."""
    lines = t.text.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    base = t.col if line == 1 else t.indent + 1
    offset, width = 0, max(1, len(text))
    if needle and needle in text:
        offset, width = text.index(needle), len(needle)
    return Span(t.file, t.line + line - 1, base + offset, t.line + line - 1, base + offset + width)


@cache
def _parse(text: str) -> nodes.Template:
    return environment().parse(text)


def names(t: Template) -> tuple[set[str], list[tuple[str, str, int]]]:
    """Undeclared variables, and (object, attribute, line) for every `x.attr` in the template.
    Raises TemplateFailure on a syntax error."""
    try:
        ast = _parse(t.text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(
            f"template syntax error: {exc.message}", span_at(t, exc.lineno or 1)
        ) from None
    attrs = [
        (node.node.name, node.attr, node.lineno)
        for node in ast.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name)
    ]
    return meta.find_undeclared_variables(ast), attrs


@cache
def _compiled(text: str) -> jinja2.Template:
    return environment().from_string(text)


def render(t: Template, variables: dict[str, Any]) -> str:
    try:
        return _compiled(t.text).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise TemplateFailure(f"template error: {exc.message}", _error_span(t, exc)) from None
    except jinja2.TemplateError as exc:
        raise TemplateFailure(f"template error: {exc}", _error_span(t, exc)) from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise TemplateFailure(f"template error: {exc}", _error_span(t, exc)) from None


def _error_span(t: Template, exc: BaseException) -> Span:
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while line is None and tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return span_at(t, line or 1)
