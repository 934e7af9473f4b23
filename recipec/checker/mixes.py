"""Mix blocks -> program.Mix: exact counts and ratios, quotas, filters, splits, output."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any, TypeVar

from recipec import nodes as n
from recipec import program as p
from recipec.checker.conditions import condition
from recipec.checker.context import Context, Invalid
from recipec.checker.declarations import verbatim
from recipec.diagnostics import did_you_mean
from recipec.formats import FORMATS

MIX_SETTINGS = {"total": "500", "retries": "5", "degenerate": '["echo", "repetition"]'}
# The most records one mix may hold (and so any take, quota or total): a plan is made job by job
# in memory, and a count beyond this is a typo, not a dataset for one local teacher.
MAX_RECORDS = 1_000_000
SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_SPLITS = ("provenance", "manifest", "report", "readme")  # files a build writes


def mix(ctx: Context, block: n.Block, prog: dict[str, Any]) -> p.Mix:
    s = ctx.settings(block, MIX_SETTINGS)
    # Each piece is checked on its own, so one error never hides the next.
    total = _optional(_bounded, ctx, s["total"].value, "total", 1) if "total" in s else None
    retries = 5
    if "retries" in s:
        retries = _optional(lambda: ctx.integer(s["retries"].value, "retries", 0, 1000)) or 0
    checks = _optional(_degenerate, ctx, s["degenerate"].value) if "degenerate" in s else None
    _single_statements(ctx, block)
    takes_nodes = [t for t in block.body if isinstance(t, n.Take)]
    if not takes_nodes:
        ctx.error(
            "mix", f"mix '{block.name}' takes nothing", block.name_span, "add `take TASK 100`"
        )
        raise Invalid(block.name)
    takes = _takes(ctx, block, takes_nodes, total, prog)
    origins = {t.origin: t for t in takes}
    # A take that failed its check is already reported; quotas on it must not add a second,
    # false error ("'x' is not taken in this mix" when the mix does take it).
    failed = {t.origin for t in takes_nodes} - set(origins)
    quotas: list[p.QuotaRule] = []
    for stmt in block.body:
        if isinstance(stmt, n.Quota | n.Balance) and stmt.origin in failed:
            continue
        if isinstance(stmt, n.Quota):
            quotas.extend(_optional(_quota, ctx, stmt, origins, prog) or [])
        elif isinstance(stmt, n.Balance):
            quotas.extend(_optional(_balance, ctx, stmt, origins, prog) or [])
    rules = _filters(ctx, block, prog)
    mixed = p.Mix(
        block.name,
        sum(t.count for t in takes),
        tuple(takes),
        tuple(quotas),
        retries=retries,
        degenerate=p.DEGENERATE_CHECKS if checks is None else checks,
        span=block.span,
        **rules,
    )
    _check_formats(ctx, block, mixed, prog)
    return mixed


T = TypeVar("T")


def _degenerate(ctx: Context, value: n.Value) -> tuple[str, ...]:
    """`degenerate = ["echo", …]`: the degenerate-record checks to run (`[]` runs none)."""
    known = p.DEGENERATE_CHECKS
    if not isinstance(value, n.List):
        raise ctx.fail(
            "type",
            "`degenerate` is a list of checks",
            value.span,
            "write e.g. degenerate = [" + ", ".join(f'"{c}"' for c in known) + "]",
        )
    names = []
    for item in value.items:
        name = ctx.string(item, "a degenerate check")
        if name not in known:
            hint = did_you_mean(name, known) or f"the checks are {', '.join(known)}"
            raise ctx.fail("range", f"unknown degenerate check '{name}'", item.span, hint)
        names.append(name)
    return tuple(c for c in known if c in names)


def _optional(check: Callable[..., T], *args: Any) -> T | None:
    """The value of one check, or None once its error is reported."""
    try:
        return check(*args)
    except Invalid:
        return None


def _single_statements(ctx: Context, block: n.Block) -> None:
    seen: dict[type, n.Statement] = {}
    for stmt in block.body:
        kind = type(stmt)
        if kind in (n.Dedupe, n.Judge, n.Split, n.Write):
            if kind in seen:
                word = kind.__name__.lower()
                line = seen[kind].span.line
                ctx.error(
                    "duplicate-name", f"a mix has one `{word}` (first at line {line})", stmt.span
                )
            seen.setdefault(kind, stmt)


def _takes(
    ctx: Context, block: n.Block, nodes: list[n.Take], total: int | None, prog: dict[str, Any]
) -> list[p.TakeRule]:
    percents = [t for t in nodes if t.percent]
    if percents and total is None:
        ctx.error("mix", "a percentage needs `total = N` in the mix", percents[0].amount.span)
        raise Invalid(block.name)
    for t in percents:
        if not 0 < t.amount.value <= 100:
            ctx.error("range", f"a percentage must lie in 0..100, not {t.amount.value}", t.span)
            raise Invalid(block.name)
    fixed = sum(int(t.amount.value) for t in nodes if not t.percent)
    shares = _percent_counts(ctx, percents, total or 0)
    out: list[p.TakeRule] = []
    seen: set[str] = set()
    for t in nodes:
        if t.origin in seen:
            ctx.error(
                "duplicate-name",
                f"'{t.origin}' is taken twice in this mix",
                t.span,
                "use one `take` with a `where`, or a quota",
            )
            continue
        seen.add(t.origin)
        count = shares.get(id(t), 0) if t.percent else _optional(_count, ctx, t.amount)
        rule = _optional(_take, ctx, t, count, prog) if count is not None else None
        if rule is not None:
            out.append(rule)
    if fixed > MAX_RECORDS and all(t.amount.value <= MAX_RECORDS for t in nodes):
        ctx.error(
            "limit",
            f"the takes add up to {fixed:,}, above the maximum of {MAX_RECORDS:,} records in a mix",
            block.name_span,
            "build a large dataset from several mixes or recipes",
        )
        raise Invalid(block.name)
    if total is not None and fixed + sum(shares.values()) != total:
        ctx.error(
            "mix",
            f"the takes add up to {fixed + sum(shares.values())}, but total = {total}",
            block.name_span,
            "make the counts (and percentages of the total) add up",
        )
    return out


def _count(ctx: Context, v: n.Num) -> int:
    if not isinstance(v.value, int) or v.value < 1:
        raise ctx.fail("mix", f"a take count must be a positive integer, not {v.value}", v.span)
    return _bounded(ctx, v, "a take count", 1)


def _bounded(ctx: Context, v: n.Value, what: str, lo: int) -> int:
    """An integer count, at most MAX_RECORDS."""
    count = ctx.integer(v, what, lo)
    if count > MAX_RECORDS:
        raise ctx.fail(
            "limit",
            f"{what} of {count:,} is above the maximum of {MAX_RECORDS:,} records in a mix",
            v.span,
            "build a large dataset from several mixes or recipes",
        )
    return count


def _percent_counts(ctx: Context, percents: list[n.Take], total: int) -> dict[int, int]:
    """Largest-remainder rounding, so that 33% + 67% of 100 is exactly 100."""
    share = {id(t): float(t.amount.value) * total / 100 for t in percents}
    if sum(float(t.amount.value) for t in percents) > 100 + 1e-9:
        ctx.error("mix", "the percentages add up to more than 100%", percents[0].span)
    counts = {k: math.floor(v) for k, v in share.items()}
    left = round(sum(share.values())) - sum(counts.values())
    for k in sorted(share, key=lambda k: (-(share[k] - counts[k]), list(share).index(k)))[:left]:
        counts[k] += 1
    return counts


def _take(ctx: Context, t: n.Take, count: int, prog: dict[str, Any]) -> p.TakeRule:
    if t.origin in prog["task"]:
        task = prog["task"][t.origin]
        where = condition(ctx, t.where, _persona_resolver(ctx, task, prog)) if t.where else None
        if where is not None:
            _reachable(ctx, task, where, prog, t.where.span if t.where else t.span)
        return p.TakeRule(t.origin, True, count, where)
    if t.origin in prog["source"]:
        src: p.DataSource = prog["source"][t.origin]
        where = condition(ctx, t.where, _row_resolver(ctx, src)) if t.where else None
        available = sum(1 for r in src.rows if where is None or p.holds(where, {"row": r}))
        if count > available:
            ctx.error(
                "mix",
                f"take {count} from '{src.name}', but it holds {available} matching row(s)",
                t.span,
            )
        if src.format is None:
            ctx.error(
                "missing-setting",
                f"source '{src.name}' is taken into a mix but has no `format`",
                t.span,
                "add `format = chat(user = FIELD, assistant = FIELD)` to the source",
            )
        return p.TakeRule(t.origin, False, count, where)
    if t.origin in prog["declared"]["task"] or t.origin in prog["declared"]["source"]:
        raise Invalid(t.origin)  # declared, but it failed to check: already reported
    known = list(prog["declared"]["task"]) + list(prog["declared"]["source"])
    raise ctx.fail(
        "undefined-name",
        f"no task or source named '{t.origin}'",
        t.span,
        did_you_mean(t.origin, known),
    )


def _persona_resolver(ctx: Context, task: p.Task, prog: dict[str, Any]):
    persona: p.Persona | None = prog["persona"].get(task.persona) if task.persona else None

    def resolve(ref: n.Ref) -> tuple[str, ...]:
        if ref.parts[0] != "persona" or len(ref.parts) != 2:
            raise ctx.fail(
                "undefined-name",
                f"'{ref.dotted}': conditions on a task refer to persona.ATTRIBUTE",
                ref.span,
            )
        known = [a for a, _ in persona.attributes] if persona else []
        if ref.parts[1] not in known:
            who = (
                f"persona '{persona.name}'"
                if persona
                else f"task '{task.name}' (it has no persona)"
            )
            raise ctx.fail(
                "undefined-name",
                f"{who} has no attribute '{ref.parts[1]}'",
                ref.span,
                did_you_mean(ref.parts[1], known),
            )
        return ref.parts

    return resolve


def _row_resolver(ctx: Context, src: p.DataSource):
    names = [f.name for f in src.fields]

    def resolve(ref: n.Ref) -> tuple[str, ...]:
        parts = ref.parts[1:] if ref.parts[0] == "row" else ref.parts
        if len(parts) != 1 or parts[0] not in names:
            raise ctx.fail(
                "undefined-name",
                f"source '{src.name}' has no field '{ref.dotted}'",
                ref.span,
                did_you_mean(parts[-1], names),
            )
        return ("row", parts[0])

    return resolve


def _reachable(ctx: Context, task: p.Task, where: p.Cond, prog: dict[str, Any], span: Any) -> None:
    persona = prog["persona"].get(task.persona) if task.persona else None
    if persona is None:
        return
    try:
        p.sample_persona(persona, random.Random(0), where, budget=20_000)
    except p.Unsatisfiable:
        ctx.error(
            "mix",
            f"no persona of '{persona.name}' meets `{p.describe(where)}` (20000 samples)",
            span,
            "the condition is impossible or too rare to plan; check the persona's distribution",
        )


def _quota(
    ctx: Context, q: n.Quota, origins: dict[str, p.TakeRule], prog: dict[str, Any]
) -> list[p.QuotaRule]:
    take = origins.get(q.origin)
    if take is None or not take.synthetic:
        raise ctx.fail(
            "mix",
            f"a quota needs a task taken in this mix; '{q.origin}' is not",
            q.span,
            did_you_mean(q.origin, [t for t, r in origins.items() if r.synthetic]),
        )
    where = condition(ctx, q.where, _persona_resolver(ctx, prog["task"][q.origin], prog))
    count = _bounded(ctx, q.count, "a quota", 0)
    if q.bound in ("at_least", "exactly") and count > take.count:
        ctx.error(
            "mix",
            f"quota {q.bound} {count} is above the {take.count} records taken from '{q.origin}'",
            q.count.span,
        )
    if q.bound in ("at_least", "exactly") and count > 0:
        _reachable(ctx, prog["task"][q.origin], where, prog, q.where.span)
    return [p.QuotaRule(q.origin, where, q.bound, count, q.span)]


def _balance(
    ctx: Context, b: n.Balance, origins: dict[str, p.TakeRule], prog: dict[str, Any]
) -> list[p.QuotaRule]:
    take = origins.get(b.origin)
    if take is None or not take.synthetic:
        raise ctx.fail(
            "mix", f"balance needs a task taken in this mix; '{b.origin}' is not", b.span
        )
    path = _persona_resolver(ctx, prog["task"][b.origin], prog)(b.by)
    persona: p.Persona = prog["persona"][prog["task"][b.origin].persona]
    sampler = persona.sampler(path[1])
    values = p.domain(sampler) if sampler else None
    for value in values or ():
        _reachable(ctx, prog["task"][b.origin], p.Cmp(path, "==", value), prog, b.span)
    if not values:
        raise ctx.fail(
            "mix",
            f"balance needs an attribute with a finite set of values; '{b.by.dotted}' has none",
            b.by.span,
        )
    base, extra = divmod(take.count, len(values))
    return [
        p.QuotaRule(
            b.origin, p.Cmp(path, "==", v), "exactly", base + (1 if i < extra else 0), b.span
        )
        for i, v in enumerate(values)
    ]


def _filters(ctx: Context, block: n.Block, prog: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    leakage: list[tuple[str, float]] = []
    for stmt in block.body:
        try:
            match stmt:
                case n.Dedupe():
                    rules["dedupe"] = _dedupe(ctx, stmt)
                case n.Leakage():
                    leakage.append(_leakage(ctx, stmt, prog))
                case n.Judge():
                    rules["judge"] = _judge(ctx, stmt, prog)
                case n.Split():
                    rules["splits"] = _splits(ctx, stmt)
                case n.Write():
                    rules["written"] = True
                    rules["write_path"], rules["write_format"] = _write(ctx, stmt)
        except Invalid:
            continue
    rules["leakage"] = tuple(leakage)
    if not rules.pop("written", False):
        ctx.error(
            "missing-setting",
            f"mix '{block.name}' needs a `write \"DIR\" as FORMAT`",
            block.name_span,
        )
    return rules


def _leakage(ctx: Context, stmt: n.Leakage, prog: dict[str, Any]) -> tuple[str, float]:
    if stmt.source not in prog["declared"]["source"]:
        raise ctx.fail(
            "undefined-name",
            f"unknown source '{stmt.source}'",
            stmt.span,
            did_you_mean(stmt.source, prog["source"]),
        )
    return stmt.source, ctx.number(stmt.max_overlap, "max_overlap", 0, 1)


def _judge(ctx: Context, stmt: n.Judge, prog: dict[str, Any]) -> p.JudgeRule:
    if stmt.model not in prog["declared"]["model"]:
        raise ctx.fail(
            "undefined-name",
            f"unknown model '{stmt.model}'",
            stmt.span,
            did_you_mean(stmt.model, prog["model"]),
        )
    verbatim(ctx, stmt.rubric, "a judge's rubric")
    lo, hi = p.JUDGE_SCALE
    return p.JudgeRule(stmt.model, stmt.rubric.value, ctx.integer(stmt.min, "min", lo, hi))


def _write(ctx: Context, stmt: n.Write) -> tuple[str, str]:
    if stmt.format not in p.EXPORT_FORMATS:
        raise ctx.fail(
            "type",
            f"unknown export format '{stmt.format}'",
            stmt.span,
            did_you_mean(stmt.format, p.EXPORT_FORMATS)
            or "formats: " + ", ".join(p.EXPORT_FORMATS),
        )
    _folder_name(ctx, stmt.path)
    return stmt.path.value, stmt.format


def _folder_name(ctx: Context, path: n.Str) -> None:
    """A folder name the system can create: no NUL byte, no part over 255 bytes."""
    parts = path.value.split("/")
    if not path.value or "\0" in path.value or any(len(p.encode()) > 255 for p in parts):
        raise ctx.fail(
            "type",
            "the output folder must be a usable folder name",
            path.span,
            "no NUL byte, and at most 255 bytes between two '/'",
        )


def _dedupe(ctx: Context, d: n.Dedupe) -> tuple[str, float]:
    if d.mode == "exact":
        if d.threshold is not None:
            raise ctx.fail(
                "type",
                "`dedupe exact` takes no threshold",
                d.threshold.span,
                "for a threshold use `dedupe near 0.85`",
            )
        return ("exact", 1.0)
    if d.mode == "near":
        threshold = (
            ctx.number(d.threshold, "a similarity threshold", 0.05, 0.99) if d.threshold else 0.85
        )
        return ("near", threshold)
    raise ctx.fail("type", f"dedupe is `exact` or `near THRESHOLD`, not '{d.mode}'", d.span)


def _splits(ctx: Context, s: n.Split) -> tuple[tuple[str, float], ...]:
    for part in s.parts:
        ratio = part.ratio
        if isinstance(ratio, n.Num) and 1 < ratio.value <= 100:
            raise ctx.fail(
                "range",
                f"split ratios are fractions between 0 and 1, not {ratio.raw or ratio.value}",
                ratio.span,
                f"write {ratio.value / 100:g} for {ratio.value:g}%",
            )
    parts = tuple((part.name, ctx.number(part.ratio, "a split ratio", 0, 1)) for part in s.parts)
    names = [name for name, _ in parts]
    for part in s.parts:
        if part.name.lower() in RESERVED_SPLITS:
            ctx.error(
                "reserved-name",
                f"a split cannot be named '{part.name}': the build writes a file of that name",
                part.span,
                "name it train, eval, test, validation, ...",
            )
        elif not SPLIT_NAME.fullmatch(part.name):
            ctx.error(
                "reserved-name",
                f"a split name is a file name: letters, digits, '_' and '-', not '{part.name}'",
                part.span,
            )
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered) and len(set(names)) == len(names):
        ctx.error(
            "duplicate-name",
            "split names differ only in case (their files collide on some systems)",
            s.span,
        )
    if len(set(names)) != len(names):
        ctx.error("duplicate-name", "a split name is repeated", s.span)
    if any(r <= 0 for _, r in parts):
        ctx.error("range", "split ratios must be above 0", s.span)
    if abs(math.fsum(r for _, r in parts) - 1.0) > 1e-9:
        ctx.error(
            "mix", f"split ratios add up to {math.fsum(r for _, r in parts):g}, not 1", s.span
        )
    return parts


def _check_formats(ctx: Context, block: n.Block, mix: p.Mix, prog: dict[str, Any]) -> None:
    needs = FORMATS[mix.write_format].needs
    for take in mix.takes:
        origin = prog["task"].get(take.origin) or prog["source"].get(take.origin)
        fmt: p.Format | None = origin.format if origin else None
        if fmt is None:
            continue
        if needs == "preference" and fmt.kind != "preference":
            ctx.error(
                "mix",
                f"{mix.write_format} needs preference records; "
                f"'{take.origin}' has {'an' if fmt.kind[0] in 'aeiou' else 'a'} {fmt.kind} format",
                block.name_span,
            )
        if needs == "single_turn" and isinstance(origin, p.Task) and origin.turns > 1:
            ctx.error(
                "mix",
                f"{mix.write_format} holds single-turn records; "
                f"'{take.origin}' has {origin.turns} turns",
                block.name_span,
            )
