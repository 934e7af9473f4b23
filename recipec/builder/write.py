"""Write: accepted Records in; split files, provenance, a typed Manifest and the report out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


def write_failed(outdir: Path, manifest: Manifest) -> None:
    """A failed build: its manifest, what it accepted and rejected, and a report to read."""
    outcome = manifest.outcome
    examples = [r.example for r in outcome.records]
    provenance = [r.provenance.to_json() for r in outcome.records]
    data = manifest.to_json()
    with _writing(outdir):
        outdir.mkdir(parents=True, exist_ok=True)
        _write_internal(outdir, {"accepted": examples}, provenance, outcome)
        _write_manifest(outdir, data)
        ds.render_report(data, {"accepted": examples}, provenance, outdir)


def write_outputs(
    outdir: Path, header: Header, mix: MixPlan, outcome: Outcome, run: Run, short: bool = False
) -> Json:
    """Split, check every record fits the export format, write every file; the manifest."""
    writer = ds.WRITERS[mix.write_format]
    examples = [r.example for r in outcome.records]
    for ex in examples:
        problem = writer.accepts(ex)
        if problem:
            raise BuildFailed(f"record {ex.id} cannot be written as {writer.name}: {problem}")
    splits = ds.split(examples, dict(mix.splits), header.seed)
    counts = {name: len(rows) for name, rows in splits.items()}
    status = "short" if short else ("limited" if run.limited else "complete")
    manifest = Manifest(header, mix, outcome, run, counts, status).to_json()
    provenance = [r.provenance.to_json() for r in outcome.records]
    with _writing(outdir):
        for name, rows in splits.items():
            ds.write_jsonl(outdir / f"{name}.jsonl", (writer.row(ex) for ex in rows))
        ds.write_jsonl(outdir / "provenance.jsonl", sorted(provenance, key=lambda r: r["id"]))
        _write_internal(outdir, splits, provenance, outcome)
        _write_manifest(outdir, manifest)
        ds.render_report(manifest, splits, provenance, outdir)
    return manifest


def _write_internal(
    outdir: Path, splits: Mapping[str, list[ds.Example]], provenance: list[Json], outcome: Outcome
) -> None:
    """What `recipec report` re-renders from: examples by split, provenance, rejected attempts."""
    internal = outdir / ".recipec"
    internal.mkdir(parents=True, exist_ok=True)
    ds.write_jsonl(
        internal / "examples.jsonl",
        ({"split": name, **ex.to_dict()} for name, rows in splits.items() for ex in rows),
    )
    ds.write_jsonl(internal / "provenance.jsonl", sorted(provenance, key=lambda r: r["id"]))
    ds.write_jsonl(internal / "rejected.jsonl", (r.to_json() for r in outcome.rejected))


@contextmanager
def _writing(outdir: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        where = exc.filename or outdir
        raise BuildFailed(
            f"cannot write {where}: {exc.strerror or exc}",
            "free some space (or fix the folder's permissions) and rerun the same command; "
            "the journal keeps every generated record",
        ) from None


def _write_manifest(outdir: Path, manifest: Json) -> None:
    (outdir / "manifest.json").write_bytes(orjson.dumps(manifest, option=MANIFEST_OPTIONS) + b"\n")


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
