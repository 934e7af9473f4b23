"""Yield per gate, per task (pipeline), of a finished build of a recipe with `validate`.

    python bench/bench_scenarios.py RECIPE OUT_DIR

Every attempt the build made is in its journal; this script replays each attempt's verdict
(truncated, or the validator's first failed gate) per task, and checks that the totals equal
the build's own counts in manifest.json (the rejected-attempt samples are capped, so they
cannot be used). Prints a markdown table: attempts, accepted, and for each gate the candidates
that reached it and passed it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import recipec
from recipec.validators import GATES, REASON, open_database, validate


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verdicts(recipe: Path, out: Path) -> Counter[tuple[str, str]]:
    """(task, outcome) counts over every attempt in the journal."""
    header = recipec.plan(recipec.check(recipec.parse(recipe))).header
    (mix,) = header.mixes
    (spec,) = mix.validators
    d = header.databases[spec.database]
    db = open_database(d.engine, d.schema, d.data)
    counts: Counter[tuple[str, str]] = Counter()
    for entry in _lines(out / ".recipec" / "journal.jsonl"):
        if entry.get("kind") != "gen":
            continue
        task = entry["job"].split("/")[1]
        if entry["finish"] != "stop" or entry["value"] is None:
            counts[(task, "truncated" if entry["finish"] == "length" else "invalid_json")] += 1
            continue
        value = entry["value"]
        question = value.get(spec.question) if spec.question else None
        verdict = validate(db, value[spec.field], question)
        counts[(task, verdict.reason or "passed")] += 1
    return counts


def table(recipe: Path, out: Path) -> str:
    counts = verdicts(recipe, out)
    manifest = json.loads((out / "manifest.json").read_text())
    for gate in GATES:
        replayed = sum(n for (_, r), n in counts.items() if r == REASON[gate])
        assert replayed == manifest["rejections"].get(REASON[gate], 0), (gate, replayed)
    accepted = Counter(r["origin"] for r in _lines(out / "provenance.jsonl") if r["synthetic"])
    rows = ["| task | attempts | truncated | accepted | " + " | ".join(GATES) + " |"]
    rows.append("|" + " --- |" * (4 + len(GATES)))
    for task in sorted({t for t, _ in counts}):
        attempts = sum(n for (t, _), n in counts.items() if t == task)
        cut = counts[(task, "truncated")] + counts[(task, "invalid_json")]
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
