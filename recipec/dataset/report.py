"""Build report: manifest, splits, provenance and rejected attempts in; report.md and a
self-contained report.html out.

Both files render the same list of Sections (tables, charts, records, warnings, notes), so they
never disagree. The HTML has inline CSS and inline SVG charts drawn by matplotlib; a Content
Security Policy forbids every fetch and script, so the page works offline and stays inert.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from recipec.dataset.charts import bar_chart
from recipec.dataset.example import Example, responses
from recipec.dataset.review import BuildWarning, review
from recipec.dataset.stats import (
    Summary,
    distinct_n,
    histogram,
    summarize,
    tally,
    word_lengths,
)
from recipec.dataset.writers import write_atomic
from recipec.diagnostics import BuildFailed

NA = "n/a"
DROP_FILTERS = ("exact_duplicate", "near_duplicate", "leakage", "judge")
BOUNDS: dict[str, Callable[[int, int], bool]] = {
    "at_least": lambda delivered, wanted: delivered >= wanted,
    "at_most": lambda delivered, wanted: delivered <= wanted,
    "exactly": lambda delivered, wanted: delivered == wanted,
}
SAMPLES_PER_GROUP = 3
SAMPLE_GROUPS = 12
REJECTED_PER_REASON = 2

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    """Bars of counts; `expected`, when given, is a second series (what the weights ask for)."""

    title: str
    bars: tuple[tuple[str, int], ...]
    expected: tuple[float, ...] | None = None
    unit: str = "records"
    legend: tuple[str, str] = ("records", "from the weights")


@dataclass(frozen=True)
class Record:
    """One record shown in full: a title, a line about it, and its texts under their labels."""

    title: str
    about: str
    texts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Warnings:
    items: tuple[BuildWarning, ...]


Block = Table | Chart | Record | Warnings | str


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def render_report(
    manifest: Mapping[str, Any],
    splits: Mapping[str, Sequence[Example]],
    provenance: Sequence[Mapping[str, Any]],
    outdir: Path,
    rejected: Sequence[Mapping[str, Any]] = (),
    count_tokens: CountTokens | None = None,
) -> tuple[BuildWarning, ...]:
    """Write outdir/report.md and outdir/report.html; return the warnings the report shows.

    Every argument after `outdir` and every manifest key is optional: a folder written by an
    older or failed build renders, with n/a where a value is missing. `count_tokens` (the
    teacher's tokenizer) gives lengths of whole records in tokens; without it, the lengths of
    synthetic records come from their provenance `output_tokens`.
    """
    files, warnings = report_files(manifest, splits, provenance, rejected, count_tokens)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_atomic(outdir / name, [data])
    return warnings


def report_files(
    manifest: Mapping[str, Any],
    splits: Mapping[str, Sequence[Example]],
    provenance: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]] = (),
    count_tokens: CountTokens | None = None,
) -> tuple[dict[str, bytes], tuple[BuildWarning, ...]]:
    """The bytes of report.md and report.html, and the warnings they show (for a build that
    writes its folder as one transaction)."""
    warnings = review(manifest, provenance, rejected)
    sections = build_sections(manifest, splits, provenance, rejected, count_tokens, warnings)
    title = f"recipec report: {show(manifest.get('recipe'))}"
    files = {
        "report.md": to_markdown(title, sections).encode("utf-8"),
        "report.html": to_html(title, sections).encode("utf-8"),
    }
    return files, warnings


@dataclass(frozen=True)
class BuildFiles:
    """What `render_report` needs, as a build left it in its output folder."""

    manifest: dict[str, Any]
    splits: dict[str, list[Example]]
    provenance: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


def read_build(outdir: Path) -> BuildFiles:
    """The files of any build, finished, short or failed: only manifest.json must exist;
    provenance.jsonl, .recipec/examples.jsonl and .recipec/rejected.jsonl are read if there."""
    outdir = Path(outdir)
    try:
        manifest = orjson.loads((outdir / "manifest.json").read_bytes())
        # A failed build keeps its provenance inside .recipec/ (it writes no dataset files).
        kept = outdir / ".recipec" / "provenance.jsonl"
        provenance = _jsonl(kept if kept.exists() else outdir / "provenance.jsonl")
        rejected = _jsonl(outdir / ".recipec" / "rejected.jsonl")
        rows = _jsonl(outdir / ".recipec" / "examples.jsonl")
    except FileNotFoundError:
        raise BuildFailed(
            f"{outdir} holds no build (manifest.json is missing)",
            "give the output folder of a `recipec build`",
        ) from None
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise BuildFailed(
            f"{outdir}: the build's files cannot be read ({exc})",
            "rerun the build (`recipec build`); its journal keeps every generation",
        ) from None
    # JSON objects are written with sorted keys; the recipe's split order is kept beside them.
    order = manifest.get("split_order") or list(manifest.get("splits") or {})
    splits: dict[str, list[Example]] = {name: [] for name in order}
    for row in rows:
        splits.setdefault(row.pop("split"), []).append(Example.from_dict(row))
    return BuildFiles(manifest, splits, provenance, rejected)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def build_sections(
    manifest: Mapping[str, Any],
    splits: Mapping[str, Sequence[Example]],
    provenance: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]] = (),
    count_tokens: CountTokens | None = None,
    warnings: tuple[BuildWarning, ...] | None = None,
) -> list[Section]:
    examples = [example for members in splits.values() for example in members]
    found = review(manifest, provenance, rejected) if warnings is None else warnings
    return [
        _summary(manifest, examples),
        Section("Warnings", (Warnings(found),) if found else ("none",)),
        _samples(splits, provenance),
        _rejected(manifest, rejected),
        _origins(manifest),
        _personas(manifest, provenance),
        _quotas(manifest),
        _splits(splits),
        _strata(splits),
        _judge(provenance),
        _lengths(examples, provenance, count_tokens),
        _diversity(examples),
        _models(manifest),
        _drops(manifest),
        _provenance(provenance),
    ]


# Values ---------------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A manifest value as text: n/a for missing, yes/no, floats to three decimals."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _section(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = manifest.get(key)
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _five(summary: Summary | None) -> str:
    if summary is None:
        return NA
    return f"{summary.min} / {summary.median:g} / {summary.p90} / {summary.max}"


def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: 42.0 s, 3 min 07 s, 2 h 05 min."""
    if seconds is None:
        return NA
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _spread(ident: str) -> str:
    """A stable order that is not the id order, so samples are not all from the first jobs."""
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()


# Sections -------------------------------------------------------------------------------------


def _summary(manifest: Mapping[str, Any], examples: Sequence[Example]) -> Section:
    rows = [
        ("recipe", show(manifest.get("recipe"))),
        ("mix", show(manifest.get("mix"))),
        ("status", show(manifest.get("status"))),
        ("stopped early", show(manifest.get("stopped_early") or None)),
        ("format", show(manifest.get("format"))),
        ("fingerprint", show(manifest.get("fingerprint"))),
        ("seed", show(manifest.get("seed"))),
        ("examples", str(len(examples))),
        *_effort(manifest),
    ]
    return Section("Summary", (Table(("item", "value"), tuple(rows)),))


def _effort(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Time and tokens of the whole build, resumes included; this run's own figures beside."""
    totals = _section(manifest, "totals")
    generations = _section(manifest, "generations")
    run_seconds = _number(manifest.get("seconds"))
    if totals:
        seconds, output = _number(totals.get("seconds")), _count(totals.get("output_tokens"))
        rows = [
            ("time, whole build", duration(seconds)),
            ("generations, whole build", show(totals.get("generations"))),
            ("prompt tokens, whole build", show(totals.get("prompt_tokens"))),
            ("output tokens, whole build", show(output)),
        ]
    else:
        # An older manifest: its token counts include generations reused from the journal, so
        # a rate over this run's seconds is only honest when nothing was reused.
        tokens = _section(manifest, "tokens")
        seconds, output = run_seconds, _count(tokens.get("output"))
        if _count(generations.get("reused")):
            seconds = None
        rows = [
            ("prompt tokens", show(tokens.get("prompt"))),
            ("output tokens", show(output)),
        ]
    rate = output / seconds if output is not None and seconds else None
    rows.append(("output tokens per second", f"{rate:.1f}" if rate is not None else NA))
    rows.append(("this run", _this_run(run_seconds, generations)))
    return rows


def _this_run(seconds: float | None, generations: Mapping[str, Any]) -> str:
    new, reused = _count(generations.get("new")), _count(generations.get("reused"))
    parts = [duration(seconds)]
    if new is not None or reused is not None:
        parts.append(f"{show(new)} generated, {show(reused)} reused from the journal")
    return "; ".join(parts)


def _samples(
    splits: Mapping[str, Sequence[Example]], provenance: Sequence[Mapping[str, Any]]
) -> Section:
    rows = {str(row.get("id")): row for row in provenance}
    where = {ex.id: name for name, members in splits.items() for ex in members}
    groups: dict[tuple[str, str], list[Example]] = {}
    for members in splits.values():
        for ex in members:
            groups.setdefault((ex.origin, ex.stratum), []).append(ex)
    if not groups:
        return Section("Sample records", (NA,))
    keys = sorted(groups)
    note = (
        f"Up to {SAMPLES_PER_GROUP} records of each origin and stratum, in full, exactly as "
        "they will be trained on. Read them before training."
    )
    blocks: list[Block] = [note]
    for origin, stratum in keys[:SAMPLE_GROUPS]:
        chosen = sorted(groups[origin, stratum], key=lambda ex: _spread(ex.id))
        for ex in chosen[:SAMPLES_PER_GROUP]:
            blocks.append(_record(ex, where[ex.id], rows.get(ex.id, {})))
    if len(keys) > SAMPLE_GROUPS:
        blocks.append(f"{len(keys) - SAMPLE_GROUPS} more origin/stratum groups are not shown.")
    return Section("Sample records", tuple(blocks))


def _record(ex: Example, split: str, row: Mapping[str, Any]) -> Record:
    about = [f"origin {ex.origin}", f"split {split}"]
    if ex.stratum:
        about.append(f"stratum {ex.stratum}")
    about.append("synthetic" if ex.synthetic else "real")
    if isinstance(row.get("persona"), Mapping) and row["persona"]:
        about.append("persona " + _persona(row["persona"]))
    if _count(row.get("judge_score")) is not None:
        about.append(f"judge score {row['judge_score']}")
    if _count(row.get("retries")):
        about.append(f"{row['retries']} retries")
    near = row.get("nearest_real")
    if isinstance(near, Mapping) and _number(near.get("overlap")) is not None:
        about.append(f"nearest real {near.get('id')} ({float(near['overlap']):.0%} overlap)")
    texts = [(m.role, m.content) for m in ex.messages]
    texts += [
        (k, v) for k, v in (("chosen", ex.chosen), ("rejected", ex.rejected)) if v is not None
    ]
    return Record(ex.id, ", ".join(about), tuple(texts))


def _persona(persona: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={persona[k]}" for k in sorted(persona))


def _rejected(manifest: Mapping[str, Any], rejected: Sequence[Mapping[str, Any]]) -> Section:
    title = "Rejected attempts"
    counts = Counter(str(row.get("reason")) for row in rejected)
    if not counts and isinstance(manifest.get("rejections"), Mapping):
        counts = Counter({str(k): _count(v) or 0 for k, v in manifest["rejections"].items()})
    ranked = tuple(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))
    if not ranked:
        none = "none" if isinstance(manifest.get("rejections"), Mapping) else NA
        return Section(title, (none,))
    table = Table(("reason", "attempts"), tuple((name, str(n)) for name, n in ranked))
    blocks: list[Block] = [table, Chart("rejected attempts by reason", ranked, unit="attempts")]
    if rejected:
        blocks.append(
            f"Up to {REJECTED_PER_REASON} rejected attempts per reason, with the teacher's text."
        )
    for reason, _ in ranked:
        rows = [row for row in rejected if str(row.get("reason")) == reason]
        rows.sort(key=lambda row: _spread(f"{row.get('job')}/{row.get('attempt')}"))
        blocks += [_rejected_record(row) for row in rows[:REJECTED_PER_REASON]]
    return Section(title, tuple(blocks))


def _rejected_record(row: Mapping[str, Any]) -> Record:
    about = [f"reason {row.get('reason')}"]
    if row.get("detail"):
        about.append(str(row["detail"]))
    if row.get("task"):
        about.append(f"task {row['task']}")
    if isinstance(row.get("persona"), Mapping) and row["persona"]:
        about.append("persona " + _persona(row["persona"]))
    title = f"{row.get('job')} attempt {row.get('attempt')}"
    return Record(title, ", ".join(about), (("text", str(row.get("text") or "")),))


def _models(manifest: Mapping[str, Any]) -> Section:
    models = _section(manifest, "model")
    rows = []
    for name in sorted(models):
        info = models[name] if isinstance(models[name], Mapping) else {}
        rows.append((name, show(info.get("file")), show(info.get("sha256"))))
    table = Table(("model", "file", "sha256"), tuple(rows))
    return Section("Teacher models", (table if rows else NA,))


def _origins(manifest: Mapping[str, Any]) -> Section:
    targets, counts = _section(manifest, "targets"), _section(manifest, "counts")
    origins = sorted(set(targets) | set(counts))
    if not origins:
        return Section("Examples per origin", (NA,))
    rows = tuple(
        (origin, show(targets.get(origin)), show(counts.get(origin)), _met(counts, targets, origin))
        for origin in origins
    )
    bars = tuple((origin, _count(counts.get(origin)) or 0) for origin in origins)
    wanted = tuple(float(_count(targets.get(origin)) or 0) for origin in origins)
    table = Table(("origin", "target", "delivered", "met"), rows)
    chart = Chart(
        "delivered per origin, against the target",
        bars,
        wanted if targets else None,
        legend=("delivered", "target"),
    )
    return Section("Examples per origin", (table, chart))


def _personas(manifest: Mapping[str, Any], provenance: Sequence[Mapping[str, Any]]) -> Section:
    """Persona values of the accepted records against the weights written in the recipe."""
    title = "Persona values against the recipe's weights"
    weights = _section(manifest, "persona_weights")
    blocks: list[Block] = []
    for task in sorted(weights):
        drawn = [
            row["persona"]
            for row in provenance
            if row.get("origin") == task and isinstance(row.get("persona"), Mapping)
        ]
        attributes = weights[task] if isinstance(weights[task], Mapping) else {}
        for attribute in sorted(attributes):
            if isinstance(attributes[attribute], Mapping):
                blocks += _persona_blocks(task, attribute, attributes[attribute], drawn)
    if not blocks:
        return Section(title, (NA,))
    note = (
        "Accepted records per value, and what the weights ask for. Quotas steer the draws and "
        "rejections remove some, so small gaps are expected; a large one is worth a look."
    )
    return Section(title, (note, *blocks))


def _persona_blocks(
    task: str, attribute: str, weights: Mapping[str, Any], drawn: Sequence[Mapping[str, Any]]
) -> list[Block]:
    values = [str(v) for v in weights]
    total_weight = sum(_number(w) or 0.0 for w in weights.values()) or 1.0
    counts = Counter(str(persona.get(attribute)) for persona in drawn if attribute in persona)
    n = sum(counts[v] for v in values)
    rows, bars, expected = [], [], []
    for value, weight in zip(values, weights.values(), strict=True):
        share = (_number(weight) or 0.0) / total_weight
        rows.append(
            (value, show(weight), f"{share:.1%}", str(counts[value]), _share(counts[value], n))
        )
        bars.append((value, counts[value]))
        expected.append(round(share * n, 2))
    headers = ("value", "weight", "weight share", "records", "record share")
    chart = Chart(f"{task}: persona.{attribute}", tuple(bars), tuple(expected))
    return [f"{task}: persona.{attribute} ({n} records)", Table(headers, tuple(rows)), chart]


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else NA


def _met(counts: Mapping[str, Any], targets: Mapping[str, Any], origin: str) -> str:
    delivered, wanted = _count(counts.get(origin)), _count(targets.get(origin))
    if delivered is None or wanted is None:
        return NA
    return "yes" if delivered >= wanted else f"short by {wanted - delivered}"


def _quotas(manifest: Mapping[str, Any]) -> Section:
    quotas = manifest.get("quotas")
    if not isinstance(quotas, list) or not quotas:
        return Section("Quotas", (NA,))
    headers = ("quota", "origin", "where", "rule", "wanted", "delivered", "met")
    rows = tuple(_quota_row(quota) for quota in quotas if isinstance(quota, Mapping))
    return Section("Quotas", (Table(headers, rows),))


def _quota_row(quota: Mapping[str, Any]) -> tuple[str, ...]:
    bound = next((name for name in BOUNDS if name in quota), None)
    limit = _count(quota.get(bound)) if bound else None
    wanted = _count(quota.get("wanted"))
    wanted = limit if wanted is None else wanted
    delivered = _count(quota.get("delivered"))
    met = NA
    if bound is not None and wanted is not None and delivered is not None:
        met = show(BOUNDS[bound](delivered, wanted))
    fields = (quota.get("name"), quota.get("origin"), quota.get("where"))
    return (*map(show, fields), _rule(bound, limit), show(wanted), show(delivered), met)


def _rule(bound: str | None, limit: int | None) -> str:
    if bound is None:
        return NA
    words = bound.replace("_", " ")
    return words if limit is None else f"{words} {limit}"


def _splits(splits: Mapping[str, Sequence[Example]]) -> Section:
    total = sum(len(members) for members in splits.values())
    rows = [
        (name, str(len(members)), f"{len(members) / total:.1%}" if total else NA)
        for name, members in splits.items()
    ]
    rows.append(("total", str(total), "100.0%" if total else NA))
    return Section("Splits", (Table(("split", "examples", "share"), tuple(rows)),))


def _strata(splits: Mapping[str, Sequence[Example]]) -> Section:
    cells = Counter(
        (example.origin, example.stratum, name)
        for name, members in splits.items()
        for example in members
    )
    keys = sorted({(origin, stratum) for origin, stratum, _ in cells})
    if not keys:
        return Section("Examples per stratum and split", (NA,))
    headers = ("origin", "stratum", *splits, "total")
    rows = []
    for origin, stratum in keys:
        counts = [cells[origin, stratum, name] for name in splits]
        rows.append((origin, stratum or "(none)", *map(str, counts), str(sum(counts))))
    return Section("Examples per stratum and split", (Table(headers, tuple(rows)),))


def _drops(manifest: Mapping[str, Any]) -> Section:
    dropped = _section(manifest, "dropped")
    names = [*DROP_FILTERS, *sorted(set(dropped) - set(DROP_FILTERS))]
    rows = tuple((name.replace("_", " "), show(dropped.get(name))) for name in names)
    return Section("Dropped by filters", (Table(("filter", "dropped"), rows),))


def _judge(provenance: Sequence[Mapping[str, Any]]) -> Section:
    scores = [score for row in provenance if (score := _count(row.get("judge_score"))) is not None]
    if not scores:
        return Section("Judge scores", (NA,))
    counts = tally(scores)
    note = f"{len(scores)} judged, mean score {sum(scores) / len(scores):.2f}"
    table = Table(("score", "examples"), tuple((score, str(n)) for score, n in counts))
    return Section("Judge scores", (note, table, Chart("records per judge score", tuple(counts))))


def _by_origin(examples: Sequence[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.origin, []).append(example)
    return {origin: groups[origin] for origin in sorted(groups)}


def _lengths(
    examples: Sequence[Example],
    provenance: Sequence[Mapping[str, Any]],
    count_tokens: CountTokens | None,
) -> Section:
    groups = _by_origin(examples)
    if not groups:
        return Section("Lengths", (NA,))
    if count_tokens is not None:
        note = "Whole records in the teacher's tokens (every message and answer); "
        tokens = {o: [count_tokens(ex.text()) for ex in members] for o, members in groups.items()}
    else:
        note = "Synthetic records in teacher output tokens (from provenance); "
        out = {str(r.get("id")): _count(r.get("output_tokens")) for r in provenance}
        tokens = {
            o: [t for ex in members if (t := out.get(ex.id)) is not None]
            for o, members in groups.items()
        }
    note += "min / median / p90 / max."
    headers = ("origin", "examples", "tokens", "words")
    rows, charts = [], []
    for origin, members in groups.items():
        words = word_lengths(ex.text() for ex in members)
        rows.append(
            (origin, str(len(members)), _five(summarize(tokens[origin])), _five(summarize(words)))
        )
        if tokens[origin]:
            bars = tuple(histogram(tokens[origin]))
            charts.append(Chart(f"tokens per record: {origin}", bars))
    return Section("Lengths", (note, Table(headers, tuple(rows)), *charts))


def _diversity(examples: Sequence[Example]) -> Section:
    groups = {**_by_origin(examples), "(all)": list(examples)}
    rows = []
    for origin, members in groups.items():
        texts = [text for example in members for text in responses(example)]
        one, two = distinct_n(texts, 1), distinct_n(texts, 2)
        rows.append((origin, str(len(texts)), f"{one:.3f}", f"{two:.3f}"))
    note = "Distinct word n-grams over all n-grams of the answers (assistant, chosen, rejected)."
    table = Table(("origin", "answers", "distinct-1", "distinct-2"), tuple(rows))
    return Section("Diversity", (note, table))


def _provenance(provenance: Sequence[Mapping[str, Any]]) -> Section:
    if not provenance:
        return Section("Provenance", (NA,))
    retries = [_count(row.get("retries")) or 0 for row in provenance]
    synthetic = sum(row.get("synthetic") is True for row in provenance)
    personas = sum(isinstance(row.get("persona"), Mapping) for row in provenance)
    rows = (
        ("records", str(len(provenance))),
        ("synthetic", str(synthetic)),
        ("real", str(len(provenance) - synthetic)),
        ("with a persona", str(personas)),
        ("retried at least once", str(sum(n > 0 for n in retries))),
        ("retries in all", str(sum(retries))),
    )
    return Section("Provenance", (Table(("item", "count"), rows),))


# Markdown -------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|])")
BAR_CHARS = 30


def to_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {_md(title)}", ""]
    for section in sections:
        lines += [f"## {_md(section.title)}", ""]
        for block in section.blocks:
            lines += [*_md_block(block), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md(text: str) -> str:
    """Text safe in a Markdown table cell: HTML escaped, Markdown specials backslashed."""
    escaped = html.escape(" ".join(text.split()), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Table):
        return _md_table(block.headers, block.rows)
    if isinstance(block, Chart):
        return _md_chart(block)
    if isinstance(block, Record):
        return _md_record(block)
    if isinstance(block, Warnings):
        return [f"- **{_md(w.code)}**: {_md(w.message)}" for w in block.items]
    return [_md(block)]


def _md_chart(chart: Chart) -> list[str]:
    peak = max((value for _, value in chart.bars), default=0) or 1
    if chart.expected is None:
        rows = tuple((label, str(n), "█" * round(BAR_CHARS * n / peak)) for label, n in chart.bars)
        return [f"**{_md(chart.title)}**", "", *_md_table(("", chart.unit, ""), rows)]
    paired = tuple(
        (label, str(n), f"{want:g}", "█" * round(BAR_CHARS * n / peak))
        for (label, n), want in zip(chart.bars, chart.expected, strict=True)
    )
    return [f"**{_md(chart.title)}**", "", *_md_table(("", chart.unit, "expected", ""), paired)]


def _md_record(record: Record) -> list[str]:
    """A record in full: each text in a fenced block longer than any backtick run inside it,
    so Markdown renders it literally (no HTML, no emphasis) and keeps its line breaks."""
    lines = [f"#### {_md(record.title)}", "", f"*{_md(record.about)}*"]
    for label, text in record.texts:
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))
        lines += ["", f"**{_md(label)}**", "", fence + "text", text, fence]
    return lines


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md(cell) for cell in cells) + " |"

    return [line(headers), "|" + "---|" * len(headers), *(line(row) for row in rows)]


# HTML -----------------------------------------------------------------------------------------

# Nothing may be fetched or run: charts are inline SVG, styles inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2228; max-width: 64rem; margin: 2rem auto;
  padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
  border-bottom: 1px solid #d5dbe1; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #d5dbe1; padding: .2rem .6rem; text-align: left; vertical-align: top;
  word-break: normal; overflow-wrap: normal; }
th { background: #f1f4f7; }
td { font-variant-numeric: tabular-nums; }
td.token { overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: .85rem; }
figure { margin: .75rem 0; } figcaption { font-size: .9rem; color: #55606b; }
figure svg { max-width: 100%; height: auto; }
ul.warnings { padding-left: 1.2rem; }
ul.warnings li { background: #fff4e5; border-left: 4px solid #d9822b; padding: .3rem .6rem;
  margin: .3rem 0; list-style: none; }
article.record { border: 1px solid #d5dbe1; border-radius: 4px; padding: .5rem .8rem;
  margin: .75rem 0; }
article.record h3 { font-size: 1rem; margin: 0; }
article.record p.about { color: #55606b; font-size: .9rem; margin: .2rem 0 .4rem; }
article.record dt { font-weight: 600; font-size: .85rem; margin-top: .4rem; }
article.record dd { margin: 0; }
article.record pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f7f9fa;
  padding: .4rem .6rem; margin: .2rem 0; font: 13px/1.4 ui-monospace, monospace; }
""".strip()

# A cell with no spaces and this many characters is a token (hash, path): it may wrap anywhere.
TOKEN_CHARS = 24


def to_html(title: str, sections: Sequence[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title)}</title>",
        f"<style>\n{CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{_h(title)}</h1>",
    ]
    for section in sections:
        parts += ["<section>", f"<h2>{_h(section.title)}</h2>"]
        parts += [_html_block(block) for block in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _html_block(block: Block) -> str:
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Chart):
        return _html_chart(block)
    if isinstance(block, Record):
        return _html_record(block)
    if isinstance(block, Warnings):
        items = "".join(
            f"<li><strong>{_h(w.code)}</strong>: {_h(w.message)}</li>" for w in block.items
        )
        return f'<ul class="warnings">{items}</ul>'
    return f"<p>{_h(block)}</p>"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{_h(cell)}</th>" for cell in table.headers)
    body = "".join("<tr>" + "".join(_td(cell) for cell in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(cell: str) -> str:
    token = len(cell) >= TOKEN_CHARS and not any(c.isspace() for c in cell)
    return f'<td class="token">{_h(cell)}</td>' if token else f"<td>{_h(cell)}</td>"


def _html_chart(chart: Chart) -> str:
    if not chart.bars:
        return ""
    labels = [label for label, _ in chart.bars]
    values = [value for _, value in chart.bars]
    svg = bar_chart(chart.title, labels, values, chart.expected, chart.unit, chart.legend)
    return f"<figure><figcaption>{_h(chart.title)}</figcaption>{svg}</figure>"


def _html_record(record: Record) -> str:
    texts = "".join(
        f"<dt>{_h(label)}</dt><dd><pre>{_h(text)}</pre></dd>" for label, text in record.texts
    )
    return (
        f'<article class="record"><h3>{_h(record.title)}</h3>'
        f'<p class="about">{_h(record.about)}</p><dl>{texts}</dl></article>'
    )
