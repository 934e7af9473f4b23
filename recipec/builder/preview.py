"""Preview: a folded Outcome in; each job's record, judge score and rejected attempts out, as
plain text for the terminal and as a self-contained HTML page."""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass

import orjson

from recipec.builder.accept import Outcome
from recipec.builder.records import Record, Rejected


@dataclass(frozen=True)
class Shown:
    """One job as the preview shows it."""

    job: str
    persona: dict | None
    record: Record | None
    rejected: tuple[Rejected, ...]


def shown_jobs(outcome: Outcome) -> list[Shown]:
    """Jobs in plan order: accepted ones with their record, failed ones with none."""
    rejected: dict[str, list[Rejected]] = defaultdict(list)
    for r in outcome.rejected:
        rejected[r.job].append(r)
    by_job = {r.provenance.id: r for r in outcome.records if r.provenance.synthetic}
    order = list(dict.fromkeys([*by_job, *outcome.failed, *rejected]))
    order.sort(key=lambda job_id: job_id)
    out = []
    for job_id in order:
        record = by_job.get(job_id)
        persona = record.provenance.persona if record else _persona(rejected[job_id])
        out.append(Shown(job_id, persona, record, tuple(rejected[job_id])))
    return out


def _persona(rejected: list[Rejected]) -> dict | None:
    return rejected[0].persona if rejected else None


def render_text(title: str, jobs: list[Shown]) -> str:
    lines = [title, ""]
    for s in jobs:
        lines.append(f"── {s.job}")
        if s.persona:
            lines.append(f"   persona: {_compact(s.persona)}")
        if s.record is None:
            lines.append("   no acceptable record")
        else:
            p = s.record.provenance
            score = f", judge {p.judge_score}" if p.judge_score is not None else ""
            lines.append(f"   accepted (attempt {p.retries}{score}):")
            for m in s.record.example.messages:
                lines.append(f"     {m.role}: {_one_line(m.content)}")
            ex = s.record.example
            if ex.kind == "preference":
                lines.append(f"     chosen: {_one_line(ex.chosen or '')}")
                lines.append(f"     rejected: {_one_line(ex.rejected or '')}")
        for r in s.rejected:
            lines.append(f"   rejected attempt {r.attempt} ({r.reason}): {_one_line(r.text)}")
        lines.append("")
    return "\n".join(lines)


def render_html(title: str, jobs: list[Shown]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}"
        ".job{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}"
        ".rej{color:#8a1c1c}.ok{color:#1c5e20}pre{white-space:pre-wrap;margin:.2rem 0}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for s in jobs:
        parts.append(f"<div class='job'><h3>{html.escape(s.job)}</h3>")
        if s.persona:
            parts.append(f"<p>persona: <code>{html.escape(_compact(s.persona))}</code></p>")
        if s.record is None:
            parts.append("<p class='rej'>no acceptable record</p>")
        else:
            p = s.record.provenance
            score = f", judge {p.judge_score}" if p.judge_score is not None else ""
            parts.append(f"<p class='ok'>accepted (attempt {p.retries}{html.escape(score)})</p>")
            for m in s.record.example.messages:
                parts.append(f"<pre><b>{m.role}</b>: {html.escape(m.content)}</pre>")
        for r in s.rejected:
            parts.append(
                f"<p class='rej'>rejected attempt {r.attempt} ({html.escape(r.reason)})</p>"
                f"<pre>{html.escape(r.text)}</pre>"
            )
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _compact(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _one_line(text: str, width: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
