"""Build report: manifest, splits and provenance in, report.md and self-contained report.html out.

Both files render the same list of Sections (tables, bar charts, notes), so they never disagree.
The HTML has inline CSS and hand-drawn inline SVG: no scripts, no links, no external assets.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipec.dataset.example import Example, responses
from recipec.dataset.stats import (
    Summary,
    char_lengths,
    distinct_n,
    histogram,
    summarize,
    tally,
    word_lengths,
)
from recipec.dataset.writers import write_atomic

NA = "n/a"
DROP_FILTERS = ("exact_duplicate", "near_duplicate", "leakage", "judge")
BOUNDS: dict[str, Callable[[int, int], bool]] = {
    "at_least": lambda delivered, wanted: delivered >= wanted,
    "at_most": lambda delivered, wanted: delivered <= wanted,
    "exactly": lambda delivered, wanted: delivered == wanted,
}


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[tuple[str, int], ...]


Block = Table | Chart | str


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def render_report(
    manifest: dict[str, Any],
    splits: Mapping[str, Sequence[Example]],
    provenance: Sequence[dict[str, Any]],
    outdir: Path,
) -> None:
    """Write outdir/report.md and outdir/report.html; missing manifest keys show as n/a."""
    sections = build_sections(manifest, splits, provenance)
    title = f"recipec report: {show(manifest.get('recipe'))}"
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_atomic(outdir / "report.md", [to_markdown(title, sections).encode("utf-8")])
    write_atomic(outdir / "report.html", [to_html(title, sections).encode("utf-8")])


def build_sections(
    manifest: Mapping[str, Any],
    splits: Mapping[str, Sequence[Example]],
    provenance: Sequence[Mapping[str, Any]],
) -> list[Section]:
    examples = [example for members in splits.values() for example in members]
    return [
        _summary(manifest, examples),
        _models(manifest),
        _origins(manifest),
        _quotas(manifest),
        _splits(splits),
        _strata(splits),
        _rejections(manifest),
        _drops(manifest),
        _judge(provenance),
        _lengths(examples),
        _diversity(examples),
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


def _five(summary: Summary | None) -> str:
    if summary is None:
        return NA
    return f"{summary.min} / {summary.median:g} / {summary.p90} / {summary.max}"


# Sections -------------------------------------------------------------------------------------


def _summary(manifest: Mapping[str, Any], examples: Sequence[Example]) -> Section:
    tokens = _section(manifest, "tokens")
    seconds = manifest.get("seconds")
    output = _count(tokens.get("output"))
    rate = output / seconds if output is not None and isinstance(seconds, int | float) else None
    rows = [
        ("recipe", show(manifest.get("recipe"))),
        ("status", show(manifest.get("status"))),
        ("format", show(manifest.get("format"))),
        ("fingerprint", show(manifest.get("fingerprint"))),
        ("seed", show(manifest.get("seed"))),
        ("examples", str(len(examples))),
        ("prompt tokens", show(tokens.get("prompt"))),
        ("output tokens", show(output)),
        ("seconds", show(float(seconds) if isinstance(seconds, int | float) else None)),
        ("output tokens per second", show(rate if seconds else None)),
    ]
    return Section("Summary", (Table(("item", "value"), tuple(rows)),))


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
    table = Table(("origin", "target", "delivered", "met"), rows)
    return Section("Examples per origin", (table, Chart("delivered per origin", bars)))


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


def _ranked(counts: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """(name, count) pairs, largest count first, ties by name."""
    pairs = [(str(name), _count(value) or 0) for name, value in counts.items()]
    return tuple(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


def _rejections(manifest: Mapping[str, Any]) -> Section:
    if not isinstance(manifest.get("rejections"), Mapping):
        return Section("Rejections by reason", (NA,))
    ranked = _ranked(_section(manifest, "rejections"))
    if not ranked:
        return Section("Rejections by reason", ("none",))
    table = Table(("reason", "rejections"), tuple((name, str(n)) for name, n in ranked))
    return Section("Rejections by reason", (table, Chart("rejections by reason", ranked)))


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
    return Section("Judge scores", (note, table, Chart("examples per judge score", tuple(counts))))


def _by_origin(examples: Sequence[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.origin, []).append(example)
    return {origin: groups[origin] for origin in sorted(groups)}


def _lengths(examples: Sequence[Example]) -> Section:
    groups = _by_origin(examples)
    if not groups:
        return Section("Lengths", (NA,))
    note = "Whole examples (every message and answer); min / median / p90 / max."
    headers = ("origin", "examples", "characters", "words")
    rows, charts = [], []
    for origin, members in groups.items():
        texts = [example.text() for example in members]
        chars, words = summarize(char_lengths(texts)), summarize(word_lengths(texts))
        rows.append((origin, str(len(members)), _five(chars), _five(words)))
        bars = tuple(histogram(word_lengths(texts)))
        charts.append(Chart(f"words per example: {origin}", bars))
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
        peak = max((value for _, value in block.bars), default=0) or 1
        rows = tuple((label, str(n), "█" * round(BAR_CHARS * n / peak)) for label, n in block.bars)
        return [f"**{_md(block.title)}**", "", *_md_table(("", "count", ""), rows)]
    return [_md(block)]


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md(cell) for cell in cells) + " |"

    return [line(headers), "|" + "---|" * len(headers), *(line(row) for row in rows)]


# HTML -----------------------------------------------------------------------------------------

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2228; max-width: 62rem; margin: 2rem auto;
  padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
  border-bottom: 1px solid #d5dbe1; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #d5dbe1; padding: .2rem .6rem; text-align: left; }
th { background: #f1f4f7; }
td { font-variant-numeric: tabular-nums; word-break: break-all; }
figure { margin: .75rem 0; } figcaption { font-size: .9rem; color: #55606b; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2228; }
svg rect { fill: #4a78b5; }
""".strip()

LABEL_WIDTH = 220
BAR_WIDTH = 420
ROW_HEIGHT = 20
LABEL_CHARS = 32


def to_html(title: str, sections: Sequence[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
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
        head = "".join(f"<th>{_h(cell)}</th>" for cell in block.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{_h(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Chart):
        return _svg_chart(block)
    return f"<p>{_h(block)}</p>"


def _svg_chart(chart: Chart) -> str:
    """A horizontal bar chart as inline SVG, one row per bar, scaled to the largest value."""
    if not chart.bars:
        return ""
    peak = max(value for _, value in chart.bars) or 1
    width = LABEL_WIDTH + BAR_WIDTH + 60
    height = ROW_HEIGHT * len(chart.bars) + 8
    bars = []
    for k, (label, value) in enumerate(chart.bars):
        y = 4 + k * ROW_HEIGHT
        length = BAR_WIDTH * value / peak
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        bars.append(
            f"<g><title>{_h(label)}: {value}</title>"
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">{_h(short)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" height="{ROW_HEIGHT - 6}"/>'
            f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + 14}">{value}</text></g>'
        )
    return (
        f"<figure><figcaption>{_h(chart.title)}</figcaption>"
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_h(chart.title)}">{"".join(bars)}</svg></figure>'
    )
