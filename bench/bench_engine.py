"""Raw llama-cpp-python chat generation vs Teacher.generate under a JSON Schema, in tokens/s.

Run: .venv/bin/python bench/bench_engine.py [--reps 3] [--profile] [--sampling llama]
Writes bench/results/engine.json (engine-llama.json with --sampling llama). Run nothing else
that uses the CPU meanwhile: llama.cpp's threads collapse when another process takes a core.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jsonschema
import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recipec.engine import JobState, ModelSpec, Sampling, default_threads, load_teacher  # noqa: E402

MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
RESULTS = ROOT / "bench" / "results" / "engine.json"
SYSTEM = "You write realistic messages that students send to a school counselor. Answer in JSON."
PROMPTS = [
    "Write a message from a first-year student who feels homesick.",
    "Write a message from a student who failed a chemistry exam.",
    "Write a message from a student who cannot sleep before finals.",
    "Write a message from a student whose roommate is very loud.",
    "Write a message from a student who wants to change majors.",
    "Write a message from a student worried about paying tuition.",
    "Write a message from a student who was sick for two weeks.",
    "Write a message from a student who feels lonely on campus.",
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 20, "maxLength": 300},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
        "topic": {"enum": ["academics", "health", "housing", "money", "social"]},
        "tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 3, "maxLength": 20},
            "minItems": 1,
            "maxItems": 3,
        },
        "code": {"type": "string", "pattern": r"^[A-Z]{3}-\d{2}$"},
    },
    "required": ["message", "urgency", "topic", "tags", "code"],
    "additionalProperties": False,
}
RAW_MAX_TOKENS = 128
SAMPLINGS = {
    # recipec's defaults; top_k=0 makes llama.cpp's top-p sort the whole vocabulary
    "recipec": Sampling(temperature=0.8, top_p=0.95, top_k=0, min_p=0.0, max_tokens=256),
    # llama-cpp-python's defaults, cheaper for its samplers
    "llama": Sampling(temperature=0.8, top_p=0.95, top_k=40, min_p=0.05, max_tokens=256),
}


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def raw_run(llm: llama_cpp.Llama, sampling: Sampling, seed: int) -> dict[str, float]:
    """Unconstrained chat completions for every prompt, each from an empty cache."""
    tokens, seconds = 0, 0.0
    for i, prompt in enumerate(PROMPTS):
        llm.reset()
        started = time.perf_counter()
        out = llm.create_chat_completion(
            messages(prompt),
            max_tokens=RAW_MAX_TOKENS,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            seed=seed * 100 + i,
        )
        seconds += time.perf_counter() - started
        tokens += out["usage"]["completion_tokens"]  # type: ignore[index]
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


STEPS = {"n": 0}


def _counting(step: Any) -> Any:
    def counted(self: JobState, logits: Any) -> list[int]:
        STEPS["n"] += 1
        return step(self, logits)  # type: ignore[no-any-return]

    return counted


JobState.step = _counting(JobState.step)  # type: ignore[method-assign]


def constrained_run(teacher: Any, sampling: Sampling, seed: int) -> dict[str, float]:
    """Teacher.generate under SCHEMA for every prompt; only schema-valid tokens count as valid."""
    tokens = valid_tokens = valid = 0
    seconds = 0.0
    STEPS["n"] = 0
    for i, prompt in enumerate(PROMPTS):
        generation = teacher.generate(messages(prompt), SCHEMA, seed * 100 + i, sampling)
        seconds += generation.seconds
        tokens += generation.output_tokens
        if generation.finish == "stop":
            jsonschema.validate(generation.value, SCHEMA)
            valid += 1
            valid_tokens += generation.output_tokens
    return {
        "tokens": tokens,
        "sampled_tokens": STEPS["n"],
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "valid_tokens_per_s": valid_tokens / seconds,
        "sampled_tokens_per_s": STEPS["n"] / seconds,
        "valid": valid,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one constrained run")
    parser.add_argument("--sampling", choices=sorted(SAMPLINGS), default="recipec")
    args = parser.parse_args()
    sampling = SAMPLINGS[args.sampling]

    spec = ModelSpec("teacher", MODEL, None)
    threads = default_threads()
    teacher = load_teacher(spec)
    llm = llama_cpp.Llama(
        str(MODEL),
        n_ctx=spec.context,
        n_batch=spec.batch,
        n_threads=threads,
        n_threads_batch=threads,
        seed=0,
        verbose=False,
    )
    raw_run(llm, sampling, 99)  # warm both paths: first calls page the weights in
    constrained_run(teacher, sampling, 99)

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(constrained_run, teacher, sampling, 98)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    reps = []
    for rep in range(args.reps):
        raw = raw_run(llm, sampling, rep)
        reps.append({"raw": raw, "constrained": constrained_run(teacher, sampling, rep)})
    report(reps, threads, args.sampling)


def report(reps: list[dict[str, dict[str, float]]], threads: int, sampling_name: str) -> None:
    print(
        f"{'rep':>3} {'raw tok/s':>10} {'json tok/s':>11} {'valid tok/s':>12} "
        f"{'sampled/s':>10} {'valid':>6}"
    )
    for i, rep in enumerate(reps):
        raw, con = rep["raw"], rep["constrained"]
        print(
            f"{i:>3} {raw['tokens_per_s']:>10.1f} {con['tokens_per_s']:>11.1f} "
            f"{con['valid_tokens_per_s']:>12.1f} {con['sampled_tokens_per_s']:>10.1f} "
            f"{con['valid']:>3.0f}/{len(PROMPTS)}"
        )
    medians = {
        "raw_tokens_per_s": statistics.median(r["raw"]["tokens_per_s"] for r in reps),
        "constrained_tokens_per_s": statistics.median(
            r["constrained"]["tokens_per_s"] for r in reps
        ),
        "constrained_valid_tokens_per_s": statistics.median(
            r["constrained"]["valid_tokens_per_s"] for r in reps
        ),
        "constrained_sampled_tokens_per_s": statistics.median(
            r["constrained"]["sampled_tokens_per_s"] for r in reps
        ),
    }
    ratio = medians["constrained_valid_tokens_per_s"] / medians["raw_tokens_per_s"]
    sampled_ratio = medians["constrained_sampled_tokens_per_s"] / medians["raw_tokens_per_s"]
    print(" ".join(f"{k}={v:.1f}" for k, v in medians.items()))
    print(f"ratio valid/raw = {ratio:.2f}  sampled-only/raw = {sampled_ratio:.2f}  (target 0.8)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = (
        RESULTS if sampling_name == "recipec" else RESULTS.with_stem(f"engine-{sampling_name}")
    )
    results.write_text(
        json.dumps(
            {
                "model": MODEL.name,
                "threads": threads,
                "cpus": os.cpu_count(),
                "llama_cpp_python": llama_cpp.__version__,
                "prompts": len(PROMPTS),
                "raw_max_tokens": RAW_MAX_TOKENS,
                "sampling": asdict(SAMPLINGS[sampling_name]),
                "schema": SCHEMA,
                "reps": reps,
                "medians": medians,
                "ratio": ratio,
                "sampled_ratio": sampled_ratio,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    print(f"wrote {results.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
