"""recipec: a compiler for synthetic fine-tuning datasets.

The pipeline at a glance (each step's output is the next one's input):

    module  = parse(path)          # text -> syntax tree (nodes.Module), includes spliced in
    program = check(module)        # names, types, templates, mix rules -> program.Program
    plan_   = plan(program)        # -> deterministic, versioned generation jobs
    report  = build(plan_, out)    # -> dataset files, manifest, provenance, report

`format_recipe(text)` is the formatter behind `recipec fmt`. Every stage raises
`RecipeError` carrying `Diagnostic`s with file:line:col.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recipec.checker import check
from recipec.diagnostics import Diagnostic, RecipeError
from recipec.fmt import format_module
from recipec.ir import Plan, read_plan
from recipec.parser import load
from recipec.parser import parse as parse_source
from recipec.planner import plan
from recipec.source import Source

if TYPE_CHECKING:
    from recipec.builder import BuildReport

try:
    __version__ = version("recipec")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
__all__ = [
    "Diagnostic",
    "Plan",
    "RecipeError",
    "build",
    "check",
    "format_recipe",
    "parse",
    "plan",
    "read_plan",
]


def parse(path: Path | str, display: str | None = None, allow: Iterable[Path | str] = ()):
    return load(Path(path), display, allow)


def format_recipe(text: str, name: str = "<recipe>") -> str:
    return format_module(parse_source(Source(name, text)))


def build(plan_: Plan, out: Path | None = None, **options: Any) -> BuildReport:
    # Imported here: checking and planning never load llama.cpp.
    from recipec.builder import run_build

    return run_build(plan_, out, **options)
