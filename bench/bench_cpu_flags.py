"""Two llama-cpp-python builds in (folders holding a `llama_cpp` package: native and portable),
tokens per second of each on the default teacher out, and their ratio, measured in one run.

    python bench/bench_cpu_flags.py NATIVE_SITE PORTABLE_SITE [--rounds 3]

Each measurement runs in a fresh process with that build first on the path; the builds take
turns (ABAB...) so load from other processes falls on both alike; the median round counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT_TOKENS, DECODE_TOKENS = 128, 64

MEASURE = """
import json, os, sys, time, llama_cpp
threads = int(os.environ.get("RECIPEC_THREADS", "1"))
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=512, n_threads=threads,
                      n_threads_batch=threads, verbose=False)
prompt = (llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 40))[:PROMPT]
start = time.perf_counter(); llm.eval(prompt); prefill = time.perf_counter() - start
token = prompt[-1]
start = time.perf_counter()
for _ in range(DECODE):
    llm.eval([token])
decode = time.perf_counter() - start
print(json.dumps({"prefill": len(prompt) / prefill, "decode": DECODE / decode}))
"""


def measure(site: Path) -> dict[str, float]:
    code = MEASURE.replace("PROMPT", str(PROMPT_TOKENS)).replace("DECODE", str(DECODE_TOKENS))
    env = dict(os.environ, PYTHONPATH=str(site))
    done = subprocess.run(
        [sys.executable, "-c", code, str(MODEL)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        sys.exit(f"{site}: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("native", type=Path)
    parser.add_argument("portable", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"native": [], "portable": []}
    for _ in range(args.rounds):
        runs["native"].append(measure(args.native))
        runs["portable"].append(measure(args.portable))
    for phase in ("prefill", "decode"):
        native = statistics.median(r[phase] for r in runs["native"])
        portable = statistics.median(r[phase] for r in runs["portable"])
        print(
            f"{phase:8} native {native:7.1f} tok/s  portable {portable:7.1f} tok/s  "
            f"portable/native {portable / native:.2f}"
        )
    print(f"threads {os.environ.get('RECIPEC_THREADS', '1')}, {args.rounds} rounds, median")


if __name__ == "__main__":
    main()
