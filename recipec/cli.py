"""Command line: thin click commands over recipec's public functions."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

import recipec
from recipec.diagnostics import (
    DEFAULT_TEACHER_FILE,
    BuildFailed,
    Diagnostic,
    RecipeError,
    as_github,
    as_json,
    render,
)
from recipec.source import NotText, Refused, Span, decode_text, read_regular

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
COLOR_CHOICES = ("auto", "always", "never")
# How each piece of output is coloured when colour is on (click.style arguments).
ROLES: dict[str, dict[str, Any]] = {
    "location": {"bold": True},
    "error": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow", "bold": True},
    "code": {"dim": True},
    "caret": {"fg": "red", "bold": True},
    "hint": {"fg": "cyan", "bold": True},
    "ok": {"fg": "green", "bold": True},
}
# `plan --json` is held back until it is complete; past this size it waits on disk, not in memory.
SPOOL_BYTES = 8 << 20


def use_color(choice: str, env: Mapping[str, str], tty: bool) -> bool:
    """`--color always|never` wins; under `auto`, NO_COLOR turns colour off, FORCE_COLOR turns it
    on, and otherwise colour is used on a terminal (https://no-color.org, https://force-color.org)."""
    if choice != "auto":
        return choice == "always"
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0", "false"):
        return True
    return tty and env.get("TERM") != "dumb"


@dataclass
class Console:
    """The user's output settings (-q, -v, --color), shared by every command of one run."""

    quiet: bool = False
    verbose: bool = False
    color_choice: str = "auto"

    @property
    def color(self) -> bool:
        return use_color(self.color_choice, os.environ, _isatty(sys.stderr))

    def style(self, text: str, role: str) -> str:
        return click.style(text, **ROLES[role]) if self.color else text

    def echo(self, text: str = "", err: bool = False) -> None:
        click.echo(text, err=err, color=self.color)

    def info(self, text: str, err: bool = False) -> None:
        """A message that -q silences (summaries, next steps); errors never go through here."""
        if not self.quiet:
            self.echo(text, err=err)

    def detail(self, text: str) -> None:
        """A message only -v shows; always on standard error, so data on stdout stays clean."""
        if self.verbose:
            self.echo(text, err=True)

    def error(self, message: str, hint: str | None = None) -> None:
        self.echo(f"{self.style('error:', 'error')} {message}", err=True)
        if hint:
            self.echo(f"    {self.style('hint:', 'hint')} {hint}", err=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def console() -> Console:
    """The settings of the command being run (defaults outside a click command)."""
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().ensure_object(Console) if ctx else Console()


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).quiet = True
        _exclusive(ctx)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).verbose = True
        _exclusive(ctx)


def _exclusive(ctx: click.Context) -> None:
    settings = _settings(ctx)
    if settings.quiet and settings.verbose:
        raise click.UsageError("-q/--quiet and -v/--verbose cannot be used together", ctx)


def _set_color(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _settings(ctx).color_choice = value


def _settings(ctx: click.Context) -> Console:
    settings = ctx.find_root().ensure_object(Console)
    if ctx.resilient_parsing:
        return Console()  # shell completion: settings do not matter
    return settings


def _common_options() -> list[click.Parameter]:
    """-q, -v and --color: accepted before the command (`recipec -q check`) and after it."""
    return [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="Print only errors and the data asked for.",
        ),
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_set_verbose,
            help="Also say what was done to each file.",
        ),
        click.Option(
            ["--color"],
            type=click.Choice(COLOR_CHOICES),
            expose_value=False,
            callback=_set_color,
            help="Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.",
        ),
    ]


class _Group(click.Group):
    """A group whose every command takes the common options too."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.extend(_common_options())
        super().add_command(cmd, name)


def _lines(files: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in set(files):
        try:
            # Only a bounded regular file: a diagnostic may name a device or a pipe.
            out[name] = read_regular(Path(name)).decode("utf-8", "replace").splitlines()
        except (OSError, Refused):
            out[name] = []
    return out


def report_diagnostics(diagnostics: list[Diagnostic]) -> None:
    """Diagnostics in the gcc/mypy text form on standard error, coloured where colour is on."""
    out = console()
    lines = _lines(d.span.file for d in diagnostics)
    for d in diagnostics:
        out.echo(render(d, lines, out.style), err=True)
    count = len(diagnostics)
    out.info(out.style(f"{count} error{'s' if count != 1 else ''} found", "error"), err=True)


def _load(path: Path, allow: tuple[Path, ...] = ()) -> Any:
    """parse + check, with file-level problems turned into diagnostics."""
    try:
        return recipec.check(recipec.parse(path, allow=allow), allow=allow)
    except NotText as exc:
        raise RecipeError([Diagnostic("encoding", str(exc), Span(str(path), 0, 0, 0, 0))]) from None
    except RecursionError:
        raise RecipeError([Diagnostic("syntax", f"{path}: nesting too deep to read")]) from None
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror or exc}"
        raise RecipeError([Diagnostic("file", message, Span(str(path), 0, 0, 0, 0))]) from None


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
            console().error(f"{exc.filename or ''}: {exc.strerror or exc}")
            sys.exit(EXIT_ERRORS)
        except BuildFailed as exc:
            console().error(exc.message, exc.hint)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


RECIPE = click.Path(exists=True, dir_okay=False, path_type=Path)
ALLOW_DIR = click.option(
    "--allow-dir",
    "allow",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also let the recipe read files under this folder (repeatable; see $RECIPEC_ALLOW_DIRS).",
)
RECIPES = click.Path(exists=True, path_type=Path)  # files, or folders searched for *.recipe


def recipe_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given; for a folder, every *.recipe below it (hidden folders skipped), sorted."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(
            f
            for f in path.rglob("*.recipe")
            if f.is_file() and not any(p.startswith(".") for p in f.relative_to(path).parts)
        )
        if not found:
            raise click.UsageError(f"no .recipe files under {path}")
        out += found
    return list(dict.fromkeys(out))


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from recipec.inventory import runtime_versions

    for name, version in runtime_versions():
        click.echo(f"{name} {version}")
    ctx.exit(EXIT_OK)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show the versions of recipec, llama-cpp-python and llama.cpp, and exit.",
)
def main() -> None:
    """recipec: compile .recipe files into synthetic fine-tuning datasets.

    \b
    Shell completion (bash; use zsh_source or fish_source for those shells):
      eval "$(_RECIPEC_COMPLETE=bash_source recipec)"

    With RECIPEC_OFFLINE=1, any attempt to open a network socket is an error.
    """
    if os.environ.get(OFFLINE_ENV) == "1":
        refuse_network()


OFFLINE_ENV = "RECIPEC_OFFLINE"
NETWORK_EVENTS = ("socket.__new__", "socket.connect", "socket.getaddrinfo", "socket.bind")


def refuse_network() -> None:
    """From now on, opening a socket from Python raises: proof on a running build that nothing
    reaches for the network (the test suite sets RECIPEC_OFFLINE=1 for every command it runs).
    Native code (llama.cpp) is not seen by audit hooks: `unshare -rn` covers it."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in NETWORK_EVENTS:
            raise PermissionError(
                f"{OFFLINE_ENV}=1: something tried to use the network ({event}); "
                "recipec never does: report this as a bug"
            )

    sys.addaudithook(hook)


main.params.extend(_common_options())


@main.command()
@click.argument("paths", nargs=-1, required=True, type=RECIPES)
@ALLOW_DIR
@click.option(
    "--output-format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: for people; json: a list of objects on stdout; github: Actions annotations.",
)
def check(paths: tuple[Path, ...], output_format: str, allow: tuple[Path, ...]) -> None:
    """Report every error in PATHS: recipe files or folders (exit 0 clean, 1 errors, 2 usage)."""
    files = recipe_files(paths)
    diagnostics: list[Diagnostic] = []
    for path in files:
        try:
            _load(path, allow)
            console().detail(f"checked {path}: no errors")
        except RecipeError as exc:
            diagnostics.extend(exc.diagnostics)
            console().detail(f"checked {path}: {len(exc.diagnostics)} error(s)")
    _show_check[output_format](diagnostics, files)
    sys.exit(EXIT_ERRORS if diagnostics else EXIT_OK)


def _check_text(diagnostics: list[Diagnostic], files: list[Path]) -> None:
    if diagnostics:
        report_diagnostics(diagnostics)
        return
    out, count = console(), len(files)
    out.info(out.style(f"{count} recipe{'s' if count != 1 else ''} checked, no errors", "ok"))


def _check_json(diagnostics: list[Diagnostic], files: list[Path]) -> None:
    click.echo(json.dumps([as_json(d) for d in diagnostics], indent=2, ensure_ascii=False))


def _check_github(diagnostics: list[Diagnostic], files: list[Path]) -> None:
    for d in diagnostics:
        click.echo(as_github(d))
    count = len(diagnostics)
    console().info(f"{count} error{'s' if count != 1 else ''} found", err=True)


_show_check: dict[str, Callable[[list[Diagnostic], list[Path]], None]] = {
    "text": _check_text,
    "json": _check_json,
    "github": _check_github,
}


@main.command()
@click.argument("paths", nargs=-1, required=True, type=RECIPES)
@click.option(
    "--check", "check_only", is_flag=True, help="Exit 1 if a file would change; write nothing."
)
@click.option("--diff", is_flag=True, help="Print the changes as a unified diff; write nothing.")
def fmt(paths: tuple[Path, ...], check_only: bool, diff: bool) -> None:
    """Rewrite PATHS (recipe files or folders) in the canonical layout, keeping comments."""
    files = recipe_files(paths)
    out = console()
    changed, failed = [], []
    for path in files:
        texts = _formatted(path)
        if texts is None:
            failed.append(path)
            continue
        before, after = texts
        if after == before:
            out.detail(f"unchanged {path}")
            continue
        changed.append(path)
        if diff:
            click.echo(_unified_diff(path, before, after), nl=False)
        if not (check_only or diff):
            path.write_text(after, encoding="utf-8")
    verb = "would reformat" if (check_only or diff) else "reformatted"
    for path in changed:
        out.info(f"{verb} {path}", err=True)
    unchanged = len(files) - len(changed) - len(failed)
    out.info(f"{len(changed)} file(s) {verb}, {unchanged} unchanged", err=True)
    sys.exit(EXIT_ERRORS if failed or (check_only and changed) else EXIT_OK)


def _formatted(path: Path) -> tuple[str, str] | None:
    """(text, formatted text) of a recipe file, or None once its problems are reported."""
    try:
        before = decode_text(path.read_bytes(), str(path))
        return before, recipec.format_recipe(before, str(path))
    except RecipeError as exc:
        report_diagnostics(exc.diagnostics)
    except NotText as exc:
        report_diagnostics([Diagnostic("encoding", str(exc), Span(str(path), 0, 0, 0, 0))])
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror or exc}"
        report_diagnostics([Diagnostic("file", message, Span(str(path), 0, 0, 0, 0))])
    return None


def _unified_diff(path: Path, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(True), after.splitlines(True), f"{path}", f"{path} (formatted)"
    )
    return "".join(lines)


@main.command()
@click.argument("file", type=RECIPE)
@click.option(
    "--json", "as_json", is_flag=True, help="Write the full plan as JSON to standard output."
)
@ALLOW_DIR
@guarded
def plan(file: Path, as_json: bool, allow: tuple[Path, ...]) -> None:
    """Show exactly what a build of FILE will generate."""
    from recipec.planner import summary, write_json

    plan_ = recipec.plan(_load(file, allow))
    if not as_json:
        click.echo(summary(plan_))
        return
    # Jobs are made while they are written, and making one can fail: hold the document back
    # until it is complete so that an error never leaves half a plan on standard output.
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as held:
        write_json(plan_, held)
        held.seek(0)
        shutil.copyfileobj(held, sys.stdout.buffer)
    sys.stdout.flush()


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
@click.option(
    "--allow-short",
    is_flag=True,
    help="If some jobs find no acceptable record, write the records that were accepted "
    "(the manifest says `short`) instead of failing.",
)
@click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    help="Stop early once N jobs found no acceptable record (default 3; with --allow-short, "
    "never); 0 never stops early.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Build into a folder that holds another recipe's or mix's build (or a complete build, "
    "with --limit); its files are replaced when this build writes its own.",
)
@ALLOW_DIR
@guarded
def build(
    file: Path,
    out: Path | None,
    limit: int | None,
    threads: int | None,
    mix_name: str | None,
    allow_short: bool,
    max_failures: int | None,
    replace: bool,
    allow: tuple[Path, ...],
) -> None:
    """Generate the dataset FILE (a recipe, or a plan from `plan --json`) describes; rerun to
    resume an interrupted build."""
    from recipec.builder import Terminated

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    plan_ = _plan_of(file, allow)
    report = recipec.build(
        plan_,
        out,
        progress=_progress(),
        limit=limit,
        threads=threads,
        mix=mix_name,
        allow_short=allow_short,
        max_failures=max_failures,
        replace=replace,
    )
    sys.exit(report.exit_code)


def _progress() -> Any:
    """The build's display, with this run's -q, -v and --color."""
    from recipec.progress import Progress

    out = console()
    return Progress(quiet=out.quiet, verbose=out.verbose, color=out.color)


def _plan_of(path: Path, allow: tuple[Path, ...] = ()) -> recipec.Plan:
    """A recipe is checked and planned; a plan file written by `plan --json` is read back."""
    if path.suffix != ".json":
        return recipec.plan(_load(path, allow))
    from recipec.ir import PlanFormatError

    try:
        return recipec.read_plan(path)
    except PlanFormatError as exc:
        raise BuildFailed(
            str(exc), "write a plan with `recipec plan --json FILE > plan.json`"
        ) from None


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="How many jobs to run.",
)
@click.option("--mix", "mix_name", help="Preview this mix (default: the first).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder whose journal keeps the work (default: the mix's `write` path).",
)
@click.option("--threads", type=click.IntRange(min=1), help="llama.cpp threads.")
@ALLOW_DIR
@guarded
def preview(
    file: Path,
    count: int,
    mix_name: str | None,
    out: Path | None,
    threads: int | None,
    allow: tuple[Path, ...],
) -> None:
    """Run the first N jobs of FILE through every filter and the judge and show each record,
    its persona, judge score and rejected attempts. The work is journaled in the output
    folder, so a later `recipec build` reuses it."""
    from recipec.builder import run_preview
    from recipec.builder.preview import render_html, render_text, shown_jobs

    plan_ = _plan_of(file, allow)
    mix, outdir, outcome = run_preview(plan_, count, mix_name, out, threads, _progress())
    title = f"preview of mix '{mix.name}': first {count} job(s)"
    jobs = shown_jobs(outcome)
    page = outdir / ".recipec" / "preview.html"
    page.write_text(render_html(title, jobs), encoding="utf-8")
    text = render_text(title, jobs) + f"\n(also written to {page})"
    if sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        click.echo(text)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@guarded
def models(paths: tuple[Path, ...]) -> None:
    """List the models of recipes, GGUF files or folders (default: ./models), with the full
    sha256 to write in a recipe's model block."""
    from recipec.inventory import inspect, problems, table, targets

    if not paths and not Path("models").is_dir():
        raise BuildFailed(
            "there is no models/ folder here",
            "name a GGUF file, a folder of them, or a recipe: `recipec models FILE.gguf`",
        )
    entries = [inspect(*t) for t in targets(paths or (Path("models"),), _load)]
    out = console()
    if not entries:
        out.info("no models found")
        return
    for line in table(entries):
        out.echo(line)
    for message, hint in problems(entries):
        out.error(message, hint)
    sys.exit(EXIT_ERRORS if any(e.failed for e in entries) else EXIT_OK)


@main.command()
@click.argument("outdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@guarded
def report(outdir: Path) -> None:
    """Re-render report.md and report.html of a build in OUTDIR."""
    from recipec.builder import rerender_report

    try:
        rerender_report(outdir)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # A build folder edited by hand or written by another version: say so, no traceback.
        raise BuildFailed(
            f"{outdir}: the build's files cannot be read ({type(exc).__name__}: {exc})",
            "rebuild with `recipec build` (finished work is reused), or restore the folder",
        ) from None
    console().info(f"wrote {outdir / 'report.md'} and {outdir / 'report.html'}")


def _shipped_names() -> list[str]:
    from recipec.scaffold import shipped

    return sorted(shipped())


@main.command()
@click.argument("path", required=False, type=click.Path())
@click.option(
    "--from",
    "from_",
    type=click.Choice(_shipped_names() or ["counseling"]),
    default="counseling",
    show_default=True,
    help="The shipped recipe to start from.",
)
@click.option("--force", is_flag=True, help="Overwrite PATH and data files that exist.")
@guarded
def init(path: str | None, from_: str, force: bool) -> None:
    """Write a working recipe to PATH (default: ./NAME.recipe), with its data files beside it."""
    from recipec.scaffold import init_recipe

    made = init_recipe(from_, path, force)
    out = console()
    copied = f", {len(made.copied)} data file(s) beside it" if made.copied else ""
    out.info(f"wrote {made.recipe}{copied}")
    for old, new in made.rewritten:
        out.detail(f"path {old!r} rewritten to {new!r}")
    for file in made.copied:
        out.detail(f"copied {file}")
    program = _load(made.recipe)  # it must check where it was written; guarded reports if not
    out.info(f"next: recipec plan {made.recipe}, then recipec build {made.recipe} --limit 3")
    if any(Path(m.path).name == DEFAULT_TEACHER_FILE for m in program.models.values()):
        out.info(
            "note: the default teacher (135M) is for trying recipec, not for training data; "
            "docs/models.md shows how to use a bigger GGUF"
        )


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
    main(prog_name="recipec")
