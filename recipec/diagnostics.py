"""Diagnostics: one data type for every error, a registry of codes, and the one renderer."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipec.source import NO_SPAN, Span

# code -> one-line meaning; the registry keeps codes stable and documented (docs/errors.md).
CODES: dict[str, str] = {
    "syntax": "the text does not follow the recipe grammar",
    "encoding": "the file is not UTF-8 text",
    "undefined-name": "a name refers to nothing declared",
    "duplicate-name": "two declarations share a name",
    "unknown-setting": "a block has a setting the language does not define",
    "missing-setting": "a required setting is absent",
    "type": "a value has the wrong type or shape",
    "range": "a number or range is out of bounds",
    "template": "a Jinja2 prompt template is invalid or uses an undefined variable",
    "file": "a referenced file is missing or unreadable",
    "data": "a row of a data source is malformed",
    "schema": "an output schema is invalid",
    "mix": "a mix cannot be satisfied as written",
    "persona": "a persona's attributes cannot be sampled as written",
    "include": "an included recipe cannot be loaded",
    "nesting": "an expression is nested too deeply to compile",
    "limit": "a count or size is above the documented maximum",
    "confined": "a file lies outside the folders a recipe may read, or is not a regular file",
    "reserved-name": "a name collides with a file recipec writes",
    "literal-template": "template syntax in text that is written verbatim, never rendered",
}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span = NO_SPAN
    hint: str | None = None
    severity: str = "error"

    def __post_init__(self) -> None:
        assert self.code in CODES, self.code

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.col, self.message)


class BuildFailed(Exception):
    """A build (or a command after the front end) cannot go on: a message, a hint, an exit code."""

    def __init__(self, message: str, hint: str = "", exit_code: int = 1):
        super().__init__(message)
        self.message, self.hint, self.exit_code = message, hint, exit_code


class RecipeError(Exception):
    """Raised with every diagnostic found when a stage cannot go on."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.message for d in self.diagnostics))


DEFAULT_TEACHER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"  # what `make model` fetches


def missing_model_hint(path: str) -> str:
    """What to do about a model file that is not there: only the default teacher is fetched by
    `make model`; a GGUF of the user's own has to be found or put in place."""
    if Path(path).name == DEFAULT_TEACHER_FILE:
        return "this is the default teacher: `make model` fetches it into models/"
    return (
        "check the path (it is looked up beside the recipe, in the current folder, then in "
        "models/), or put the file there; `recipec models FILE` prints the sha256 to write"
    )


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None


Style = Callable[[str, str], str]


def plain(text: str, role: str) -> str:
    """The style that adds nothing: the renderer's output is then the plain gcc/mypy form."""
    return text


def render(diag: Diagnostic, lines: dict[str, list[str]], style: Style = plain) -> str:
    """gcc/mypy form: `file:line:col: error: message  [code]`, the line, a caret span, a hint.
    `style(text, role)` may colour a piece (roles: location, severity, code, caret, hint); with
    the default style the text is exactly the plain form."""
    span = diag.span
    where = f"{span.file}:{span.line}:{span.col}:" if span.line else f"{span.file}:"
    head = (
        f"{style(where, 'location')} {style(diag.severity + ':', diag.severity)} {diag.message}"
        f"  {style(f'[{diag.code}]', 'code')}"
    )
    out = [head]
    text = lines.get(span.file, [])
    if 0 < span.line <= len(text):
        source_line = text[span.line - 1].rstrip("\n").expandtabs(1)
        out.append("    " + source_line)
        width = (
            span.end_col - span.col
            if span.end_line == span.line
            else len(source_line) - span.col + 1
        )
        caret = "^" + "~" * max(0, width - 1)
        out.append("    " + " " * (span.col - 1) + style(caret, "caret"))
    if diag.hint:
        out.append(f"    {style('hint:', 'hint')} {diag.hint}")
    return "\n".join(out)


def as_json(diag: Diagnostic) -> dict[str, Any]:
    """One diagnostic as the object `recipec check --output-format json` lists."""
    span = diag.span
    return {
        "file": span.file,
        "line": span.line or None,
        "col": span.col or None,
        "end_line": span.end_line or None,
        "end_col": span.end_col or None,
        "code": diag.code,
        "severity": diag.severity,
        "message": diag.message,
        "hint": diag.hint,
    }


def as_github(diag: Diagnostic) -> str:
    """A GitHub Actions workflow command, which the Actions UI shows on the file's line."""
    span = diag.span
    props = [f"file={_gh_property(span.file)}"]
    if span.line:
        props += [f"line={span.line}", f"col={span.col}"]
        if span.end_line:
            props += [f"endLine={span.end_line}", f"endColumn={span.end_col}"]
    props.append(f"title={_gh_property(f'recipec [{diag.code}]')}")
    message = diag.message + (f"\nhint: {diag.hint}" if diag.hint else "")
    kind = "warning" if diag.severity == "warning" else "error"
    return f"::{kind} {','.join(props)}::{_gh_data(message)}"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")
