"""Query validation as a filter: a Candidate in; its field executed on the declared database
through the validator's gates, the first failed gate as the rejection reason (None: passed)
out, with the evidence (rows, gate, error) in `Candidate.evidence["validation"]`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from recipec.builder.records import Candidate, Record
from recipec.ir import Header, Validator
from recipec.validators import REASON, open_database, validate


class QueryValidator:
    """Runs one `validate` of a mix; counts, per gate, the candidates that reached and passed it."""

    def __init__(self, header: Header, spec: Validator) -> None:
        db = header.databases[spec.database]
        self.spec = spec
        self.name = f"validate {spec.kind} {spec.database} {spec.field}"
        self.db = open_database(db.engine, db.schema, db.data)
        self.reached: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()

    def check(self, c: Candidate) -> str | None:
        if c.job.task not in self.spec.tasks:
            return None
        value = c.attempt.value
        question = value.get(self.spec.question) if self.spec.question else None
        verdict = validate(self.db, value[self.spec.field], question)
        gates = self.spec.gates
        failed_at = gates.index(verdict.gate) if verdict.gate in gates else len(gates)
        for gate in gates[: failed_at + 1]:
            self.reached[gate] += 1
        for gate in gates[:failed_at]:
            self.passed[gate] += 1
        evidence = {"validator": f"{self.spec.kind}:{self.spec.database}", **verdict.to_json()}
        c.evidence.setdefault("validation", []).append(evidence)
        return verdict.reason

    def remember(self, record: Record) -> None:
        pass

    def yields(self) -> list[dict[str, Any]]:
        """Per gate: candidates that reached it, passed it, and the share (the report's table)."""
        return [
            {
                "gate": gate,
                "in": self.reached[gate],
                "passed": self.passed[gate],
                "yield": round(self.passed[gate] / self.reached[gate], 3)
                if self.reached[gate]
                else None,
            }
            for gate in self.spec.gates
        ]


def gate_yield(
    gates: tuple[str, ...], checked: int, rejections: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The yield table of one validator, from how many candidates it checked and the manifest's
    rejection counts: per gate, candidates in, passed, and the share passed."""
    rows, left = [], checked
    for gate in gates:
        failed = rejections.get(REASON[gate], 0)
        rows.append(
            {
                "gate": gate,
                "in": left,
                "passed": left - failed,
                "yield": round((left - failed) / left, 3) if left else None,
            }
        )
        left -= failed
    return rows
