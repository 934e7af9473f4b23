"""Checker: nodes.Module -> program.Program, or RecipeError with every semantic error found."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recipec import nodes as n
from recipec import program as p
from recipec.checker import declarations, mixes, tasks
from recipec.checker.context import Context, Invalid
from recipec.diagnostics import RecipeError
from recipec.source import Confinement

ORDER = ("model", "source", "persona", "task", "mix")
RECIPE_SETTINGS = {"seed": "42", "description": '"..."'}


def check(module: n.Module, allow: Iterable[Path | str] = ()) -> p.Program:
    """Files the recipe reads must lie in its folder or a folder of `allow` or of
    $RECIPEC_ALLOW_DIRS (source.Confinement)."""
    ctx = Context(Path(module.file).parent, confinement=Confinement.of(module.file, allow))
    _numbers(ctx, module)
    if ctx.diagnostics:  # every later check assumes finite numbers of a machine's size
        raise RecipeError(ctx.diagnostics)
    declared = _declare(ctx, module)
    name, seed, description = _recipe(ctx, module)
    built: dict[str, dict[str, Any]] = {kind: {} for kind in ORDER}
    for kind in ORDER:
        for block in module.blocks(kind):
            if (
                built[kind].get(block.name) is not None
                or declared[kind].get(block.name) is not block
            ):
                continue
            try:
                built[kind][block.name] = _build(ctx, kind, block, built, declared)
            except Invalid:
                continue
    _check_examples(ctx, built)
    _check_outputs(ctx, built["mix"])
    if ctx.diagnostics:
        raise RecipeError(ctx.diagnostics)
    return p.Program(
        name,
        module.file,
        seed,
        built["model"],
        built["source"],
        built["persona"],
        built["task"],
        built["mix"],
        description,
    )


MAX_NUMBER = 2**63 - 1


def _numbers(ctx: Context, node: Any) -> None:
    """Report numbers no setting can hold: beyond 64 bits, or too large for a float (`1e999`)."""
    if isinstance(node, n.Num):
        value = node.value
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_NUMBER:
            ctx.error(
                "range",
                f"the number {_clip(node.raw)} is too large",
                node.span,
                f"numbers in a recipe lie within ±{MAX_NUMBER:.3g}",
            )
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _numbers(ctx, getattr(node, f.name))
    elif isinstance(node, tuple):
        for item in node:
            _numbers(ctx, item)


def _declare(ctx: Context, module: n.Module) -> dict[str, dict[str, n.Block]]:
    """Names of models, sources, personas, tasks and mixes share one namespace."""
    declared: dict[str, dict[str, n.Block]] = {kind: {} for kind in ORDER}
    first: dict[str, n.Block] = {}
    for item in module.items:
        if not isinstance(item, n.Block) or item.kind == "recipe":
            continue
        if item.name in first:
            other = first[item.name]
            ctx.error(
                "duplicate-name",
                f"'{item.name}' is already declared as a {other.kind} "
                f"at line {other.name_span.line}",
                item.name_span,
            )
            continue
        first[item.name] = item
        declared[item.kind][item.name] = item
    return declared


def _recipe(ctx: Context, module: n.Module) -> tuple[str, int, str]:
    blocks = module.blocks("recipe")
    for extra in blocks[1:]:
        ctx.error("duplicate-name", "a recipe has one `recipe` block", extra.name_span)
    if not blocks:
        return Path(module.file).stem, 0, ""
    s = ctx.settings(blocks[0], RECIPE_SETTINGS)
    seed, description = 0, ""
    try:
        seed = ctx.integer(s["seed"].value, "seed", 0, 2**63 - 1) if "seed" in s else 0
        description = (
            ctx.string(s["description"].value, "description") if "description" in s else ""
        )
    except Invalid:
        pass
    return blocks[0].name, seed, description


def _build(
    ctx: Context,
    kind: str,
    block: n.Block,
    built: dict[str, dict[str, Any]],
    declared: dict[str, dict[str, n.Block]],
) -> Any:
    if kind == "model":
        return declarations.model(ctx, block)
    if kind == "source":
        return declarations.source(ctx, block)
    if kind == "persona":
        return declarations.persona(ctx, block)
    if kind == "task":
        # Names that exist but failed to check are known (no cascade of undefined-name errors).
        known = {k: {**dict.fromkeys(declared[k]), **built[k]} for k in ORDER}
        return tasks.task(ctx, block, known)
    return mixes.mix(ctx, block, {**built, "declared": declared})


def _check_outputs(ctx: Context, mixes_: dict[str, p.Mix]) -> None:
    """Two mixes writing one folder would share (and corrupt) one build journal."""
    seen: dict[str, str] = {}
    for m in mixes_.values():
        folder = os.path.normpath(m.write_path)
        if folder in seen:
            ctx.error(
                "mix",
                f"mixes '{seen[folder]}' and '{m.name}' both write to '{m.write_path}'",
                m.span,
                "give each mix its own folder",
            )
        seen.setdefault(folder, m.name)


def _check_examples(ctx: Context, built: dict[str, dict[str, Any]]) -> None:
    for task in built["task"].values():
        if task.examples is None:
            continue
        name, k = task.examples
        src = built["source"].get(name)
        if src is not None and len(src.rows) < k:
            ctx.error(
                "mix",
                f"task '{task.name}' samples {k} examples from '{name}', "
                f"which holds {len(src.rows)} rows",
                task.span,
            )


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:20] + "..." + text[-10:]
