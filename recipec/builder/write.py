"""Write: accepted Records in; split files, provenance, a typed Manifest and the report out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from recipec import dataset as ds
from recipec.builder.accept import Outcome
from recipec.builder.records import DROPS, Record
from recipec.dataset.split import DEFAULT_THRESHOLD as DEFAULT_SPLIT_THRESHOLD
from recipec.diagnostics import BuildFailed
from recipec.ir import Header, Json, MixPlan

MANIFEST_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2


@dataclass(frozen=True)
class Run:
    """What one run of a build did, beside its records: for the manifest."""

    fingerprint: str
    seconds: float
    tokens: dict[str, int]
    generations: dict[str, int]
    versions: dict[str, str]
    limited: bool
    totals: dict[str, float] = field(default_factory=dict)  # every generation folded, resumes too


@dataclass(frozen=True)
class Manifest:
    """manifest.json: what a build was asked for, what it delivered, and how."""

    header: Header
    mix: MixPlan
    outcome: Outcome
    run: Run
    splits: dict[str, int]
    status: str  # complete | limited | short | failed
    grouped: int = 0  # records kept in the first split with their near-duplicates

    def to_json(self) -> Json:
        h, mix, outcome, run = self.header, self.mix, self.outcome, self.run
        return {
            "status": self.status,
            "recipe": h.recipe,
            "file": h.file,
            "mix": mix.name,
            "fingerprint": run.fingerprint,
            "seed": h.seed,
            "model": {
                name: {"file": str(m.spec.path), "sha256": m.spec.sha256}
                for name, m in sorted(h.models.items())
            },
            "versions": {"recipec": _version(), **run.versions},
            "format": mix.write_format,
            "targets": dict(mix.targets),
            "counts": dict(sorted(Counter(r.example.origin for r in outcome.records).items())),
            "quotas": [_quota(q, outcome.records) for q in mix.quotas],
            "rejections": dict(sorted(outcome.rejections.items())),
            "skipped_rows": {
                name: [list(s) for s in h.sources[name].skipped]
                for name, _ in mix.real
                if h.sources[name].skipped
            },
            "dropped": {k: outcome.rejections.get(k, 0) for k in DROPS},
            "tokens": run.tokens,
            "generations": run.generations,
            "seconds": round(run.seconds, 2),
            "splits": self.splits,
            "split_grouped": self.grouped,
            "split_order": [name for name, _ in mix.splits],
            "failed_jobs": len(outcome.failed),
            "stopped_early": outcome.stopped,
            "judge": _judge(mix),
            "persona_weights": mix.persona_weights,
            "teacher_params": _model_sizes(h),
            "totals": run.totals,
        }


def split_threshold(mix: MixPlan) -> float:
    """Near-duplicates at this similarity stay in one split: the mix's dedupe threshold, or
    the documented default when the mix has none."""
    if mix.dedupe and mix.dedupe[0] == "near":
        return mix.dedupe[1]
    return DEFAULT_SPLIT_THRESHOLD


def _judge(mix: MixPlan) -> Json | None:
    j = mix.judge
    return None if j is None else {"model": j.model, "rubric": j.rubric, "min": j.min}


def _model_sizes(h: Header) -> dict[str, int]:
    """Each model file's size in bytes: the report warns when the teacher is tiny."""
    sizes = {}
    for name, m in sorted(h.models.items()):
        try:
            sizes[name] = m.spec.path.stat().st_size
        except OSError:
            continue
    return sizes


def _quota(q: Any, records: list[Record]) -> Json:
    got = sum(1 for r in records if r.example.origin == q.origin and q.where in r.provenance.strata)
    return {
        "name": q.text,
        "origin": q.origin,
        "where": q.where,
        q.bound: q.count,
        "wanted": q.count,
        "delivered": got,
    }


Files = dict[str, bytes | Iterable[bytes]]


@dataclass(frozen=True)
class Written:
    """What the write stage hands the output folder, and what the end summary shows."""

    files: Files
    manifest: Json
    warnings: tuple[str, ...]

    @property
    def manifest_bytes(self) -> bytes:
        return orjson.dumps(self.manifest, option=MANIFEST_OPTIONS) + b"\n"


def failed_files(manifest: Manifest) -> Written:
    """A failed build's files: what it accepted and rejected, and a report to read them in."""
    outcome = manifest.outcome
    data = manifest.to_json()
    provenance = [r.provenance.to_json() for r in outcome.records]
    accepted = {"accepted": [r.example for r in outcome.records]}
    report, warnings = _report(data, accepted, provenance, outcome)
    return Written(_internal(accepted, provenance, outcome) | report, data, warnings)


def outputs(header: Header, mix: MixPlan, outcome: Outcome, run: Run, status: str) -> Written:
    """Split, check every record fits the export format; every file of the dataset folder."""
    writer = ds.WRITERS[mix.write_format]
    examples = [r.example for r in outcome.records]
    for ex in examples:
        problem = writer.accepts(ex)
        if problem:
            raise BuildFailed(f"record {ex.id} cannot be written as {writer.name}: {problem}")
    parts = ds.partition(examples, dict(mix.splits), header.seed, split_threshold(mix))
    splits = parts.splits
    counts = {name: len(rows) for name, rows in splits.items()}
    manifest = Manifest(header, mix, outcome, run, counts, status, parts.grouped).to_json()
    # The join key from an exported row to its provenance: the split file and the row's line
    # in it (0-based). Export formats stay exactly what TRL and `datasets` read.
    where = {ex.id: (name, i) for name, rows in splits.items() for i, ex in enumerate(rows)}
    provenance = [
        r.provenance.to_json() | dict(zip(("split", "row"), where[r.example.id], strict=True))
        for r in outcome.records
    ]
    files: Files = {
        f"{name}.jsonl": ds.jsonl_lines(writer.row(ex) for ex in rows)
        for name, rows in splits.items()
    }
    files["provenance.jsonl"] = ds.jsonl_lines(sorted(provenance, key=lambda r: r["id"]))
    files["README.md"] = ds.render_card(manifest, counts).encode("utf-8")
    report, warnings = _report(manifest, splits, provenance, outcome)
    return Written(files | _internal(splits, provenance, outcome) | report, manifest, warnings)


def _internal(
    splits: Mapping[str, list[ds.Example]], provenance: list[Json], outcome: Outcome
) -> Files:
    """What `recipec report` re-renders from: examples by split, provenance, rejected attempts."""
    return {
        ".recipec/examples.jsonl": ds.jsonl_lines(
            {"split": name, **ex.to_dict()} for name, rows in splits.items() for ex in rows
        ),
        ".recipec/provenance.jsonl": ds.jsonl_lines(sorted(provenance, key=lambda r: r["id"])),
        ".recipec/rejected.jsonl": ds.jsonl_lines(r.to_json() for r in outcome.rejected),
    }


def _report(
    manifest: Json,
    splits: Mapping[str, Sequence[ds.Example]],
    provenance: list[Json],
    outcome: Outcome,
) -> tuple[Files, tuple[str, ...]]:
    from recipec.dataset.report import report_files

    rejected = [r.to_json() for r in outcome.rejected]
    files, warnings = report_files(manifest, splits, provenance, rejected)
    return dict(files), tuple(w.message for w in warnings)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recipec")
    except PackageNotFoundError:
        return "unknown"


def rerender_report(outdir: Path) -> None:
    """`recipec report`: the report again from the files a build wrote (failed ones too)."""
    from recipec.dataset.report import read_build

    f = read_build(outdir)
    ds.render_report(f.manifest, f.splits, f.provenance, outdir, f.rejected)
