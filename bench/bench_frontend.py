"""Front-end benchmark: check and plan time on a generated 5,000-line recipe, and the memory of
streaming a 1,000,000-job plan, against baselines measured in the same run."""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import recipec
from recipec.planner import write_json

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def big_recipe(tasks: int) -> str:
    parts = [f'model teacher {{\n  file   = "{MODEL}"\n  sha256 = "{SHA}"\n}}\n']
    parts.append('persona p {\n  age  = int(18..80)\n  kind = choice("a": 3, "b": 1)\n}\n')
    for i in range(tasks):
        parts.append(
            f"task t{i} {{\n  persona = p\n"
            f'  prompt  = "Person {i} aged {{{{ persona.age }}}}, kind {{{{ persona.kind }}}}."\n'
            f"  output {{\n    q: string(5..80)\n    a: string(5..200)\n    n: int(1..5)\n  }}\n"
            f"  format = chat(user = q, assistant = a)\n}}\n"
        )
    takes = "\n".join(f"  take t{i} 1" for i in range(tasks))
    parts.append(f'mix m {{\n{takes}\n  write "out/bench" as openai_chat\n}}\n')
    return "\n".join(parts)


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def peak_rss_of_plan(jobs: int, folder: Path) -> int:
    recipe = folder / f"huge{jobs}.recipe"
    recipe.write_text(big_recipe(1).replace("take t0 1", f"take t0 {jobs}"))
    code = (
        "import resource, sys, recipec\n"
        "from recipec.planner import write_json\n"
        f"p = recipec.plan(recipec.check(recipec.parse({str(recipe)!r})))\n"
        "write_json(p, open('/dev/null', 'wb'))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = folder / "big.recipe"
        recipe.write_text(big_recipe(450))
        lines = recipe.read_text().count("\n")
        baseline = timed(lambda: recipe.read_text().splitlines())
        check = timed(lambda: recipec.check(recipec.parse(recipe)))
        program = recipec.check(recipec.parse(recipe))
        plan = timed(lambda: write_json(recipec.plan(program), io.BytesIO()))
        rss_small = peak_rss_of_plan(1_000, folder)
        rss_huge = peak_rss_of_plan(1_000_000, folder)
    results = {
        "recipe_lines": lines,
        "check_seconds_median": round(check, 4),
        "plan_json_seconds_median": round(plan, 4),
        "read_lines_baseline_seconds_median": round(baseline, 6),
        "plan_1k_jobs_peak_rss_kib": rss_small,
        "plan_1m_jobs_peak_rss_kib": rss_huge,
        "rss_ratio_1m_over_1k": round(rss_huge / rss_small, 3),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontend.json").write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:40} {value}")


if __name__ == "__main__":
    main()
