"""Yield per gate, per task (pipeline), of a finished build of a recipe with `validate`.

    python bench/bench_scenarios.py RECIPE OUT_DIR

Every attempt the build made is in its journal; this script replays each attempt through the
build's own checks and filters (truncated, degenerate, dedupe, then the validator's gates) per
task, and checks that the totals equal the build's own counts in manifest.json (the
rejected-attempt samples are capped, so they cannot be used). "stopped before" counts the
attempts rejected before the validator. Prints a markdown table: attempts, accepted, and
for each gate the candidates that reached it and passed it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import recipec
from recipec.builder.filters import candidate, filters_for
from recipec.builder.records import Attempt, synthetic_record
from recipec.validators import GATES, REASON


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verdicts(recipe: Path, out: Path) -> Counter[tuple[str, str]]:
    """(task, outcome) counts over every attempt in the journal, replayed through the build's
    own checks and filters in plan order (so dedupe sees what was accepted before)."""
    plan = recipec.plan(recipec.check(recipec.parse(recipe)))
    (mix,) = plan.header.mixes
    entries = {
        (e["job"], e["attempt"]): Attempt.from_json(e)
        for e in _lines(out / ".recipec" / "journal.jsonl")
        if e.get("kind") == "gen"
    }
    filters = filters_for(plan.header, mix, None)  # type: ignore[arg-type]  # no judge here
    counts: Counter[tuple[str, str]] = Counter()
    for job in plan.jobs(mix.name):
        number = 0
        while (job.id, number) in entries:
            c = candidate(job, entries[(job.id, number)])
            reason = (
                c
                if isinstance(c, str)
                else next((r for f in filters if (r := f.check(c)) is not None), None)
            )
            counts[(job.task, reason or "passed")] += 1
            if reason is None:
                assert not isinstance(c, str)
                for f in filters:
                    f.remember(synthetic_record(c, ()))
                break
            number += 1
    return counts


def table(recipe: Path, out: Path) -> str:
    counts = verdicts(recipe, out)
    manifest = json.loads((out / "manifest.json").read_text())
    replayed = Counter[str]()
    for (_, reason), n in counts.items():
        replayed[reason] += n
    for reason, n in manifest["rejections"].items():
        assert replayed[reason] == n, (reason, replayed[reason], n)
    accepted = Counter(r["origin"] for r in _lines(out / "provenance.jsonl") if r["synthetic"])
    rows = ["| task | attempts | stopped before | accepted | " + " | ".join(GATES) + " |"]
    rows.append("|" + " --- |" * (4 + len(GATES)))
    for task in sorted({t for t, _ in counts}):
        attempts = sum(n for (t, _), n in counts.items() if t == task)
        gate_reasons = {REASON[g] for g in GATES} | {"passed"}
        cut = sum(n for (t, r), n in counts.items() if t == task and r not in gate_reasons)
        left, cells = attempts - cut, []
        for gate in GATES:
            failed = counts[(task, REASON[gate])]
            share = f"{(left - failed) / left:.0%}" if left else "–"
            cells.append(f"{left - failed}/{left} ({share})")
            left -= failed
        rows.append(
            f"| {task} | {attempts} | {cut} | {accepted[task]} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]), Path(sys.argv[2])))
