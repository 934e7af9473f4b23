"""Generate: (job, attempt) in, a journaled Attempt out; (candidate) in, a journaled Verdict out.

Each generation is a pure function of the job and the attempt number (its seed is derived from
both), so it can be computed in any order, in a batch or on another machine, and a journal entry
is reused whenever its job is unchanged.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recipec.builder.backend import Backend
from recipec.builder.records import Attempt, Candidate, Verdict
from recipec.diagnostics import BuildFailed
from recipec.engine.errors import ModelError, SchemaError
from recipec.engine.spec import Sampling
from recipec.ir import Job, Judge, ModelPlan, derive_seed, dumps
from recipec.journal import Journal

JUDGE_MAX_TOKENS = 16


class Generator:
    """Generations through a backend, each looked up in the journal first and appended after."""

    def __init__(self, backend: Backend, journal: Journal) -> None:
        self.backend, self.journal = backend, journal
        self.tokens: Counter[str] = Counter({"prompt": 0, "output": 0})
        self.counts: Counter[str] = Counter({"new": 0, "reused": 0})
        self.seconds = 0.0  # generation time of every attempt folded, from the journal too

    def attempt(self, job: Job, attempt: int, fp: str) -> Attempt:
        entry = self.journal.get("gen", job.id, str(attempt), fp)
        if entry is not None:
            result = Attempt.from_json(entry)
            self.counts["reused"] += 1
        else:
            result = self._generate(job, attempt, fp)
            self.journal.append(result.to_json())
            self.counts["new"] += 1
        self.tokens["prompt"] += result.prompt_tokens
        self.tokens["output"] += result.output_tokens
        self.seconds += result.seconds
        return result

    def totals(self) -> dict[str, float]:
        """The whole build's generation effort, resumes included (the journal keeps times)."""
        return {
            "seconds": round(self.seconds, 2),
            "prompt_tokens": self.tokens["prompt"],
            "output_tokens": self.tokens["output"],
            "generations": self.counts["new"] + self.counts["reused"],
        }

    def _generate(self, job: Job, attempt: int, fp: str) -> Attempt:
        seed = derive_seed(job.seed, "attempt", attempt)
        with _errors(f"task '{job.task}'", job.model):
            messages = list(job.prompt(attempt).messages)
            gen = self.backend.generate(job.model, messages, job.schema, seed, job.sampling)
        return Attempt(
            job.id,
            attempt,
            fp,
            seed,
            gen.text,
            gen.value,
            gen.finish,
            gen.prompt_tokens,
            gen.output_tokens,
            round(gen.seconds, 4),
        )

    def verdict(self, c: Candidate, judge: Judge, model: ModelPlan) -> Verdict:
        messages = judge_messages(c, judge)
        fp = hashlib.sha256(dumps([messages, model.spec.sha256])).hexdigest()
        entry = self.journal.get("judge", c.job.id, str(c.attempt.attempt), fp)
        if entry is not None:
            return Verdict.from_json(entry)
        seed = derive_seed(c.job.seed, "judge", c.attempt.attempt)
        sampling = Sampling(**{**model.sampling.__dict__, "max_tokens": JUDGE_MAX_TOKENS})
        with _errors(f"judge '{judge.model}'", judge.model):
            gen = self.backend.generate(judge.model, messages, judge_schema(judge), seed, sampling)
        value = gen.value if gen.finish == "stop" else None
        score = value["score"] if isinstance(value, dict) else judge.scale[0]
        verdict = Verdict(
            c.job.id, c.attempt.attempt, fp, score, gen.prompt_tokens, gen.output_tokens
        )
        self.journal.append(verdict.to_json())
        return verdict


def judge_schema(judge: Judge) -> dict[str, Any]:
    lo, hi = judge.scale
    return {
        "type": "object",
        "properties": {"score": {"type": "integer", "minimum": lo, "maximum": hi}},
        "required": ["score"],
        "additionalProperties": False,
    }


def judge_messages(c: Candidate, judge: Judge) -> list[dict[str, str]]:
    ex = c.example
    shown = "\n".join(f"{m.role}: {m.content}" for m in ex.messages)
    if ex.kind == "preference":
        shown += f"\nchosen: {ex.chosen}\nrejected: {ex.rejected}"
    lo, hi = judge.scale
    return [
        {"role": "system", "content": "You are a strict judge of training data quality."},
        {
            "role": "user",
            "content": f"Rubric: {judge.rubric}\n\nRecord:\n{shown}\n\n"
            f"Score the record against the rubric from {lo} (fails) to {hi} (excellent). "
            'Answer with JSON: {"score": N}.',
        },
    ]


@contextmanager
def _errors(what: str, model: str) -> Iterator[None]:
    """Engine failures mid-build become BuildFailed; the journal keeps what was generated."""
    try:
        yield
    except SchemaError as exc:
        raise BuildFailed(f"{what}: the output schema cannot be enforced: {exc.message}") from None
    except ModelError as exc:
        err = exc.named(model)
        raise BuildFailed(err.message, err.hint) from None
