"""Command line: thin click commands over recipec's public functions."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

import recipec
from recipec.diagnostics import BuildFailed, Diagnostic, RecipeError, render
from recipec.source import NotText, Span, decode_text

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _lines(files: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in set(files):
        try:
            out[name] = Path(name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            out[name] = []
    return out


def report_diagnostics(diagnostics: list[Diagnostic]) -> None:
    lines = _lines(d.span.file for d in diagnostics)
    for d in diagnostics:
        click.echo(render(d, lines), err=True)
    count = len(diagnostics)
    click.echo(f"{count} error{'s' if count != 1 else ''} found", err=True)


def _load(path: Path) -> Any:
    """parse + check, with file-level problems turned into diagnostics."""
    try:
        return recipec.check(recipec.parse(path))
    except NotText as exc:
        raise RecipeError([Diagnostic("encoding", str(exc), Span(str(path), 0, 0, 0, 0))]) from None
    except RecursionError:
        raise RecipeError([Diagnostic("syntax", f"{path}: nesting too deep to read")]) from None


def guarded(fn: F) -> F:
    """Recipe errors become diagnostics and exit 1; no traceback reaches the user."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecipeError as exc:
            report_diagnostics(exc.diagnostics)
            sys.exit(EXIT_ERRORS)
        except OSError as exc:
            click.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERRORS)
        except BuildFailed as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"    hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


RECIPE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(recipec.__version__, prog_name="recipec")
def main() -> None:
    """recipec: compile .recipe files into synthetic fine-tuning datasets."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=RECIPE)
def check(files: tuple[Path, ...]) -> None:
    """Report every error in FILES (exit 0 clean, 1 errors found, 2 usage)."""
    diagnostics: list[Diagnostic] = []
    for path in files:
        try:
            _load(path)
        except RecipeError as exc:
            diagnostics.extend(exc.diagnostics)
    if diagnostics:
        report_diagnostics(diagnostics)
        sys.exit(EXIT_ERRORS)
    click.echo(f"{len(files)} recipe{'s' if len(files) != 1 else ''} checked, no errors")


@main.command()
@click.argument("files", nargs=-1, required=True, type=RECIPE)
@click.option(
    "--check", "check_only", is_flag=True, help="Exit 1 if a file would change; write nothing."
)
@click.option("--diff", is_flag=True, help="Print the changes as a unified diff; write nothing.")
def fmt(files: tuple[Path, ...], check_only: bool, diff: bool) -> None:
    """Rewrite FILES in the canonical layout, keeping comments."""
    changed, failed = [], []
    for path in files:
        try:
            before = decode_text(path.read_bytes(), str(path))
            after = recipec.format_recipe(before, str(path))
        except (RecipeError, NotText) as exc:
            diags = (
                exc.diagnostics
                if isinstance(exc, RecipeError)
                else [Diagnostic("encoding", str(exc))]
            )
            report_diagnostics(diags)
            failed.append(path)
            continue
        if after == before:
            continue
        changed.append(path)
        if diff:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        before.splitlines(True),
                        after.splitlines(True),
                        f"{path}",
                        f"{path} (formatted)",
                    )
                ),
                nl=False,
            )
        if not (check_only or diff):
            path.write_text(after, encoding="utf-8")
    verb = "would reformat" if (check_only or diff) else "reformatted"
    for path in changed:
        click.echo(f"{verb} {path}", err=True)
    click.echo(
        f"{len(changed)} file(s) {verb}, {len(files) - len(changed) - len(failed)} unchanged",
        err=True,
    )
    sys.exit(EXIT_ERRORS if failed or (check_only and changed) else EXIT_OK)


@main.command()
@click.argument("file", type=RECIPE)
@click.option(
    "--json", "as_json", is_flag=True, help="Write the full plan as JSON to standard output."
)
@guarded
def plan(file: Path, as_json: bool) -> None:
    """Show exactly what a build of FILE will generate."""
    from recipec.planner import summary, write_json

    plan_ = recipec.plan(_load(file))
    if as_json:
        write_json(plan_, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        click.echo(summary(plan_))


@main.command()
@click.argument("file", type=RECIPE)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: the mix's `write` path).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), help="Generate at most N records per mix (a trial run)."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="llama.cpp threads (default: the cores this process may use).",
)
@click.option("--mix", "mix_name", help="Build only this mix.")
@guarded
def build(
    file: Path, out: Path | None, limit: int | None, threads: int | None, mix_name: str | None
) -> None:
    """Generate the dataset FILE describes; rerun to resume an interrupted build."""
    plan_ = recipec.plan(_load(file))
    report = recipec.build(plan_, out, limit=limit, threads=threads, mix=mix_name)
    sys.exit(report.exit_code)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def models(paths: tuple[Path, ...]) -> None:
    """List the models of recipes, GGUF files or folders (default: ./models)."""
    from recipec.inventory import list_models

    sys.exit(list_models(paths or (Path("models"),), click.echo))


@main.command()
@click.argument("outdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@guarded
def report(outdir: Path) -> None:
    """Re-render report.md and report.html of a finished build in OUTDIR."""
    from recipec.builder import rerender_report

    rerender_report(outdir)
    click.echo(f"wrote {outdir / 'report.md'} and {outdir / 'report.html'}")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Where builds will write (checked for write access and free space).",
)
@click.option(
    "--bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also verify an offline bundle made by `make bundle`.",
)
def doctor(paths: tuple[Path, ...], out: Path, bundle: Path | None) -> None:
    """Check the install, CPU, models of PATHS (default: ./models) and the output folder."""
    from recipec.doctor import diagnose, render

    checkup = diagnose(paths or (Path("models"),), out, bundle)
    for line in render(checkup):
        click.echo(line)
    sys.exit(checkup.exit_code)


if __name__ == "__main__":
    main()
