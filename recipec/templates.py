"""Prompt templates: program.Template + variables -> text, in a bounded Jinja2 sandbox, with
errors mapped back to the recipe's line and column.

A prompt template is code a recipe runs at plan time, so it runs under limits: no constant is
folded at compile time, every operator that can grow a value (`*`, `**`, `+`, `%`, `~`), every
call, filter and loop step is metered, and a render stops at a deadline, at an output size and
at Python's recursion limit. What breaks a limit is a TemplateFailure at the template's line,
never a hang, a MemoryError or a traceback.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    ImmutableSandboxedEnvironment,
)

from recipec.program import Template
from recipec.source import Span

# Limits of one render (docs/language.md, "Prompt templates").
MAX_OUTPUT = 100_000  # characters of a rendered prompt
MAX_VALUE = 1_000_000  # characters or items of any value built while rendering
MAX_WORK = 2_000_000  # characters produced in all, counting text inside loops and macros
MAX_INT = 100_000  # an integer passed to a call or filter (a width, a count, a range)
MAX_BITS = 4_096  # bits of an integer result of `*` or `**`
MAX_STEPS = 100_000  # loop iterations in all
RENDER_SECONDS = 2.0

_ITER, _CONCAT = "__recipec_iter", "__recipec_concat"
_UNSAFE = (
    UNSAFE_FUNCTION_ATTRIBUTES
    | UNSAFE_METHOD_ATTRIBUTES
    | UNSAFE_GENERATOR_ATTRIBUTES
    | UNSAFE_COROUTINE_ATTRIBUTES
    | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
)
# A width or precision of a million or more, or one taken from the arguments (`*`, `{:{}}`), in
# printf-style (`%` and the `format` filter) and str.format specifications.
_WIDE = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d{6,}|\d*\.(?:\*|\d{6,}))"
    r"|\{[^{}]*:[^{}]*(?:\d{6,}|\{)"
)


class TemplateFailure(Exception):
    def __init__(self, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.message, self.span, self.hint = message, span, hint


class LimitExceeded(jinja2.TemplateRuntimeError):
    """A render went past one of the limits above."""


# ---- the meter ----------------------------------------------------------------------------


@dataclass
class _Meter:
    deadline: float
    work: int = 0
    steps: int = 0


_local = threading.local()


def _meter() -> _Meter | None:
    return getattr(_local, "meter", None)


def _tick(work: int = 0, steps: int = 0) -> None:
    """Charge the render in progress; outside a render (compile-time folding) only the static
    limits apply."""
    m = _meter()
    if m is None:
        return
    m.work += work
    m.steps += steps
    if m.work > MAX_WORK:
        raise LimitExceeded(f"the template produces more than {MAX_WORK:,} characters")
    if m.steps > MAX_STEPS:
        raise LimitExceeded(f"the template's loops run more than {MAX_STEPS:,} steps")
    if time.monotonic() > m.deadline:
        raise LimitExceeded(f"rendering takes longer than {RENDER_SECONDS:g} s")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0


def _check_size(value: Any) -> Any:
    if _size(value) > MAX_VALUE:
        raise LimitExceeded(f"a value grows past {MAX_VALUE:,} characters or items")
    return value


def _check_int(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise LimitExceeded(f"the number {_short(value)} is above the limit of {MAX_INT:,}")


def _check_widths(fmt: Any) -> None:
    if isinstance(fmt, str) and _WIDE.search(fmt):
        raise LimitExceeded("a format width must be a literal number below 1,000,000")


def _short(value: int) -> str:
    return str(value) if value.bit_length() < 64 else f"of {value.bit_length()} bits"


def _guard_args(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before a string method or filter runs: the text it could build stays within MAX_VALUE."""
    if not isinstance(value, str):
        return
    extra = (*args, *kwargs.values())
    ints = [a for a in extra if isinstance(a, int) and not isinstance(a, bool)]
    texts = [a for a in extra if isinstance(a, str)]
    for a in ints:
        _check_int(a)
    if name in ("format", "format_map"):
        _check_widths(value)
    if _grown(name, value, ints, texts) > MAX_VALUE:
        raise LimitExceeded(f"the result of {name} could grow past {MAX_VALUE:,} characters")


def _grown(name: str, value: str, ints: list[int], texts: list[str]) -> int:
    """An upper bound of the length of `name(value, ...)` for the calls that grow text."""
    width = max([0, *ints])
    if name == "indent":
        return len(value) + (value.count("\n") + 1) * max([width, *map(len, texts)])
    if name == "expandtabs":
        return len(value) + value.count("\t") * (width or 8)
    if name == "replace" and len(texts) >= 2:
        return len(value) + value.count(texts[0] or " ") * len(texts[1]) + len(texts[1])
    if name == "wordwrap":
        return len(value) * (2 + max([1, *map(len, texts)]))
    return len(value) + width + sum(map(len, texts))


def _bounded_join(value: Iterable[Any], sep: str = "") -> list[Any]:
    items = list(value)
    _check_size(items)
    if sum(len(str(i)) for i in items) + len(sep) * len(items) > MAX_VALUE:
        raise LimitExceeded(f"the joined text would grow past {MAX_VALUE:,} characters")
    return items


# ---- the environment ----------------------------------------------------------------------


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every growth metered (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            finalize=_finalize,
        )
        # Folding runs before any limit can apply (`10 ** 10 ** 10` would hang compilation).
        self.optimized = False
        # lipsum and random draw from the global RNG: prompts must rebuild byte for byte.
        self.globals.pop("lipsum", None)
        self.filters.pop("random", None)
        self.filters = {name: _metered_filter(name, f) for name, f in self.filters.items()}
        self.globals[_ITER] = _metered_iter
        self.globals[_CONCAT] = _metered_concat

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _check_size(self.binop_table[operator](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        _guard_args(name, owner, args, kwargs)
        if isinstance(owner, str) and name == "join" and args:
            args = (_bounded_join(args[0], owner), *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        _tick(work=_size(result))
        return _check_size(result)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_widths(obj)  # the sandbox wraps str.format: the call no longer shows the text
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    numbers = all(isinstance(x, int | float) for x in (left, right))
    if operator == "**" and numbers and isinstance(left, int) and isinstance(right, int):
        if right > 0 and max(1, abs(left).bit_length()) * right > MAX_BITS:
            raise LimitExceeded(f"the power has more than {MAX_BITS} bits")
    elif operator == "*" and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_BITS:
            raise LimitExceeded(f"the product has more than {MAX_BITS} bits")
    elif operator == "*":
        count = right if isinstance(right, int) else left
        seq = left if isinstance(right, int) else right
        if isinstance(count, int) and _size(seq) * max(0, count) > MAX_VALUE:
            raise LimitExceeded(f"the repetition grows past {MAX_VALUE:,} characters or items")
    elif operator == "+" and _size(left) + _size(right) > MAX_VALUE:
        raise LimitExceeded(f"the sum grows past {MAX_VALUE:,} characters or items")
    elif operator == "%":
        _check_widths(left)


def _finalize(value: Any) -> str:
    text = str(value)
    _tick(work=len(text))
    return _check_size(text)


_PASSED = (jinja2.Environment, jinja2.runtime.Context, nodes.EvalContext)


def _metered_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    def metered(*args: Any, **kwargs: Any) -> Any:
        _tick()
        # The value is the first argument after any environment/context Jinja passes.
        values = [a for a in args if not isinstance(a, _PASSED)]
        value, rest = (values[0], tuple(values[1:])) if values else (None, ())
        _guard_args(name, value, rest, kwargs)
        if name == "join" and value is not None and not isinstance(value, str):
            sep = rest[0] if rest and isinstance(rest[0], str) else kwargs.get("d", "")
            _bounded_join(value, sep if isinstance(sep, str) else "")
        result = f(*args, **kwargs)
        _tick(work=_size(result))
        return _check_size(result)

    # Jinja reads how to call a filter (with the environment, the context...) from these marks.
    metered.__dict__.update(getattr(f, "__dict__", {}))
    return metered


def _metered_iter(iterable: Any, cost: int = 0) -> Iterator[Any]:
    """Every loop step is charged one step plus the literal text of the loop's body."""
    for item in iterable:
        _tick(work=cost, steps=1)
        yield item


def _metered_concat(*parts: Any) -> str:
    if sum(len(str(p)) for p in parts) > MAX_VALUE:
        raise LimitExceeded(f"the concatenation grows past {MAX_VALUE:,} characters")
    return "".join(str(p) for p in parts)


@cache
def environment() -> BoundedEnvironment:
    return BoundedEnvironment()


def _instrument(ast: nodes.Template) -> nodes.Template:
    """Route every loop and every `~` through the meter (the sandbox has no hook for them)."""
    for loop in ast.find_all(nodes.For):
        cost = sum(len(d.data) for body in loop.body for d in body.find_all(nodes.TemplateData))
        loop.iter = nodes.Call(
            nodes.Name(_ITER, "load"), [loop.iter, nodes.Const(cost)], [], None, None
        ).set_lineno(loop.lineno)
    for concat in list(ast.find_all(nodes.Concat)):
        call = nodes.Call(nodes.Name(_CONCAT, "load"), concat.nodes, [], None, None)
        _replace(ast, concat, call.set_lineno(concat.lineno))
    return ast


def _replace(root: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    for parent in root.find_all(nodes.Node):
        for name, value in parent.iter_fields():
            if value is old:
                setattr(parent, name, new)
            elif isinstance(value, list):
                value[:] = [new if v is old else v for v in value]


# ---- spans --------------------------------------------------------------------------------


def span_at(t: Template, line: int, needle: str | None = None) -> Span:
    """The recipe span of template line `line` (1-based), at `needle` if it is found there."""
    lines = t.text.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    base = t.col if line == 1 else t.indent + 1
    offset, width = 0, max(1, len(text))
    if needle and needle in text:
        offset, width = text.index(needle), len(needle)
    return Span(t.file, t.line + line - 1, base + offset, t.line + line - 1, base + offset + width)


# ---- checking -----------------------------------------------------------------------------


@cache
def _parse(text: str) -> nodes.Template:
    return environment().parse(text)


def _syntax(t: Template) -> nodes.Template:
    try:
        return _parse(t.text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(
            f"template syntax error: {exc.message}", span_at(t, exc.lineno or 1)
        ) from None
    except RecursionError:
        raise TemplateFailure("the template is nested too deeply", span_at(t, 1)) from None


def names(t: Template) -> tuple[set[str], list[tuple[str, str, int]]]:
    """Undeclared variables, and (object, attribute, line) for every `x.attr` in the template.
    Raises TemplateFailure on a syntax error."""
    ast = _syntax(t)
    attrs = [
        (node.node.name, node.attr, node.lineno)
        for node in ast.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name)
    ]
    try:
        return meta.find_undeclared_variables(ast), attrs
    except jinja2.TemplateSyntaxError as exc:  # an unknown filter or test
        raise TemplateFailure(f"template error: {exc.message}", span_at(t, exc.lineno)) from None
    except RecursionError:
        raise TemplateFailure("the template is nested too deeply", span_at(t, 1)) from None


def problems(t: Template) -> list[TemplateFailure]:
    """What check time can see without rendering: other templates it would load, attributes the
    sandbox refuses, names of filters and tests that do not exist."""
    ast = _syntax(t)
    found = [
        TemplateFailure(
            "a prompt template cannot include, import or extend another template",
            span_at(t, node.lineno),
            "write the text into the prompt, or share it with a recipe `include`",
        )
        for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))
    ]
    found += [
        TemplateFailure(
            f"the attribute '{name}' is not allowed in a template",
            span_at(t, line, name),
            "templates may read persona attributes, examples, task and turns, nothing internal",
        )
        for name, line in _attributes(ast)
        if name.startswith("_") or name in _UNSAFE
    ]
    if not found:
        try:
            _compiled(t.text)
        except jinja2.TemplateSyntaxError as exc:  # an unknown filter or test
            found.append(TemplateFailure(f"template error: {exc.message}", span_at(t, exc.lineno)))
        except (SyntaxError, RecursionError):  # Python's own limits on the compiled template
            found.append(TemplateFailure("the template is nested too deeply", span_at(t, 1)))
        except (LimitExceeded, MemoryError) as exc:
            found.append(TemplateFailure(f"template error: {_describe(exc)}", span_at(t, 1)))
    return found


def _attributes(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    for node in ast.find_all(nodes.Getattr):
        yield node.attr, node.lineno
    for item in ast.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            yield item.arg.value, item.lineno
    for f in ast.find_all(nodes.Filter):
        if f.name == "attr" and f.args and isinstance(f.args[0], nodes.Const):
            yield str(f.args[0].value), f.lineno


# ---- rendering ----------------------------------------------------------------------------


@cache
def _compiled(text: str) -> jinja2.Template:
    env = environment()
    return env.from_string(_instrument(env.parse(text)))


def render(t: Template, variables: dict[str, Any]) -> str:
    """The rendered, stripped text; TemplateFailure on any error or exceeded limit."""
    _local.meter = _Meter(time.monotonic() + RENDER_SECONDS)
    try:
        return _stream(_compiled(t.text), variables).strip()
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(f"template error: {exc.message}", span_at(t, exc.lineno)) from None
    except jinja2.UndefinedError as exc:
        raise TemplateFailure(f"template error: {exc.message}", _error_span(t, exc)) from None
    except LimitExceeded as exc:
        raise TemplateFailure(
            f"template error: {exc.message}",
            _error_span(t, exc),
            "a prompt template must stay small and quick; remove the runaway loop or value",
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure of user code in a template is a diagnostic
        raise TemplateFailure(f"template error: {_describe(exc)}", _error_span(t, exc)) from None
    finally:
        _local.meter = None


def _stream(template: jinja2.Template, variables: dict[str, Any]) -> str:
    out: list[str] = []
    size = 0
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise LimitExceeded(f"the rendered prompt is longer than {MAX_OUTPUT:,} characters")
        _tick(work=len(chunk))
        out.append(chunk)
    return "".join(out)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "recursion too deep (a macro or recursive loop that does not end?)"
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OverflowError):
        return "a number is too large"
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _error_span(t: Template, exc: BaseException) -> Span:
    line, inner = getattr(exc, "lineno", None), None
    tb = exc.__traceback__
    while tb is not None:  # the innermost template frame is where it failed
        if tb.tb_frame.f_code.co_filename == "<template>":
            inner = tb.tb_lineno
        tb = tb.tb_next
    return span_at(t, line or inner or 1)
