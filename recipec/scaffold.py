"""`recipec init`: a shipped recipe's name in, a working copy out (the recipe, the data files it
reads copied beside it, other paths rewritten so that the copy checks where it is written)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipec import nodes as n
from recipec.diagnostics import BuildFailed
from recipec.parser import parse
from recipec.source import Source
from recipec.strings import quote

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "recipes"
DEFAULT = "counseling"
# A rewritten path that climbs more folders than this is written absolute: easier to read.
MAX_CLIMB = 3


def shipped() -> dict[str, Path]:
    """The recipes that ship with recipec, by name."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.recipe"))}


@dataclass(frozen=True)
class Scaffold:
    """What `init_recipe` wrote: the recipe, the data files copied, the paths rewritten."""

    recipe: Path
    copied: tuple[Path, ...]
    rewritten: tuple[tuple[str, str], ...]  # (as shipped, as written)


def target_path(name: str, dest: str | None) -> Path:
    """Where `recipec init` writes: DEST itself, DEST/NAME.recipe for a folder (one that exists
    or is written with a trailing slash), or ./NAME.recipe."""
    if not dest:
        return Path(f"{name}.recipe")
    if Path(dest).is_dir() or dest.endswith(("/", os.sep)):
        return Path(dest) / f"{name}.recipe"
    return Path(dest)


def init_recipe(name: str, dest: str | None = None, force: bool = False) -> Scaffold:
    """Write shipped recipe `name` to `dest`; BuildFailed instead of overwriting without force."""
    source = shipped().get(name)
    if source is None:  # an install without the checkout's recipes/ folder
        raise BuildFailed(
            f"no shipped recipe named '{name}' in {SHIPPED_DIR}",
            "recipec init copies from the recipes/ folder of a recipec checkout",
        )
    target = target_path(name, dest)
    text = source.read_text(encoding="utf-8")
    copies, edits = _relocate(text, source, target)
    _refuse_overwrite([target, *(to for _, to in copies)], copies, force)
    for origin, to in copies:
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, to)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_apply(text, edits), encoding="utf-8")
    return Scaffold(
        target,
        tuple(to for _, to in copies),
        tuple((old.value, new) for old, new in edits),
    )


def _relocate(
    text: str, source: Path, target: Path
) -> tuple[list[tuple[Path, Path]], list[tuple[n.Str, str]]]:
    """Files under the shipped folder are copied to the same relative place beside the target;
    a path to anything else is rewritten to reach the same file from the target's folder."""
    copies: list[tuple[Path, Path]] = []
    edits: list[tuple[n.Str, str]] = []
    # Paths are normalised, not resolved: a symlinked models/ keeps its own name.
    here = Path(os.path.normpath(source.parent.absolute()))
    for node in _strings(parse(Source(str(source), text))):
        if not node.value or "\n" in node.value:
            continue
        found = Path(os.path.normpath(here / node.value))
        if not found.is_file():
            continue
        if found.is_relative_to(here):
            copies.append((found, target.parent / found.relative_to(here)))
        elif node.span.line:  # an `include` path carries no span: shipped recipes have none
            edits.append((node, _reach(found, target.parent)))
    return list(dict.fromkeys(copies)), edits


def _reach(file: Path, folder: Path) -> str:
    """A relative path when both live under one project folder, else the absolute path."""
    folder = Path(os.path.normpath(folder.absolute()))
    relative = os.path.relpath(file, folder)
    shared = os.path.commonpath([file, folder])
    near = Path(relative).parts.count("..") <= MAX_CLIMB and shared != Path(shared).anchor
    return relative if near else str(file)


def _strings(node: Any) -> Iterator[n.Str]:
    """Every string literal in a syntax tree, in source order."""
    if isinstance(node, n.Str):
        yield node
    elif isinstance(node, tuple):
        for item in node:
            yield from _strings(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            if f.name != "span":
                yield from _strings(getattr(node, f.name))


def _refuse_overwrite(paths: list[Path], copies: list[tuple[Path, Path]], force: bool) -> None:
    if force:
        return
    same = {to for origin, to in copies if to.is_file() and to.read_bytes() == origin.read_bytes()}
    taken = [p for p in paths if p.exists() and p not in same]
    if taken:
        raise BuildFailed(
            f"{taken[0]} already exists; nothing was written",
            "pass --force to overwrite it, or give another PATH",
        )


def _apply(text: str, edits: list[tuple[n.Str, str]]) -> str:
    """Replace each string literal at its span (later ones first, so offsets stay valid)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for node, new in sorted(edits, key=lambda e: (e[0].span.line, e[0].span.col), reverse=True):
        span = node.span
        begin = starts[span.line - 1] + span.col - 1
        end = starts[span.end_line - 1] + span.end_col - 1
        text = text[:begin] + quote(new) + text[end:]
    return text
