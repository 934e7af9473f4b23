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

from recipec.builder.accept import Outcome, accept
from recipec.builder.backend import Backend, LlamaBackend
from recipec.builder.filters import Filter, filters_for
from recipec.builder.generate import Generator
from recipec.builder.records import Attempt, Record, real_record
from recipec.builder.write import Manifest, Run, Written, failed_files, outputs, rerender_report
from recipec.diagnostics import BuildFailed
from recipec.ir import Header, Job, MixPlan, Plan, dumps
from recipec.journal import Journal
from recipec.outdir import OutputFolder, Owner
from recipec.progress import Progress, Summary

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
    progress: Progress | None = None,
    backend: Backend | None = None,
    allow_short: bool = False,
    max_failures: int | None = None,
    replace: bool = False,
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
    shown = progress or Progress()
    try:
        for m in mixes:
            outdir = out / m.name if out and len(mixes) > 1 else (out or Path(m.write_path))
            stop = max_failures if max_failures is not None else (0 if allow_short else 3)
            build = _MixBuild(plan, m, outdir, backend, shown, limit, allow_short, stop, replace)
            report.outputs.append(build.run())
    except KeyboardInterrupt as exc:
        what, code = ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        raise BuildFailed(
            f"{what}; everything generated so far is kept",
            "rerun the same command to resume",
            code,
        ) from None
    finally:
        shown.close()
        backend.close()
    return report


@dataclass
class _MixBuild:
    plan: Plan
    mix: MixPlan
    outdir: Path
    backend: Backend
    progress: Progress
    limit: int | None
    allow_short: bool
    max_failures: int
    replace: bool = False

    def run(self) -> Path:
        """prepare, generate + accept (one fold), write: the build of one mix."""
        with self._folder(limited=self.limit is not None) as folder:
            outcome, generator, run = self.fold(folder, Outcome())
            short = bool(outcome.failed) and self.allow_short and not outcome.stopped
            if outcome.failed and not short:
                failed = failed_files(
                    Manifest(self.plan.header, self.mix, outcome, run, {}, "failed")
                )
                folder.commit(failed.files, failed.manifest_bytes)
                self._fail(outcome)
            status = "short" if short else ("limited" if run.limited else "complete")
            written = outputs(self.plan.header, self.mix, outcome, run, status)
            folder.commit(written.files, written.manifest_bytes)
        self._summary(written, generator, run.seconds)
        return self.outdir

    def _folder(self, limited: bool) -> OutputFolder:
        header = self.plan.header
        owner = Owner(header.recipe, header.file, self.mix.name, _digest(header))
        return OutputFolder(self.outdir, owner, replace=self.replace, limited=limited)

    def fold(self, folder: OutputFolder, outcome: Outcome) -> tuple[Outcome, Generator, Run]:
        """Verify the models, then fold the real rows and the jobs through the filters."""
        started = time.monotonic()
        header, mix = self.plan.header, self.mix
        total = self._job_count()
        self.progress.start(mix.name, self.outdir, total, total)
        self.backend.prepare(mix.models)
        with self._journal(folder) as journal:
            generator = Generator(self.backend, journal)
            filters = filters_for(header, mix, generator)
            _remember_real_rows(header, mix, filters, outcome)
            fold = (generator.prefetch(self._jobs()), generator, filters, mix.retries, outcome)
            accept(*fold, self._on_attempt, self.max_failures)
        self._report_stale(journal, outcome)
        run = Run(
            _fingerprint(header, outcome),
            time.monotonic() - started,
            dict(generator.tokens),
            dict(generator.counts),
            self.backend.versions(),
            self.limit is not None,
            generator.totals(),
        )
        return outcome, generator, run

    def _jobs(self) -> Iterator[Job]:
        return islice(self.plan.jobs(self.mix.name), self.limit)

    def _job_count(self) -> int:
        real = {name for name, _ in self.mix.real}
        count = sum(n for origin, n in self.mix.targets if origin not in real)
        return count if self.limit is None else min(count, self.limit)

    def _journal(self, folder: OutputFolder) -> Journal:
        journal = Journal(folder.journal_path)
        held = sum(1 for kind, *_ in journal.entries if kind == "gen")
        if held:
            self.progress.message(f"resuming: {held} generation(s) in the journal")
        return journal

    def _report_stale(self, journal: Journal, outcome: Outcome) -> None:
        kept = outcome.keys
        stale = sum(1 for kind, _, _, key in journal.entries if kind == "gen" and key not in kept)
        if stale and self.limit is None and outcome.stopped is None:
            self.progress.message(
                f"{stale} generation(s) in the journal no longer match the recipe "
                "(changed jobs were regenerated)"
            )

    def _on_attempt(self, job: Job, attempt: Attempt, reason: str | None, reused: bool) -> None:
        self.progress.attempt(
            reason is None, reason, attempt.output_tokens, reused, job.id, attempt.seconds
        )

    def _fail(self, outcome: Outcome) -> None:
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

    def _summary(self, written: Written, generator: Generator, elapsed: float) -> None:
        m = written.manifest
        self.progress.finish(
            Summary(
                self.outdir,
                m["status"],
                elapsed,
                m["counts"],
                m["splits"],
                generator.counts["new"],
                generator.counts["reused"],
                m["rejections"],
                self.outdir / "report.html",
                written.warnings,
            )
        )


def run_preview(
    plan: Plan,
    count: int,
    mix: str | None = None,
    out: Path | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    backend: Backend | None = None,
) -> tuple[MixPlan, Path, Outcome]:
    """The first `count` jobs of one mix through every filter and the judge, journaled in the
    mix's output folder (a later build reuses them); nothing else is written there."""
    m = next((x for x in plan.header.mixes if mix is None or x.name == mix), None)
    if m is None:
        names = ", ".join(x.name for x in plan.header.mixes)
        raise BuildFailed(f"no mix named '{mix}'", f"mixes: {names}")
    outdir = out or Path(m.write_path)
    backend = backend or LlamaBackend(plan.header.models, threads)
    shown = progress or Progress()
    build = _MixBuild(plan, m, outdir, backend, shown, count, False, 0)
    try:
        with build._folder(limited=False) as folder:
            outcome, _, _ = build.fold(folder, Outcome(sample=None))
    except KeyboardInterrupt:
        raise BuildFailed("interrupted; what was generated is kept", "", 130) from None
    finally:
        shown.close()
        backend.close()
    return m, outdir, outcome


def _examples(outcome: Outcome, width: int = 160) -> str:
    """A rejected text per reason, cut to `width`, for the failure message."""
    shown: dict[str, str] = {}
    for r in outcome.rejected:
        if r.reason not in shown and len(shown) < 3:
            text = " ".join(r.text.split())
            shown[r.reason] = text if len(text) <= width else text[: width - 1] + "…"
    return "".join(f"\n    rejected ({reason}): {text}" for reason, text in shown.items())


def _remember_real_rows(
    header: Header, mix: MixPlan, filters: tuple[Filter, ...], outcome: Outcome
) -> None:
    """The mix's real rows into `outcome`, each remembered by the filters before any job."""
    for name, indexes in mix.real:
        src = header.sources[name]
        assert src.format is not None
        for i in indexes:
            record: Record = real_record(src.rows[i].id, name, src.rows[i].values, src.format)
            for f in filters:
                f.remember(record)
            outcome.records.append(record)


def _digest(header: Header) -> str:
    """sha256 of the plan's header: the owner record's fingerprint, known before any job."""
    return hashlib.sha256(dumps(header.to_json())).hexdigest()


def _fingerprint(header: Header, outcome: Outcome) -> str:
    """sha256 of the plan's header and of every job built: identifies what this build made."""
    digest = hashlib.sha256(dumps(header.to_json()))
    for fp in outcome.fingerprints:
        digest.update(fp.encode())
    return digest.hexdigest()
