"""Build: a Plan in; per mix, an output folder (dataset splits, manifest, provenance, report) out.

The whole back half at a glance (`build_mix`): real rows first, then the jobs in plan order are
folded by `accept` (each attempt from `generate`, through the mix's `filters`), then `write`
splits and writes. Every generation goes through the journal, so a rerun resumes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from recipec.builder.accept import Outcome, accept
from recipec.builder.backend import Backend, LlamaBackend
from recipec.builder.filters import Filter, filters_for
from recipec.builder.generate import Generator
from recipec.builder.log import Log
from recipec.builder.records import Record, real_record
from recipec.builder.write import Manifest, Run, rerender_report, write_failed, write_outputs
from recipec.diagnostics import BuildFailed
from recipec.ir import Header, Job, MixPlan, Plan, dumps
from recipec.journal import Journal

__all__ = [
    "Backend",
    "BuildFailed",
    "BuildReport",
    "LlamaBackend",
    "Terminated",
    "rerender_report",
    "run_build",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so a build stops the same way: journal intact, resumable."""


@dataclass
class BuildReport:
    outputs: list[Path] = field(default_factory=list)
    exit_code: int = 0


def run_build(
    plan: Plan,
    out: Path | None = None,
    limit: int | None = None,
    threads: int | None = None,
    mix: str | None = None,
    log: Any = None,
    backend: Backend | None = None,
    allow_short: bool = False,
    max_failures: int | None = None,
) -> BuildReport:
    """Build each mix of `plan` (or only `mix`). A job that finds no acceptable record fails
    the build, which stops once `max_failures` jobs have (default 3; 0 never stops early);
    with `allow_short` the records that were accepted are written, marked short."""
    mixes = [m for m in plan.header.mixes if mix is None or m.name == mix]
    if mix is not None and not mixes:
        names = ", ".join(m.name for m in plan.header.mixes)
        raise BuildFailed(f"no mix named '{mix}'", f"mixes: {names}")
    backend = backend or LlamaBackend(plan.header.models, threads)
    report = BuildReport()
    try:
        for m in mixes:
            outdir = out / m.name if out and len(mixes) > 1 else (out or Path(m.write_path))
            stop = max_failures if max_failures is not None else (0 if allow_short else 3)
            build = _MixBuild(plan, m, outdir, backend, log or Log(), limit, allow_short, stop)
            report.outputs.append(build.run())
    except KeyboardInterrupt as exc:
        what, code = ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        raise BuildFailed(
            f"{what}; everything generated so far is kept",
            "rerun the same command to resume",
            code,
        ) from None
    finally:
        backend.close()
    return report


@dataclass
class _MixBuild:
    plan: Plan
    mix: MixPlan
    outdir: Path
    backend: Backend
    log: Any
    limit: int | None
    allow_short: bool
    max_failures: int

    def run(self) -> Path:
        """prepare, generate + accept (one fold), write: the build of one mix."""
        started = time.monotonic()
        header, mix = self.plan.header, self.mix
        total = self._job_count()
        self.log.info(f"building mix '{mix.name}' -> {self.outdir} ({total} generation jobs)")
        self.backend.prepare(mix.models)
        journal = self._open_journal()
        try:
            generator = Generator(self.backend, journal)
            filters = filters_for(header, mix, generator)
            outcome = _with_real_rows(header, mix, filters)
            jobs = generator.prefetch(self._jobs())
            progress = self._progress(total, started, generator)
            accept(jobs, generator, filters, mix.retries, outcome, progress, self.max_failures)
        finally:
            journal.close()
        self._report_stale(journal, outcome)
        run = Run(
            _fingerprint(header, outcome),
            time.monotonic() - started,
            dict(generator.tokens),
            dict(generator.counts),
            self.backend.versions(),
            self.limit is not None,
        )
        short = bool(outcome.failed) and self.allow_short and not outcome.stopped
        if outcome.failed and not short:
            self._fail(outcome, run)
        manifest = write_outputs(self.outdir, header, mix, outcome, run, short)
        self._summary(manifest, generator)
        return self.outdir

    def _jobs(self) -> Iterator[Job]:
        return islice(self.plan.jobs(self.mix.name), self.limit)

    def _job_count(self) -> int:
        real = {name for name, _ in self.mix.real}
        count = sum(n for origin, n in self.mix.targets if origin not in real)
        return count if self.limit is None else min(count, self.limit)

    def _open_journal(self) -> Journal:
        try:
            journal = Journal(self.outdir / ".recipec" / "journal.jsonl")
        except OSError as exc:
            raise BuildFailed(
                f"cannot open the build journal in {self.outdir}: {exc.strerror}"
            ) from None
        held = sum(1 for kind, *_ in journal.entries if kind == "gen")
        if held:
            self.log.info(f"resuming: {held} generation(s) in the journal")
        return journal

    def _report_stale(self, journal: Journal, outcome: Outcome) -> None:
        current = set(outcome.fingerprints)
        stale = sum(1 for kind, _, _, fp in journal.entries if kind == "gen" and fp not in current)
        if stale and self.limit is None:
            self.log.info(
                f"{stale} generation(s) in the journal no longer match the recipe "
                "(changed jobs were regenerated)"
            )

    def _progress(self, total: int, started: float, generator: Generator) -> Any:
        def report(done: int, outcome: Outcome) -> None:
            seconds = time.monotonic() - started
            rejected = sum(outcome.rejections.values())
            self.log.progress(done, total, generator.tokens["output"], seconds, rejected)

        return report

    def _fail(self, outcome: Outcome, run: Run) -> None:
        write_failed(self.outdir, Manifest(self.plan.header, self.mix, outcome, run, {}, "failed"))
        reasons = ", ".join(f"{r}: {c}" for r, c in outcome.rejections.most_common())
        first = (outcome.stopped + "; ") if outcome.stopped else ""
        raise BuildFailed(
            f"{first}{len(outcome.failed)} job(s) found no acceptable record in "
            f"{self.mix.retries + 1} attempts (first: {outcome.failed[0]}); "
            f"rejections so far: {reasons}{_examples(outcome)}",
            f"see {self.outdir / 'report.html'} for the rejected attempts; raise `retries`, "
            "loosen a filter or the output bounds, or use a stronger teacher; "
            "`--allow-short` writes the records that were accepted; rerun resumes",
        )

    def _summary(self, manifest: dict[str, Any], generator: Generator) -> None:
        sizes = ", ".join(f"{name} {n}" for name, n in manifest["splits"].items())
        self.log.info(
            f"wrote {sum(manifest['counts'].values())} records to {self.outdir} ({sizes}); "
            f"{manifest['counts']}; {generator.counts['new']} generated, "
            f"{generator.counts['reused']} reused"
        )


def _examples(outcome: Outcome, width: int = 160) -> str:
    """A rejected text per reason, cut to `width`, for the failure message."""
    shown: dict[str, str] = {}
    for r in outcome.rejected:
        if r.reason not in shown and len(shown) < 3:
            text = " ".join(r.text.split())
            shown[r.reason] = text if len(text) <= width else text[: width - 1] + "…"
    return "".join(f"\n    rejected ({reason}): {text}" for reason, text in shown.items())


def _with_real_rows(header: Header, mix: MixPlan, filters: tuple[Filter, ...]) -> Outcome:
    """An outcome holding the mix's real rows, each remembered by the filters first."""
    outcome = Outcome()
    for name, indexes in mix.real:
        src = header.sources[name]
        assert src.format is not None
        for i in indexes:
            record: Record = real_record(src.rows[i].id, name, src.rows[i].values, src.format)
            for f in filters:
                f.remember(record)
            outcome.records.append(record)
    return outcome


def _fingerprint(header: Header, outcome: Outcome) -> str:
    """sha256 of the plan's header and of every job built: identifies what this build made."""
    digest = hashlib.sha256(dumps(header.to_json()))
    for fp in outcome.fingerprints:
        digest.update(fp.encode())
    return digest.hexdigest()
