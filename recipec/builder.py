"""Build: Plan -> output folder (dataset splits, manifest, provenance, report), through a
resumable journal, with validation, dedupe, leakage and judge filters applied per record."""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from recipec import dataset as ds
from recipec import engine
from recipec import program as p
from recipec.diagnostics import BuildFailed
from recipec.journal import Journal
from recipec.planner import Plan, derive_seed, dumps

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": p.JUDGE_SCALE[0], "maximum": p.JUDGE_SCALE[1]}
    },
    "required": ["score"],
    "additionalProperties": False,
}


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
) -> BuildReport:
    mixes = [m for m in plan.program.mixes.values() if mix is None or m.name == mix]
    if mix is not None and not mixes:
        raise BuildFailed(f"no mix named '{mix}'", "mixes: " + ", ".join(plan.program.mixes))
    report = BuildReport()
    teachers = _Teachers(plan.program, threads)
    try:
        for m in mixes:
            outdir = out / m.name if out and len(mixes) > 1 else (out or Path(m.write_path))
            report.outputs.append(_MixBuild(plan, m, outdir, teachers, limit, log or _Log()).run())
    except engine.ModelError as exc:
        # Mid-build model failures (a prompt over the context, a decode error) for the teacher
        # and the judge alike; everything generated so far is in the journal for a rerun.
        raise BuildFailed(exc.message, exc.hint) from None
    except KeyboardInterrupt:
        raise BuildFailed(
            "interrupted; everything generated so far is kept",
            "rerun the same command to resume",
            130,
        ) from None
    finally:
        teachers.close()
    return report


class _Teachers:
    """Loads each model once, verified first, and only when a job needs it."""

    def __init__(self, program: p.Program, threads: int | None):
        self.program, self.threads, self.loaded = program, threads, {}  # type: ignore[var-annotated]
        self.info: dict[str, Any] = {}

    def spec(self, name: str) -> engine.ModelSpec:
        m = self.program.models[name]
        return engine.ModelSpec(
            name,
            Path(m.path),
            m.sha256,
            m.context,
            self.threads or m.threads,
            m.gpu_layers,
            m.chat_template,
            m.batch,
        )

    def get(self, name: str) -> engine.Teacher:
        if name not in self.loaded:
            try:
                teacher = engine.load_teacher(self.spec(name))
            except engine.ModelError as exc:
                err = exc.named(name)
                raise BuildFailed(err.message, err.hint) from None
            self.loaded[name] = teacher
        return self.loaded[name]

    def close(self) -> None:
        for teacher in self.loaded.values():
            teacher.close()


class _Log:
    """Progress on standard error: one updating line on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def info(self, text: str) -> None:
        self._end_line()
        print(text, file=sys.stderr, flush=True)

    def progress(self, done: int, total: int, tokens: int, seconds: float, rejected: int) -> None:
        rate = tokens / seconds if seconds > 0 else 0.0
        eta = (total - done) * seconds / done if done else 0.0
        text = f"  {done}/{total} records, {rate:.0f} tok/s, ETA {eta:.0f}s, {rejected} rejected"
        now = time.monotonic()
        if self.tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
            self.last = -1
        elif done == total or now - self.last > 10:
            print(text, file=sys.stderr, flush=True)
            self.last = now

    def _end_line(self) -> None:
        if self.tty and self.last == -1:
            print(file=sys.stderr)
            self.last = 0.0


def job_fingerprint(job: dict[str, Any]) -> str:
    return hashlib.sha256(dumps(job)).hexdigest()


def _text(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    )


def to_example(
    ident: str, origin: str, value: Any, fmt: p.Format, synthetic: bool, stratum: str
) -> ds.Example:
    """A record's fields, through its format, become a format-neutral training example."""
    system = (ds.Message("system", fmt.system),) if fmt.system else ()
    roles = dict(fmt.roles)
    if fmt.kind == "preference":
        prompt = ds.Message("user", _text(value[roles["prompt"]]))
        return ds.Example(
            ident,
            origin,
            "preference",
            (*system, prompt),
            _text(value[roles["chosen"]]),
            _text(value[roles["rejected"]]),
            stratum,
            synthetic,
        )
    turns = value if isinstance(value, list) else [value]
    messages: list[ds.Message] = list(system)
    for turn in turns:
        if fmt.kind == "instruction":
            user = _text(turn[roles["instruction"]])
            if "input" in roles and turn.get(roles["input"]):
                user += "\n\n" + _text(turn[roles["input"]])
            messages += [
                ds.Message("user", user),
                ds.Message("assistant", _text(turn[roles["response"]])),
            ]
        else:
            messages += [
                ds.Message("user", _text(turn[roles["user"]])),
                ds.Message("assistant", _text(turn[roles["assistant"]])),
            ]
    return ds.Example(ident, origin, "chat", tuple(messages), stratum=stratum, synthetic=synthetic)


class _MixBuild:
    def __init__(
        self,
        plan: Plan,
        mix: p.Mix,
        outdir: Path,
        teachers: _Teachers,
        limit: int | None,
        log: _Log,
    ):
        self.plan, self.mix, self.outdir, self.teachers, self.limit, self.log = (
            plan,
            mix,
            outdir,
            teachers,
            limit,
            log,
        )
        self.program = plan.program
        self.rejections: Counter[str] = Counter()
        self.tokens = Counter({"prompt": 0, "output": 0})
        self.reused = self.generated = 0
        self.examples: list[ds.Example] = []
        self.provenance: list[dict[str, Any]] = []
        self.failed: list[str] = []

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> Path:
        started = time.monotonic()
        # Planned and hashed once: the journal, every job and the manifest use these hashes.
        planned = [(job, job_fingerprint(job)) for job in self.plan.jobs(self.mix.name)]
        self.fingerprint = hashlib.sha256(
            dumps(self.plan.header) + b"".join(fp.encode() for _, fp in planned)
        ).hexdigest()
        jobs = planned[: self.limit]
        self.log.info(
            f"building mix '{self.mix.name}' -> {self.outdir} ({len(jobs)} generation jobs)"
        )
        journal = self._open_journal(jobs)
        self._filters()
        try:
            for done, (job, fp) in enumerate(jobs, start=1):
                self._job(job, fp, journal)
                self.log.progress(
                    done,
                    len(jobs),
                    self.tokens["output"],
                    time.monotonic() - started,
                    sum(self.rejections.values()),
                )
        finally:
            journal.close()
        if self.failed:
            self._write_manifest(time.monotonic() - started, {}, failed=True)
            reasons = ", ".join(f"{r}: {c}" for r, c in self.rejections.most_common())
            raise BuildFailed(
                f"{len(self.failed)} job(s) found no acceptable record in "
                f"{self.mix.retries + 1} attempts (first: {self.failed[0]}); "
                f"rejections so far: {reasons}",
                "raise `retries` in the mix, loosen a filter or the output bounds, or use a "
                "stronger teacher; rerun resumes from the journal",
            )
        return self._finish(time.monotonic() - started)

    def _open_journal(self, jobs: list[tuple[dict[str, Any], str]]) -> Journal:
        try:
            journal = Journal(self.outdir / ".recipec" / "journal.jsonl")
        except OSError as exc:
            raise BuildFailed(
                f"cannot open the build journal in {self.outdir}: {exc.strerror}"
            ) from None
        if journal.entries:
            current = {fp for _, fp in jobs}
            kept = sum(
                1 for e in journal.entries.values() if e["kind"] == "gen" and e["fp"] in current
            )
            stale = sum(1 for e in journal.entries.values() if e["kind"] == "gen") - kept
            self.log.info(
                f"resuming: {kept} generation(s) in the journal are reused"
                + (
                    f"; {stale} no longer match the recipe (changed jobs are regenerated)"
                    if stale
                    else ""
                )
            )
        return journal

    def _filters(self) -> None:
        self.exact = ds.ExactDeduper() if self.mix.dedupe else None
        self.near = (
            ds.NearDeduper(self.mix.dedupe[1])
            if self.mix.dedupe and self.mix.dedupe[0] == "near"
            else None
        )
        self.guards = [
            ds.LeakageGuard(self._real_texts(name), overlap) for name, overlap in self.mix.leakage
        ]
        for take in self.mix.takes:
            if not take.synthetic:
                for ex in self._real_examples(take):
                    self.examples.append(ex)
                    self.provenance.append(
                        {
                            "id": ex.id,
                            "origin": ex.origin,
                            "synthetic": False,
                            "persona": None,
                            "seed": None,
                            "retries": 0,
                            "judge_score": None,
                            "rejections": [],
                        }
                    )
                    self._remember(ex)

    def _real_texts(self, source: str) -> list[tuple[str, str]]:
        src = self.program.sources[source]
        return [
            (f"{source}/{line:06d}", " ".join(_text(v) for v in row.values() if v is not None))
            for row, line in zip(src.rows, src.lines, strict=True)
        ]

    def _real_examples(self, take: p.TakeRule) -> list[ds.Example]:
        src = self.program.sources[take.origin]
        rows = next(m for m in self.plan.header["mixes"] if m["name"] == self.mix.name)["real"][
            take.origin
        ]
        assert src.format is not None
        return [
            to_example(
                f"{src.name}/{src.lines[i]:06d}", src.name, src.rows[i], src.format, False, ""
            )
            for i in rows
        ]

    def _remember(self, ex: ds.Example) -> None:
        if self.exact:
            self.exact.add(ex.id, ex.text())
        if self.near:
            self.near.add(ex.id, ex.text())

    # -- one job ----------------------------------------------------------------------------

    def _job(self, job: dict[str, Any], fp: str, journal: Journal) -> None:
        reasons: list[str] = []
        for attempt in range(self.mix.retries + 1):
            entry = journal.get("gen", job["id"], str(attempt), fp)
            if entry is None:
                entry = self._generate(job, attempt, fp)
                journal.append(entry)
                self.generated += 1
            else:
                self.reused += 1
            self.tokens["prompt"] += entry["prompt_tokens"]
            self.tokens["output"] += entry["output_tokens"]
            example, reason = self._accept(job, entry)
            score = None
            if example is not None and self.mix.judge:
                score = self._judge(job, attempt, example, journal)
                if score < self.mix.judge.min:
                    reason = "judge"
            if reason is None and example is not None:
                self._remember(example)
                self.examples.append(example)
                self.provenance.append(
                    {
                        "id": job["id"],
                        "origin": job["task"],
                        "synthetic": True,
                        "persona": job["persona"],
                        "seed": entry["seed"],
                        "retries": attempt,
                        "judge_score": score,
                        "model": job["model"]["name"],
                        "rejections": reasons,
                        "strata": job["strata"],
                    }
                )
                return
            reasons.append(reason or "unknown")
            self.rejections[reason or "unknown"] += 1
        self.failed.append(job["id"])

    def _generate(self, job: dict[str, Any], attempt: int, fp: str) -> dict[str, Any]:
        teacher = self.teachers.get(job["model"]["name"])
        seed = derive_seed(job["seed"], "attempt", attempt)
        try:
            gen = teacher.generate(
                job["messages"], job["schema"], seed, engine.Sampling(**job["sampling"])
            )
        except engine.SchemaError as exc:
            raise BuildFailed(
                f"task '{job['task']}': the output schema cannot be enforced: {exc}"
            ) from None
        return {
            "kind": "gen",
            "job": job["id"],
            "attempt": attempt,
            "fp": fp,
            "seed": seed,
            "text": gen.text,
            "value": gen.value,
            "finish": gen.finish,
            "prompt_tokens": gen.prompt_tokens,
            "output_tokens": gen.output_tokens,
            "seconds": round(gen.seconds, 4),
        }

    def _accept(
        self, job: dict[str, Any], entry: dict[str, Any]
    ) -> tuple[ds.Example | None, str | None]:
        if entry["finish"] != "stop" or entry["value"] is None:
            return None, "truncated" if entry["finish"] == "length" else "invalid_json"
        if ds.validate(entry["value"], job["schema"]):
            return None, "schema"
        task = self.program.tasks[job["task"]]
        ex = to_example(
            job["id"], task.name, entry["value"], task.format, True, "|".join(job["strata"])
        )
        text = ex.text()
        if self.exact and self.exact.contains(text):
            return None, "exact_duplicate"
        if self.near and self.near.find(text):
            return None, "near_duplicate"
        if any(guard.check(text) for guard in self.guards):
            return None, "leakage"
        return ex, None

    def _judge(self, job: dict[str, Any], attempt: int, ex: ds.Example, journal: Journal) -> int:
        judge = self.mix.judge
        assert judge is not None
        shown = "\n".join(f"{m.role}: {m.content}" for m in ex.messages)
        if ex.kind == "preference":
            shown += f"\nchosen: {ex.chosen}\nrejected: {ex.rejected}"
        lo, hi = p.JUDGE_SCALE
        messages = [
            {"role": "system", "content": "You are a strict judge of training data quality."},
            {
                "role": "user",
                "content": f"Rubric: {judge.rubric}\n\nRecord:\n{shown}\n\n"
                f"Score the record against the rubric from {lo} (fails) to {hi} (excellent). "
                'Answer with JSON: {"score": N}.',
            },
        ]
        model = self.program.models[judge.model]
        fp = hashlib.sha256(dumps([messages, model.sha256])).hexdigest()
        entry = journal.get("judge", job["id"], str(attempt), fp)
        if entry is None:
            seed = derive_seed(job["seed"], "judge", attempt)
            sampling = engine.Sampling(
                model.temperature, model.top_p, model.top_k, model.min_p, model.repeat_penalty, 16
            )
            gen = self.teachers.get(judge.model).generate(messages, JUDGE_SCHEMA, seed, sampling)
            score = (
                gen.value["score"] if gen.finish == "stop" and isinstance(gen.value, dict) else lo
            )
            entry = {
                "kind": "judge",
                "job": job["id"],
                "attempt": attempt,
                "fp": fp,
                "score": score,
                "prompt_tokens": gen.prompt_tokens,
                "output_tokens": gen.output_tokens,
            }
            journal.append(entry)
        return int(entry["score"])

    # -- output -----------------------------------------------------------------------------

    def _finish(self, seconds: float) -> Path:
        writer = ds.WRITERS[self.mix.write_format]
        for ex in self.examples:
            problem = writer.accepts(ex)
            if problem:
                raise BuildFailed(f"record {ex.id} cannot be written as {writer.name}: {problem}")
        splits = ds.split(self.examples, dict(self.mix.splits), self.program.seed)
        try:
            for name, rows in splits.items():
                ds.write_jsonl(self.outdir / f"{name}.jsonl", (writer.row(ex) for ex in rows))
            ds.write_jsonl(
                self.outdir / "provenance.jsonl", sorted(self.provenance, key=lambda r: r["id"])
            )
            ds.write_jsonl(
                self.outdir / ".recipec" / "examples.jsonl",
                ({"split": name, **ex.to_dict()} for name, rows in splits.items() for ex in rows),
            )
            manifest = self._write_manifest(seconds, {k: len(v) for k, v in splits.items()})
            ds.render_report(manifest, splits, self.provenance, self.outdir)
        except OSError as exc:
            raise BuildFailed(
                f"cannot write to {self.outdir}: {exc.strerror}",
                "free some space and rerun; the journal keeps every generated record",
            ) from None
        counts = Counter(ex.origin for ex in self.examples)
        sizes = ", ".join(f"{name} {len(rows)}" for name, rows in splits.items())
        self.log.info(
            f"wrote {len(self.examples)} records to {self.outdir} ({sizes}); "
            f"{dict(sorted(counts.items()))}; {self.generated} generated, {self.reused} reused"
        )
        return self.outdir

    def _write_manifest(
        self, seconds: float, split_counts: dict[str, int], failed: bool = False
    ) -> dict[str, Any]:
        import llama_cpp

        delivered = Counter(ex.origin for ex in self.examples)
        quotas = []
        for q in self.mix.quotas:
            got = sum(
                1
                for row in self.provenance
                if row["origin"] == q.origin
                and row["persona"] is not None
                and p.holds(q.where, {"persona": row["persona"]})
            )
            quotas.append(
                {
                    "name": q.text,
                    "origin": q.origin,
                    "where": p.describe(q.where),
                    q.bound: q.count,
                    "wanted": q.count,
                    "delivered": got,
                }
            )
        dropped = {
            k: self.rejections.get(k, 0)
            for k in ("exact_duplicate", "near_duplicate", "leakage", "judge")
        }
        manifest = {
            "status": "failed" if failed else ("limited" if self.limit else "complete"),
            "recipe": self.program.name,
            "file": self.program.file,
            "mix": self.mix.name,
            "fingerprint": self.fingerprint,
            "seed": self.program.seed,
            "model": {
                name: {"file": m.path, "sha256": m.sha256}
                for name, m in sorted(self.program.models.items())
            },
            "versions": {"recipec": _version(), "llama_cpp_python": llama_cpp.__version__},
            "format": self.mix.write_format,
            "targets": {t.origin: t.count for t in self.mix.takes},
            "counts": dict(sorted(delivered.items())),
            "quotas": quotas,
            "rejections": dict(sorted(self.rejections.items())),
            "skipped_rows": {
                t.origin: [list(s) for s in self.program.sources[t.origin].skipped]
                for t in self.mix.takes
                if not t.synthetic and self.program.sources[t.origin].skipped
            },
            "dropped": dropped,
            "tokens": dict(self.tokens),
            "generations": {"new": self.generated, "reused": self.reused},
            "seconds": round(seconds, 2),
            "splits": split_counts,
            "split_order": [name for name, _ in self.mix.splits],
        }
        self.outdir.mkdir(parents=True, exist_ok=True)
        (self.outdir / "manifest.json").write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
        )
        return manifest


def _version() -> str:
    from recipec import __version__

    return __version__


def rerender_report(outdir: Path) -> None:
    """`recipec report`: the report again from the files a build wrote."""
    try:
        manifest = orjson.loads((outdir / "manifest.json").read_bytes())
        provenance = [
            orjson.loads(line)
            for line in (outdir / "provenance.jsonl").read_bytes().splitlines()
            if line
        ]
    except FileNotFoundError as exc:
        raise BuildFailed(
            f"{outdir} holds no finished build ({Path(exc.filename).name} is missing)"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise BuildFailed(f"{outdir}: a build file is corrupt ({exc})") from None
    # JSON objects are written with sorted keys; the recipe's split order is kept beside them.
    order = manifest.get("split_order") or list(manifest.get("splits", {}))
    splits: dict[str, list[ds.Example]] = {name: [] for name in order}
    for line in (outdir / ".recipec" / "examples.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        splits.setdefault(row.pop("split"), []).append(ds.Example.from_dict(row))
    ds.render_report(manifest, splits, provenance, outdir)
