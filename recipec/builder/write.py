"""Write: accepted Records in; split files, provenance, a typed Manifest and the report out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from recipec import dataset as ds
from recipec.builder.accept import Outcome
from recipec.builder.records import DROPS, Record
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


@dataclass(frozen=True)
class Manifest:
    """manifest.json: what a build was asked for, what it delivered, and how."""

    header: Header
    mix: MixPlan
    outcome: Outcome
    run: Run
    splits: dict[str, int]
    status: str  # complete | limited | short | failed

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
            "split_order": [name for name, _ in mix.splits],
            "failed_jobs": len(outcome.failed),
            "stopped_early": outcome.stopped,
        }


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


def failed_files(manifest: Manifest) -> tuple[Files, bytes]:
    """A failed build's files: what it accepted and rejected, and a report to read them in."""
    outcome = manifest.outcome
    data = manifest.to_json()
    provenance = [r.provenance.to_json() for r in outcome.records]
    accepted = {"accepted": [r.example for r in outcome.records]}
    files = _internal(accepted, provenance, outcome) | _report(data, accepted, provenance)
    return files, _manifest_bytes(data)


def outputs(
    header: Header, mix: MixPlan, outcome: Outcome, run: Run, status: str
) -> tuple[Files, bytes, Json]:
    """Split, check every record fits the export format; the files, the manifest's bytes and
    the manifest itself."""
    writer = ds.WRITERS[mix.write_format]
    examples = [r.example for r in outcome.records]
    for ex in examples:
        problem = writer.accepts(ex)
        if problem:
            raise BuildFailed(f"record {ex.id} cannot be written as {writer.name}: {problem}")
    splits = ds.split(examples, dict(mix.splits), header.seed)
    counts = {name: len(rows) for name, rows in splits.items()}
    manifest = Manifest(header, mix, outcome, run, counts, status).to_json()
    provenance = [r.provenance.to_json() for r in outcome.records]
    files: Files = {
        f"{name}.jsonl": ds.jsonl_lines(writer.row(ex) for ex in rows)
        for name, rows in splits.items()
    }
    files["provenance.jsonl"] = ds.jsonl_lines(sorted(provenance, key=lambda r: r["id"]))
    files |= _internal(splits, provenance, outcome) | _report(manifest, splits, provenance)
    return files, _manifest_bytes(manifest), manifest


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
    manifest: Json, splits: Mapping[str, Sequence[ds.Example]], provenance: list[Json]
) -> Files:
    from recipec.dataset.report import build_sections, show, to_html, to_markdown

    sections = build_sections(manifest, splits, provenance)
    title = f"recipec report: {show(manifest.get('recipe'))}"
    return {
        "report.md": to_markdown(title, sections).encode("utf-8"),
        "report.html": to_html(title, sections).encode("utf-8"),
    }


def _manifest_bytes(manifest: Json) -> bytes:
    return orjson.dumps(manifest, option=MANIFEST_OPTIONS) + b"\n"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recipec")
    except PackageNotFoundError:
        return "unknown"


def rerender_report(outdir: Path) -> None:
    """`recipec report`: the report again from the files a build wrote."""
    try:
        manifest = orjson.loads((outdir / "manifest.json").read_bytes())
        # Folders from recipec 0.1 hold provenance only beside the splits.
        kept = outdir / ".recipec" / "provenance.jsonl"
        lines = (kept if kept.exists() else outdir / "provenance.jsonl").read_bytes().splitlines()
        provenance = [orjson.loads(line) for line in lines if line]
        examples = (outdir / ".recipec" / "examples.jsonl").read_bytes().splitlines()
    except FileNotFoundError as exc:
        raise BuildFailed(
            f"{outdir} holds no finished build ({Path(exc.filename).name} is missing)"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise BuildFailed(f"{outdir}: a build file is corrupt ({exc})") from None
    # JSON objects are written with sorted keys; the recipe's split order is kept beside them.
    order = manifest.get("split_order") or list(manifest.get("splits", {}))
    splits: dict[str, list[ds.Example]] = {name: [] for name in order}
    for line in examples:
        row = orjson.loads(line)
        splits.setdefault(row.pop("split"), []).append(ds.Example.from_dict(row))
    ds.render_report(manifest, splits, provenance, outdir)
