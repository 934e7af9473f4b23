"""Throughput of the teacher on the demo recipe's jobs: before (one job at a time, cache cleared
per job) vs prefix reuse vs continuous batching; and decode-only speed vs raw low-level decode.

Run: python bench/bench_throughput.py [--jobs 8] [--rounds 3] [--parallel 1,2,4]
Contenders run in interleaved rounds (the order rotates each round); figures are medians.
"before" is the teacher as of commit BEFORE (read with `git show`), loaded beside the new one.
Writes bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import llama_cpp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import recipec  # noqa: E402
from recipec.engine import ModelSpec, default_threads, load_teacher  # noqa: E402
from recipec.engine.batch import Streams, chunk_bounds  # noqa: E402
from recipec.engine.teacher import Generation, Request, Teacher  # noqa: E402

RECIPE = ROOT / "recipes" / "counseling.recipe"
RESULTS = ROOT / "bench" / "results" / "throughput.json"
BEFORE = "2f2d053"  # the last commit that decoded one job at a time from an empty cache
RAW_STEPS = 96  # about the mean output length of a demo record


EXAMPLES = "\n\nExamples of real records:\n"
ANSWER = "\n\nAnswer with"
SETS = 2  # example sets in the shared-first pool


def demo_requests(n: int, round_: int, layout: str = "demo") -> list[Request]:
    """The demo mix's prompts (each job's own and its retry prompts), seeds varied per round.

    layout "shared-first" SIMULATES what the planner could do (it does not today): the few-shot
    block and the answer instruction first, the persona last, and the examples drawn from a
    pool of SETS example sets with jobs grouped by set, so consecutive jobs share a prefix.
    """
    plan = recipec.plan(recipec.check(recipec.parse(RECIPE.relative_to(ROOT))))
    out: list[Request] = []
    for job in plan.jobs("train"):
        for k in range(1 + len(job.retry_prompts)):
            messages = list(job.prompt(k).messages)
            out.append(Request(messages, job.schema, 1000 * round_ + len(out), job.sampling))
    # interleave so that consecutive requests come from different jobs, as a build meets them
    out.sort(key=lambda r: (r.seed % 6, r.seed))
    out = out[:n]
    if layout == "shared-first":
        pool = [_parts(r.messages[-1]["content"])[1] for r in out[:SETS]]
        out = [_shared_first(r, pool[i % SETS]) for i, r in enumerate(out)]
        out.sort(key=lambda r: (r.messages[-1]["content"], r.seed))
    return out


def _parts(user: str) -> tuple[str, str, str]:
    persona, rest = user.split(EXAMPLES)
    examples, answer = rest.split(ANSWER)
    return persona, examples, ANSWER.strip() + answer


def _shared_first(r: Request, examples: str) -> Request:
    persona, _, answer = _parts(r.messages[-1]["content"])
    user = f"{EXAMPLES.strip()}\n{examples}\n\n{answer}\n\n{persona}"
    messages = [*r.messages[:-1], {"role": "user", "content": user}]
    return Request(messages, r.schema, r.seed, r.sampling)


def load_before(spec: ModelSpec) -> Any:
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:recipec/engine/teacher.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "teacher_before.py"
    path.write_text(source)
    module_spec = importlib.util.spec_from_file_location("teacher_before", path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["teacher_before"] = module
    module_spec.loader.exec_module(module)
    return module.load_teacher(spec)


def measure(
    run: Callable[[], tuple[list[Generation], int, float]], requests: list[Request]
) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    gens, evaluated, prefill = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    valid = valid_tokens = 0
    for g, r in zip(gens, requests, strict=True):
        if g.finish == "stop":
            jsonschema.validate(g.value, r.schema)
            valid += 1
            valid_tokens += g.output_tokens
    tokens = sum(g.output_tokens for g in gens)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "valid": valid,
        "records_per_min": 60 * valid / wall,
        "valid_tok_per_s": valid_tokens / wall,
        "prompt_tokens_evaluated_per_record": evaluated / len(gens),
        "decode_only_tok_per_s": tokens / max(wall - prefill, 1e-9),
        "output_tokens": tokens,
        "texts": [g.text for g in gens],  # type: ignore[dict-item]
    }


def before_run(
    old: Any, requests: list[Request]
) -> Callable[[], tuple[list[Generation], int, float]]:
    def run() -> tuple[list[Generation], int, float]:
        gens = [old.generate(r.messages, r.schema, r.seed, r.sampling) for r in requests]
        return gens, sum(g.prompt_tokens for g in gens), float("nan")

    return run


def after_run(
    teacher: Teacher, parallel: int, requests: list[Request]
) -> Callable[[], tuple[list[Generation], int, float]]:
    def run() -> tuple[list[Generation], int, float]:
        teacher.parallel = parallel
        streams = teacher._open_streams()
        evaluated, prefill = streams.evaluated, streams.prefill_seconds
        gens = teacher.generate_many(requests)
        return gens, streams.evaluated - evaluated, streams.prefill_seconds - prefill

    return run


def raw_decode(teacher: Teacher, parallel: int, prompts: list[list[int]]) -> float:
    """Unconstrained decode, one token per sequence per pass, argmax only: tokens per second."""
    streams = Streams(teacher._llm.model, parallel, 1024, default_threads(), 512, teacher._n_vocab)
    try:
        last = [
            streams.prefill(s, prompts[s], chunk_bounds(len(prompts[s]))).copy()
            for s in range(parallel)
        ]
        started = time.perf_counter()
        for _ in range(RAW_STEPS):
            last = streams.step([(s, [int(np.argmax(last[s]))]) for s in range(parallel)])
        return parallel * RAW_STEPS / (time.perf_counter() - started)
    finally:
        streams.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", default="1,2,4")
    parser.add_argument("--layout", choices=["demo", "shared-first"], default="demo")
    args = parser.parse_args()
    widths = [int(x) for x in args.parallel.split(",")]
    os.chdir(ROOT)
    plan = recipec.plan(recipec.check(recipec.parse(RECIPE.relative_to(ROOT))))
    spec = plan.header.models["teacher"].spec
    teacher, old = load_teacher(spec), load_before(spec)
    names = ["before", *(f"after B={b}" for b in widths)]
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        requests = demo_requests(args.jobs, r, args.layout)
        runs = {"before": before_run(old, requests)}
        runs |= {f"after B={b}": after_run(teacher, b, requests) for b in widths}
        order = names[r % len(names) :] + names[: r % len(names)]
        result = {name: measure(runs[name], requests) for name in order}
        prompts = [teacher.prompt_tokens(q.messages) for q in requests]
        for b in widths:
            result[f"raw B={b}"] = {"decode_only_tok_per_s": raw_decode(teacher, b, prompts)}
        same = {name: result[name].pop("texts") for name in order}
        result["identical_after"] = {
            "all": float(len({json.dumps(t) for n, t in same.items() if n != "before"}) == 1)
        }
        rounds.append(result)
        print(
            f"round {r}: "
            + "  ".join(f"{n} {result[n]['records_per_min']:.1f} rec/min" for n in names),
            flush=True,
        )
    report(rounds, names, widths, args)


def median(rounds: list[dict[str, dict[str, float]]], name: str, key: str) -> float:
    return statistics.median(r[name][key] for r in rounds)


def report(
    rounds: list[dict[str, dict[str, float]]], names: list[str], widths: list[int], args: Any
) -> None:
    keys = [
        "records_per_min",
        "valid_tok_per_s",
        "cpu_s",
        "prompt_tokens_evaluated_per_record",
        "decode_only_tok_per_s",
    ]
    base = {k: median(rounds, "before", k) for k in keys}
    print(
        f"{'contender':<12} {'rec/min':>8} {'valid tok/s':>11} {'cpu s':>7} "
        f"{'prompt tok/rec':>14} {'decode tok/s':>12}  ratio rec/min"
    )
    summary: dict[str, Any] = {}
    for name in names:
        m = {k: median(rounds, name, k) for k in keys}
        m["valid"] = median(rounds, name, "valid")
        summary[name] = m
        print(
            f"{name:<12} {m['records_per_min']:>8.1f} {m['valid_tok_per_s']:>11.1f} "
            f"{m['cpu_s']:>7.1f} {m['prompt_tokens_evaluated_per_record']:>14.1f} "
            f"{m['decode_only_tok_per_s']:>12.1f}  "
            f"{m['records_per_min'] / base['records_per_min']:.2f}"
        )
    for b in widths:
        raw = median(rounds, f"raw B={b}", "decode_only_tok_per_s")
        ours = summary[f"after B={b}"]["decode_only_tok_per_s"]
        summary[f"raw B={b}"] = raw
        print(
            f"decode-only B={b}: constrained {ours:.1f} tok/s vs raw {raw:.1f} tok/s "
            f"= {ours / raw:.2f}"
        )
    identical = all(r["identical_after"]["all"] for r in rounds)
    print(f"every 'after' contender gave identical texts in every round: {identical}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = RESULTS if args.layout == "demo" else RESULTS.with_stem(f"throughput-{args.layout}")
    results.write_text(
        json.dumps(
            {
                "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
                "threads": default_threads(),
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
                "llama_cpp_python": llama_cpp.__version__,
                "jobs": args.jobs,
                "layout": args.layout,
                "rounds": rounds,
                "medians": summary,
                "identical_after": identical,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    print(f"wrote {results.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
