"""Planner: program.Program -> Plan, a versioned header and a deterministic stream of jobs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from recipec import program as p
from recipec.diagnostics import Diagnostic, RecipeError
from recipec.templates import TemplateFailure, render

PLAN_VERSION = 1


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from sha256 of the parts: stable across processes and platforms."""
    digest = hashlib.sha256("/".join(str(x) for x in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Plan:
    program: p.Program
    header: dict[str, Any]

    def jobs(self, mix: str | None = None) -> Iterator[dict[str, Any]]:
        for m in self.program.mixes.values():
            if mix is None or m.name == mix:
                yield from _mix_jobs(self.program, m)


def plan(program: p.Program) -> Plan:
    header = {
        "version": PLAN_VERSION,
        "recipe": program.name,
        "file": program.file,
        "seed": program.seed,
        "models": {name: _model(m) for name, m in sorted(program.models.items())},
        "mixes": [_mix_header(program, m) for m in program.mixes.values()],
    }
    return Plan(program, header)


def _model(m: p.Model) -> dict[str, Any]:
    return {
        "file": m.path,
        "sha256": m.sha256,
        "context": m.context,
        "threads": m.threads,
        "gpu_layers": m.gpu_layers,
        "batch": m.batch,
        "chat_template": m.chat_template,
        "sampling": _sampling(m, ()),
    }


def _sampling(m: p.Model, overrides: tuple[tuple[str, float], ...]) -> dict[str, Any]:
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
    return values


def _mix_header(program: p.Program, m: p.Mix) -> dict[str, Any]:
    return {
        "name": m.name,
        "total": m.total,
        "targets": {t.origin: t.count for t in m.takes},
        "real": {t.origin: source_rows(program, m, t) for t in m.takes if not t.synthetic},
        "quotas": [
            {"origin": q.origin, "where": p.describe(q.where), "bound": q.bound, "count": q.count}
            for q in m.quotas
        ],
        "dedupe": list(m.dedupe) if m.dedupe else None,
        "leakage": [list(x) for x in m.leakage],
        "judge": (
            {"model": m.judge.model, "rubric": m.judge.rubric, "min": m.judge.min}
            if m.judge
            else None
        ),
        "splits": [list(s) for s in m.splits],
        "write": {"path": m.write_path, "format": m.write_format},
        "retries": m.retries,
    }


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


def _mix_jobs(program: p.Program, m: p.Mix) -> Iterator[dict[str, Any]]:
    for take in m.takes:
        if take.synthetic:
            yield from _task_jobs(program, m, take)


def _task_jobs(program: p.Program, m: p.Mix, take: p.TakeRule) -> Iterator[dict[str, Any]]:
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
        values: dict[str, Any] | None = None
        matched: list[int] = []
        if persona is not None:
            extra, filling = strata.constraint()
            if take.where is not None:
                extra = p.AllOf((take.where, extra)) if extra else take.where
            try:
                values = p.sample_persona(persona, rng, extra)
            except p.Unsatisfiable:
                if filling is not None:
                    raise _quota_error(task, filling) from None
                raise _unsatisfiable(m, task, job_id, extra) from None
            matched = strata.record(values)
        examples = _examples(program, task, rng)
        yield {
            "id": job_id,
            "mix": m.name,
            "task": task.name,
            "index": index,
            "seed": seed,
            "persona": values,
            "strata": [p.describe(strata.quotas[i].where) for i in matched],
            "examples": examples,
            "messages": _messages(task, values, examples),
            "schema": schema,
            "model": {"name": model.name, "sha256": model.sha256},
            "sampling": sampling,
            "turns": task.turns,
            "format": {
                "kind": task.format.kind,
                "roles": dict(task.format.roles),
                "system": task.format.system,
            },
        }
    if strata.unmet():
        raise _quota_error(task, strata.unmet()[0])


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
    out.write(b'{"header":' + dumps(plan_.header) + b',"jobs":[')
    for i, job in enumerate(plan_.jobs()):
        out.write((b",\n" if i else b"\n") + dumps(job))
    out.write(b"\n]}\n")


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
    prog, lines = plan_.program, []
    lines.append(f"recipe {prog.name} ({prog.file}), seed {prog.seed}, plan v{PLAN_VERSION}")
    for name, m in sorted(prog.models.items()):
        lines.append(
            f"model {name}: {m.path} (sha256 {str(m.sha256)[:12]}…), "
            f"context {m.context}, temperature {m.temperature}"
        )
    for src in prog.sources.values():
        if src.skipped:
            line, reason = src.skipped[0]
            lines.append(
                f"source {src.name}: {len(src.skipped)} malformed row(s) skipped "
                f"(first: {src.path}:{line}: {reason})"
            )
    totals = {"jobs": 0, "prompt": 0.0, "output": 0.0}
    for mix in plan_.header["mixes"]:
        lines.extend(_mix_summary(plan_, mix, totals))
    lines.append(
        f"total: {totals['jobs']} generation jobs, ≈{int(totals['prompt']):,} prompt tokens, "
        f"≈{int(totals['output']):,} output tokens "
        "(estimates at 4 characters a token, before retries)"
    )
    return "\n".join(lines)


def _mix_summary(plan_: Plan, mix: dict[str, Any], totals: dict[str, float]) -> list[str]:
    lines = [
        f"mix {mix['name']} -> {mix['write']['path']} ({mix['write']['format']}), "
        f"total {mix['total']}"
    ]
    strata: dict[str, dict[str, int]] = {}
    per_task: dict[str, int] = {}
    for job in plan_.jobs(mix["name"]):
        per_task[job["task"]] = per_task.get(job["task"], 0) + 1
        for s in job["strata"]:
            strata.setdefault(job["task"], {}).setdefault(s, 0)
            strata[job["task"]][s] += 1
        totals["jobs"] += 1
        totals["prompt"] += sum(len(msg["content"]) for msg in job["messages"]) / 4
        totals["output"] += estimate_output_tokens(job["schema"])
    width = max(len(o) for o in mix["targets"])
    for origin, count in mix["targets"].items():
        kind = f"{per_task[origin]} generation jobs" if origin in per_task else "real rows"
        lines.append(f"  take {origin.ljust(width)} {count:>6}  {kind}")
        for q in mix["quotas"]:
            if q["origin"] == origin:
                got = strata.get(origin, {}).get(q["where"], 0)
                lines.append(f"    quota {q['where']} {q['bound']} {q['count']}: planned {got}")
    filters = []
    if mix["dedupe"]:
        filters.append(
            f"dedupe {mix['dedupe'][0]}"
            + (f" {mix['dedupe'][1]}" if mix["dedupe"][0] == "near" else "")
        )
    filters += [f"leakage vs {s} max_overlap {o}" for s, o in mix["leakage"]]
    if mix["judge"]:
        filters.append(f"judge {mix['judge']['model']} min {mix['judge']['min']}")
    lines.append(
        "  filters: "
        + ("; ".join(filters) if filters else "none")
        + f"; up to {mix['retries']} retries a job"
    )
    lines.append("  split: " + ", ".join(f"{name} {ratio:g}" for name, ratio in mix["splits"]))
    return lines
