"""Task blocks -> program.Task: references, output schema, format and prompt templates."""

from __future__ import annotations

import random
from typing import Any

from recipec import nodes as n
from recipec import program as p
from recipec.checker.context import Context, Invalid
from recipec.checker.declarations import SAMPLING, bounded, format_call
from recipec.checker.schema import FIXED, object_schema
from recipec.diagnostics import did_you_mean
from recipec.strings import long_string
from recipec.templates import TemplateFailure, names, problems, render, span_at

TASK_SETTINGS = {
    "persona": "NAME",
    "model": "NAME",
    "system": '"You are ..."',
    "prompt": '"""..."""',
    "examples": "sample(SOURCE, 2)",
    "format": "chat(user = message, assistant = reply)",
    "turns": "1",
    **{name: "..." for name in SAMPLING},
}


def task(ctx: Context, block: n.Block, declared: dict[str, Any]) -> p.Task:
    s = ctx.settings(block, TASK_SETTINGS, required=("prompt", "format"))
    schema = _output(ctx, block)
    fields = tuple(schema["properties"])
    persona = _ref(ctx, s.get("persona"), "persona", declared["persona"])
    model = _model(ctx, block, s.get("model"), declared["model"])
    examples = _examples(ctx, s.get("examples"), declared["source"])
    turns = ctx.integer(s["turns"].value, "turns", 1, 64) if "turns" in s else 1
    if "format" not in s or "prompt" not in s:
        raise Invalid(block.name)
    fmt = _format(ctx, s, schema, turns)
    allowed = {"task": None, "turns": None}
    if persona:
        allowed["persona"] = declared["persona"][persona]
    if examples:
        allowed["examples"] = None
    trial = _trial_variables(block.name, turns, allowed, examples, declared["source"])
    fixed = _fixed_templates(ctx, schema, allowed, trial)
    if fixed:
        allowed["fixed"] = None  # the prompt may show the fields the recipe fills
        if trial is not None:
            trial["fixed"] = {name: "..." for name in fixed}
    prompt = _template(ctx, s["prompt"].value, allowed, trial)
    shows_examples = prompt is not None and "examples" in _names(prompt)
    system = _template(ctx, s["system"].value, allowed, trial) if "system" in s else None
    sampling = tuple(
        (name, value)
        for name in SAMPLING
        if name in s and (value := bounded(ctx, name, s[name].value)) is not None
    )
    if prompt is None:
        raise Invalid(block.name)
    return p.Task(
        block.name,
        model or "",
        persona,
        system,
        prompt,
        schema,
        fields,
        fmt,
        examples,
        turns,
        sampling,
        block.span,
        shows_examples,
    )


def _format(ctx: Context, s: dict[str, n.Assign], schema: dict[str, Any], turns: int) -> p.Format:
    fields = tuple(schema["properties"])
    optional = frozenset(fields) - frozenset(schema["required"])
    fmt = format_call(ctx, s["format"].value, set(fields), optional)
    if turns > 1 and fmt.kind != "chat":
        ctx.error(
            "type", "multi-turn tasks (turns > 1) need a chat(...) format", s["turns"].value.span
        )
    return fmt


def _output(ctx: Context, block: n.Block) -> dict[str, Any]:
    """The JSON Schema of the task's one `output { ... }` block."""
    outputs = [stmt for stmt in block.body if isinstance(stmt, n.Output)]
    if not outputs:
        ctx.error(
            "missing-setting",
            f"task '{block.name}' needs an `output {{ ... }}` block",
            block.name_span,
        )
        raise Invalid(block.name)
    for extra in outputs[1:]:
        ctx.error("duplicate-name", "a task has one output block", extra.span)
    return object_schema(ctx, outputs[0].schema)


def _ref(ctx: Context, a: n.Assign | None, kind: str, declared: dict[str, Any]) -> str | None:
    if a is None:
        return None
    v = a.value
    if not (isinstance(v, n.Ref) and len(v.parts) == 1):
        raise ctx.fail("type", f"{kind} must name a {kind}", v.span)
    if v.parts[0] not in declared:
        ctx.error(
            "undefined-name",
            f"unknown {kind} '{v.parts[0]}'",
            v.span,
            did_you_mean(v.parts[0], declared),
        )
        return None
    return v.parts[0]


def _model(ctx: Context, block: n.Block, a: n.Assign | None, models: dict[str, Any]) -> str | None:
    if a is not None:
        return _ref(ctx, a, "model", models)
    if len(models) == 1:
        return next(iter(models))
    ctx.error(
        "missing-setting",
        f"task '{block.name}' must say which model generates it",
        block.name_span,
        "add `model = NAME`" if models else "declare a `model NAME { ... }` block",
    )
    return None


def _examples(ctx: Context, a: n.Assign | None, sources: dict[str, Any]) -> tuple[str, int] | None:
    if a is None:
        return None
    v = a.value
    if not (
        isinstance(v, n.Call)
        and v.name == "sample"
        and len(v.args) == 2
        and isinstance(v.args[0], n.Ref)
    ):
        raise ctx.fail("type", "examples must be sample(SOURCE, K)", v.span)
    name = _ref(ctx, n.Assign("examples", v.args[0], a.span), "source", sources)
    k = ctx.integer(v.args[1], "the number of examples", 1, 64)  # type: ignore[arg-type]
    return (name, k) if name else None


def _names(t: p.Template) -> set[str]:
    try:
        return names(t)[0]
    except TemplateFailure:  # already reported
        return set()


def _trial_variables(
    task: str,
    turns: int,
    allowed: dict[str, Any],
    examples: tuple[str, int] | None,
    sources: dict[str, Any],
) -> dict[str, Any] | None:
    """Variables like those of a planned job (a persona drawn with a fixed seed, the source's
    first rows as examples), so that check renders each template once under its limits;
    None where they cannot be made (a persona or source that failed its own checks)."""
    variables: dict[str, Any] = {"task": task, "turns": turns, "persona": {}, "examples": []}
    persona = allowed.get("persona")
    if "persona" in allowed:
        if not isinstance(persona, p.Persona):
            return None
        try:
            variables["persona"] = p.sample_persona(persona, random.Random(0), budget=2_000)
        except p.Unsatisfiable:
            return None
    if examples is not None:
        src = sources.get(examples[0])
        if not isinstance(src, p.DataSource):
            return None
        variables["examples"] = list(src.rows[: examples[1]])
    return variables


def _template(
    ctx: Context, v: n.Value, allowed: dict[str, Any], trial: dict[str, Any] | None
) -> p.Template | None:
    if not isinstance(v, n.Str):
        raise ctx.fail("type", "a prompt must be a string", v.span)
    t = template_of(v)
    try:
        undeclared, attrs = names(t)
        found = problems(t)
    except TemplateFailure as exc:
        ctx.error("template", exc.message, exc.span, exc.hint)
        return None
    for failure in found:
        ctx.error("template", failure.message, failure.span, failure.hint)
    before = len(ctx.diagnostics)
    for name in sorted(undeclared - set(allowed)):
        hint = did_you_mean(name, allowed) or "variables here: " + ", ".join(sorted(allowed))
        ctx.error("template", f"undefined template variable '{name}'", _find(t, name), hint)
    persona = allowed.get("persona")
    if isinstance(persona, p.Persona):
        known = [a for a, _ in persona.attributes]
        for obj, attr, line in attrs:
            if obj == "persona" and attr not in known:
                ctx.error(
                    "template",
                    f"persona '{persona.name}' has no attribute '{attr}'",
                    span_at(t, line, f"persona.{attr}"),
                    did_you_mean(attr, known),
                )
    if not found and len(ctx.diagnostics) == before and trial is not None:
        _render_once(ctx, t, trial)
    return t


def _fixed_templates(
    ctx: Context, schema: dict[str, Any], allowed: dict[str, Any], trial: dict[str, Any] | None
) -> list[str]:
    """Turn each top-level `fixed("...")` field's string into a checked Template; their names."""
    names_ = []
    for name, field in schema["properties"].items():
        if isinstance(field.get(FIXED), n.Str):
            field[FIXED] = _template(ctx, field[FIXED], allowed, trial)
            names_.append(name)
            if field[FIXED] is None:
                del field[FIXED]
    return names_


def _render_once(ctx: Context, t: p.Template, trial: dict[str, Any]) -> None:
    try:
        render(t, trial)
    except TemplateFailure as exc:
        hint = "found by rendering it once at check time, with a sampled persona"
        ctx.error("template", exc.message, exc.span, exc.hint or hint)


def template_of(v: n.Str) -> p.Template:
    s = v.span
    if v.raw.startswith('"""'):
        info = long_string(v.raw)
        first_col = s.col + 3 if info.first_line == 0 else info.indent + 1
        return p.Template(info.value, s.line + info.first_line, first_col, s.file, info.indent)
    return p.Template(v.value, s.line, s.col + 1, s.file, 0)


def _find(t: p.Template, name: str) -> Any:
    for number, line in enumerate(t.text.split("\n"), start=1):
        if name in line:
            return span_at(t, number, name)
    return span_at(t, 1)
