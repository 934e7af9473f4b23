"""Planner: program.Program -> Plan, a versioned header and a deterministic stream of jobs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from recipec import program as p
from recipec.diagnostics import Diagnostic, RecipeError
from recipec.engine.spec import ModelSpec, Sampling
from recipec.ir import (
    PLAN_VERSION,
    Format,
    Header,
    Job,
    Judge,
    MixPlan,
    ModelPlan,
    Plan,
    Prompt,
    Quota,
    RealRow,
    SourcePlan,
    derive_seed,
    write_plan,
)
from recipec.templates import TemplateFailure, render

__all__ = ["Plan", "derive_seed", "plan", "summary", "write_json"]


def plan(program: p.Program) -> Plan:
    header = Header(
        recipe=program.name,
        file=program.file,
        seed=program.seed,
        models={name: _model(m) for name, m in sorted(program.models.items())},
        sources={name: _source(program.sources[name]) for name in _used_sources(program)},
        mixes=tuple(_mix(program, m) for m in program.mixes.values()),
    )
    return Plan(header, lambda mix: _mix_jobs(program, program.mixes[mix]))


def _model(m: p.Model) -> ModelPlan:
    spec = ModelSpec(
        m.name, Path(m.path), m.sha256, m.context, m.threads, m.gpu_layers, m.chat_template, m.batch
    )
    return ModelPlan(spec, _sampling(m, ()))


def _sampling(m: p.Model, overrides: tuple[tuple[str, float], ...]) -> Sampling:
    values: dict[str, Any] = {
        "temperature": m.temperature,
        "top_p": m.top_p,
        "top_k": m.top_k,
        "min_p": m.min_p,
        "repeat_penalty": m.repeat_penalty,
        "max_tokens": m.max_tokens,
    }
    for name, value in overrides:
        values[name] = int(value) if name in ("top_k", "max_tokens") else value
    return Sampling(**values)


def _format(f: p.Format) -> Format:
    # Roles are looked up by name; sorted, they compare equal after a JSON round trip.
    return Format(f.kind, tuple(sorted(f.roles)), f.system)


def _used_sources(program: p.Program) -> list[str]:
    """Sources a build reads rows of: taken into a mix, or guarded against by one."""
    names = {t.origin for m in program.mixes.values() for t in m.takes if not t.synthetic}
    names |= {source for m in program.mixes.values() for source, _ in m.leakage}
    return sorted(names)


def _source(src: p.DataSource) -> SourcePlan:
    rows = tuple(
        RealRow(f"{src.name}/{line:06d}", row)
        for row, line in zip(src.rows, src.lines, strict=True)
    )
    return SourcePlan(
        src.name, src.path, _format(src.format) if src.format else None, rows, src.skipped
    )


def _mix(program: p.Program, m: p.Mix) -> MixPlan:
    return MixPlan(
        name=m.name,
        total=m.total,
        targets=tuple((t.origin, t.count) for t in m.takes),
        real=tuple(
            (t.origin, tuple(source_rows(program, m, t))) for t in m.takes if not t.synthetic
        ),
        quotas=tuple(Quota(q.origin, p.describe(q.where), q.bound, q.count) for q in m.quotas),
        dedupe=m.dedupe,
        leakage=m.leakage,
        judge=Judge(m.judge.model, m.judge.rubric, m.judge.min, p.JUDGE_SCALE) if m.judge else None,
        splits=m.splits,
        write_path=m.write_path,
        write_format=m.write_format,
        retries=m.retries,
        models=_mix_models(program, m),
        persona_weights=_persona_weights(program, m),
        degenerate_off=tuple(c for c in p.DEGENERATE_CHECKS if c not in m.degenerate),
    )


def _persona_weights(program: p.Program, m: p.Mix) -> dict[str, Any]:
    """Per task of the mix, the weights written for each `choice` attribute of its persona."""
    out: dict[str, Any] = {}
    for take in m.takes:
        task = program.tasks.get(take.origin) if take.synthetic else None
        persona = program.personas.get(task.persona) if task and task.persona else None
        if persona is None:
            continue
        out[task.name] = {  # type: ignore[union-attr]
            name: {_key(v): w for v, w in zip(s.values, s.weights, strict=True)}
            for name, s in persona.attributes
            if isinstance(s, p.Choice)
        }
    return out


def _key(value: Any) -> str:
    # JSON object keys are strings; the report matches them against drawn values' text.
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _mix_models(program: p.Program, m: p.Mix) -> tuple[str, ...]:
    models = {program.tasks[t.origin].model for t in m.takes if t.synthetic}
    return tuple(sorted(models | ({m.judge.model} if m.judge else set())))


def source_rows(program: p.Program, m: p.Mix, take: p.TakeRule) -> list[int]:
    """Which rows of a source a mix takes: a seeded shuffle of the matching rows."""
    src = program.sources[take.origin]
    matching = [
        i for i, r in enumerate(src.rows) if take.where is None or p.holds(take.where, {"row": r})
    ]
    random.Random(derive_seed(program.seed, m.name, take.origin)).shuffle(matching)
    return sorted(matching[: take.count])


# ---- jobs ---------------------------------------------------------------------------------


class _Strata:
    """Streaming quota allocation: each job is constrained to fill the first quota still short,
    and kept out of quotas already full; counts are exact by construction."""

    def __init__(self, quotas: list[p.QuotaRule]):
        self.quotas = quotas
        self.counts = [0] * len(quotas)

    def constraint(self) -> tuple[p.Cond | None, p.QuotaRule | None]:
        """The next job's condition, and the quota it is drawn to fill (if any)."""
        full = [
            p.Neg(q.where)
            for q, c in zip(self.quotas, self.counts, strict=True)
            if q.bound in ("at_most", "exactly") and c >= q.count
        ]
        for q, c in zip(self.quotas, self.counts, strict=True):
            if q.bound in ("at_least", "exactly") and c < q.count:
                return p.AllOf((q.where, *full)), q
        return (p.AllOf(tuple(full)) if full else None), None

    def record(self, persona: dict[str, Any]) -> list[int]:
        env = {"persona": persona}
        matched = [i for i, q in enumerate(self.quotas) if p.holds(q.where, env)]
        for i in matched:
            self.counts[i] += 1
        return matched

    def unmet(self) -> list[p.QuotaRule]:
        out = []
        for q, c in zip(self.quotas, self.counts, strict=True):
            short = q.bound in ("at_least", "exactly") and c < q.count
            over = q.bound in ("at_most", "exactly") and c > q.count
            if short or over:
                out.append(q)
        return out


def _mix_jobs(program: p.Program, m: p.Mix) -> Iterator[Job]:
    for take in m.takes:
        if take.synthetic:
            yield from _task_jobs(program, m, take)


def _task_jobs(program: p.Program, m: p.Mix, take: p.TakeRule) -> Iterator[Job]:
    task = program.tasks[take.origin]
    persona = program.personas.get(task.persona) if task.persona else None
    model = program.models[task.model]
    strata = _Strata([q for q in m.quotas if q.origin == task.name])
    sampling = _sampling(model, task.sampling)
    schema = _job_schema(task)
    for index in range(take.count):
        job_id = f"{m.name}/{task.name}/{index:06d}"
        seed = derive_seed(program.seed, job_id)
        rng = random.Random(seed)
        values, matched = _persona(m, task, take, persona, strata, job_id, rng)
        examples = _examples(program, task, rng)
        yield Job(
            id=job_id,
            mix=m.name,
            task=task.name,
            index=index,
            seed=seed,
            persona=values,
            strata=tuple(p.describe(strata.quotas[i].where) for i in matched),
            examples=tuple(examples),
            messages=tuple(_messages(task, values, examples)),
            schema=schema,
            model=model.name,
            model_sha256=model.sha256,
            sampling=sampling,
            turns=task.turns,
            format=_format(task.format),
            retry_prompts=_retry_prompts(program, task, m.retries, seed, values),
        )
    if strata.unmet():
        raise _quota_error(task, strata.unmet()[0])


def _persona(
    m: p.Mix,
    task: p.Task,
    take: p.TakeRule,
    persona: p.Persona | None,
    strata: _Strata,
    job_id: str,
    rng: random.Random,
) -> tuple[dict[str, Any] | None, list[int]]:
    """The job's persona, drawn to fill the first quota still short; the quotas it fills."""
    if persona is None:
        return None, []
    extra, filling = strata.constraint()
    if take.where is not None:
        extra = p.AllOf((take.where, extra)) if extra else take.where
    try:
        values = p.sample_persona(persona, rng, extra)
    except p.Unsatisfiable:
        if filling is not None:
            raise _quota_error(task, filling) from None
        raise _unsatisfiable(m, task, job_id, extra) from None
    return values, strata.record(values)


def _retry_prompts(
    program: p.Program, task: p.Task, retries: int, seed: int, persona: dict[str, Any] | None
) -> tuple[Prompt, ...]:
    """For a task shown few-shot examples, each retry draws other ones (from its own seed), so
    a job whose attempt copied its examples can change course."""
    if task.examples is None:
        return ()
    prompts = []
    for attempt in range(1, retries + 1):
        examples = _examples(program, task, random.Random(derive_seed(seed, "examples", attempt)))
        prompts.append(Prompt(tuple(examples), tuple(_messages(task, persona, examples))))
    return tuple(prompts)


def _unsatisfiable(m: p.Mix, task: p.Task, job_id: str, cond: p.Cond | None) -> RecipeError:
    wanted = f" meeting `{p.describe(cond)}`" if cond is not None else ""
    message = f"job {job_id}: no persona of '{task.persona}'{wanted} in 10000 samples"
    hint = "the `where`, quotas and `require`s together are too rare or impossible; loosen one"
    return RecipeError([Diagnostic("mix", message, m.span, hint)])


def _quota_error(task: p.Task, q: p.QuotaRule) -> RecipeError:
    return RecipeError(
        [
            Diagnostic(
                "mix",
                f"the quotas on '{task.name}' cannot all be met: {q.text}",
                q.span,
                "quotas that overlap or exclude each other may need other counts",
            )
        ]
    )


def _job_schema(task: p.Task) -> dict[str, Any]:
    if task.turns == 1:
        return task.schema
    return {"type": "array", "items": task.schema, "minItems": task.turns, "maxItems": task.turns}


def _examples(program: p.Program, task: p.Task, rng: random.Random) -> list[dict[str, Any]]:
    if task.examples is None:
        return []
    src = program.sources[task.examples[0]]
    picks = rng.sample(range(len(src.rows)), task.examples[1])
    return [src.rows[i] for i in picks]


def _messages(
    task: p.Task, persona: dict[str, Any] | None, examples: list[dict[str, Any]]
) -> list[dict[str, str]]:
    variables = {
        "persona": persona or {},
        "examples": examples,
        "task": task.name,
        "turns": task.turns,
    }
    try:
        user = render(task.prompt, variables)
        system = render(task.system, variables) if task.system else None
    except TemplateFailure as exc:
        raise RecipeError([Diagnostic("template", exc.message, exc.span, exc.hint)]) from None
    if examples and not task.shows_examples:
        shown = "\n".join(orjson.dumps(e).decode() for e in examples)
        user += f"\n\nExamples of real records:\n{shown}"
    keys = ", ".join(task.fields)
    if task.turns == 1:
        user += f"\n\nAnswer with one JSON object with the keys: {keys}."
    else:
        user += (
            f"\n\nAnswer with a JSON list of {task.turns} objects (one per turn), "
            f"each with the keys: {keys}."
        )
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user}]


# ---- output -------------------------------------------------------------------------------


def write_json(plan_: Plan, out: IO[bytes]) -> None:
    """The full plan as one JSON document, written job by job (bounded memory)."""
    write_plan(plan_, out)


def estimate_output_tokens(schema: dict[str, Any]) -> float:
    """A rough expectation of a record's output tokens (about 4 characters a token)."""
    kind = schema.get("type")
    if kind == "object":
        return 2 + sum(
            2 + len(k) / 4 + estimate_output_tokens(v) for k, v in schema["properties"].items()
        )
    if kind == "array":
        n = (schema.get("minItems", 1) + schema.get("maxItems", 3)) / 2
        return 2 + n * (1 + estimate_output_tokens(schema["items"]))
    if kind == "string":
        return (schema.get("minLength", 10) + schema.get("maxLength", 120)) / 8 + 2
    if "enum" in schema:
        return 3
    return 2


def summary(plan_: Plan) -> str:
    h, lines = plan_.header, []
    lines.append(f"recipe {h.recipe} ({h.file}), seed {h.seed}, plan v{PLAN_VERSION}")
    for name, m in sorted(h.models.items()):
        lines.append(
            f"model {name}: {m.spec.path} (sha256 {str(m.spec.sha256)[:12]}…), "
            f"context {m.spec.context}, temperature {m.sampling.temperature}"
        )
    for src in h.sources.values():
        if src.skipped:
            line, reason = src.skipped[0]
            lines.append(
                f"source {src.name}: {len(src.skipped)} malformed row(s) skipped "
                f"(first: {src.path}:{line}: {reason})"
            )
    totals = {"jobs": 0, "prompt": 0.0, "output": 0.0}
    for mix in h.mixes:
        lines.extend(_mix_summary(plan_, mix, totals))
    lines.append(
        f"total: {totals['jobs']} generation jobs, ≈{int(totals['prompt']):,} prompt tokens, "
        f"≈{int(totals['output']):,} output tokens "
        "(estimates at 4 characters a token, before retries)"
    )
    return "\n".join(lines)


def _mix_summary(plan_: Plan, mix: MixPlan, totals: dict[str, float]) -> list[str]:
    lines = [f"mix {mix.name} -> {mix.write_path} ({mix.write_format}), total {mix.total}"]
    strata: dict[str, dict[str, int]] = {}
    per_task: dict[str, int] = {}
    for job in plan_.jobs(mix.name):
        per_task[job.task] = per_task.get(job.task, 0) + 1
        for s in job.strata:
            strata.setdefault(job.task, {}).setdefault(s, 0)
            strata[job.task][s] += 1
        totals["jobs"] += 1
        totals["prompt"] += sum(len(msg["content"]) for msg in job.messages) / 4
        totals["output"] += estimate_output_tokens(job.schema)
    width = max(len(o) for o, _ in mix.targets)
    for origin, count in mix.targets:
        kind = f"{per_task[origin]} generation jobs" if origin in per_task else "real rows"
        lines.append(f"  take {origin.ljust(width)} {count:>6}  {kind}")
        for q in mix.quotas:
            if q.origin == origin:
                got = strata.get(origin, {}).get(q.where, 0)
                lines.append(f"    quota {q.where} {q.bound} {q.count}: planned {got}")
    lines.append(f"  filters: {_filters(mix)}; up to {mix.retries} retries a job")
    lines.append("  split: " + ", ".join(f"{name} {ratio:g}" for name, ratio in mix.splits))
    return lines


def _filters(mix: MixPlan) -> str:
    filters = []
    if mix.dedupe:
        kind, threshold = mix.dedupe
        filters.append(f"dedupe {kind}" + (f" {threshold}" if kind == "near" else ""))
    filters += [f"leakage vs {s} max_overlap {o}" for s, o in mix.leakage]
    if mix.judge:
        filters.append(f"judge {mix.judge.model} min {mix.judge.min}")
    return "; ".join(filters) if filters else "none"
