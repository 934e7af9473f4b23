"""Yield per gate, per task (pipeline), of a finished build: read from the build's own files
(the journal's attempts, the rejected attempts, provenance), not from the filters' counters.

    python bench/bench_scenarios.py OUT_DIR [GATE ...]
prints a markdown table: attempts, rejections by reason, accepted, and for each validator gate
the candidates that reached it, passed it, and the share passed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

GATES = ("parse", "read_only", "schema", "execute", "non_empty", "entity")
BEFORE = ("truncated", "invalid_json", "schema", "exact_duplicate", "near_duplicate", "leakage")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(out: Path) -> str:
    hidden = out / ".recipec"
    attempts = Counter(
        e["job"].split("/")[1] for e in _lines(hidden / "journal.jsonl") if e.get("kind") == "gen"
    )
    rejected = Counter((r["task"], r["reason"]) for r in _lines(hidden / "rejected.jsonl"))
    accepted = Counter(r["origin"] for r in _lines(out / "provenance.jsonl") if r["synthetic"])
    rows = ["| task | attempts | accepted | " + " | ".join(GATES) + " |"]
    rows.append("|" + " --- |" * (3 + len(GATES)))
    for task in sorted(attempts):
        left = attempts[task] - sum(rejected[(task, r)] for r in BEFORE)
        cells = []
        for gate in GATES:
            failed = rejected[(task, f"query_{gate}")]
            share = f"{(left - failed) / left:.0%}" if left else "–"
            cells.append(f"{left - failed}/{left} ({share})")
            left -= failed
        rows.append(f"| {task} | {attempts[task]} | {accepted[task]} | " + " | ".join(cells) + " |")
    other = {k: v for k, v in rejected.items() if k[1] in BEFORE}
    note = ", ".join(f"{t} {r}: {n}" for (t, r), n in sorted(other.items())) or "none"
    return "\n".join(rows) + f"\n\nrejected before the validator: {note}"


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
