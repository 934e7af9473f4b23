"""Mixing logic over random mix rules. The planner runs as is; the build runs with a scripted
stand-in for the teacher (these tests are about counting, filtering and splitting, not about the
model: the real-model build is tests/test_build.py)."""

from __future__ import annotations

import io
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recipec
from recipec.diagnostics import BuildFailed
from recipec.engine import Generation
from recipec.progress import Progress

ROOT = Path(__file__).parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REAL = [
    {
        "q": f"real question number {i} about gardens",
        "a": f"real answer {i}: water the plants early",
    }
    for i in range(8)
]
VALUES = ("a", "b", "c", "d")


@st.composite
def mixes(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    weights = [draw(st.integers(1, 5)) for _ in VALUES]
    quotas = []
    room = n
    for value in VALUES[:-1]:  # the last value stays free, so every mix is satisfiable
        if draw(st.booleans()):
            bound = draw(st.sampled_from(["at_least", "at_most", "exactly"]))
            low = draw(st.integers(0, room)) if bound != "at_most" else 0
            count = low if bound != "at_most" else draw(st.integers(0, n))
            room -= low
            quotas.append((value, bound, count))
    real = draw(st.integers(0, len(REAL)))
    splits = draw(
        st.sampled_from(
            [
                [("train", 1.0)],
                [("train", 0.8), ("eval", 0.2)],
                [("train", 0.5), ("eval", 0.3), ("test", 0.2)],
            ]
        )
    )
    return {"n": n, "weights": weights, "quotas": quotas, "real": real, "splits": splits}


def recipe_text(m: dict[str, Any], data: Path) -> str:
    choice = ", ".join(f'"{v}": {w}' for v, w in zip(VALUES, m["weights"], strict=True))
    quotas = "\n".join(
        f'  quota gen where persona.kind == "{v}" {b} {c}' for v, b, c in m["quotas"]
    )
    take_real = f"  take real {m['real']}\n" if m["real"] else ""
    split = ", ".join(f"{name} {ratio}" for name, ratio in m["splits"])
    return f"""
model teacher {{
  file   = "{MODEL}"
  sha256 = "{SHA}"
}}
source real {{
  file   = "{data}"
  fields = {{ q: string, a: string }}
  format = chat(user = q, assistant = a)
}}
persona p {{
  kind = choice({choice})
}}
task gen {{
  persona = p
  prompt  = "A {{{{ persona.kind }}}} question."
  output {{
    q: string(5..80)
    a: string(5..200)
  }}
  format = chat(user = q, assistant = a)
}}
mix m {{
{take_real}  take gen {m["n"]}
{quotas}
  dedupe near 0.8
  leakage real max_overlap 0.5
  retries = 30
  split {split}
  write "out/m" as openai_chat
}}
"""


def _data(folder: Path) -> Path:
    path = folder / "real.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in REAL))
    return path


def _counts(jobs: list[Any], value: str) -> int:
    return sum(1 for j in jobs if j.persona["kind"] == value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixes())
def test_planned_counts_and_quotas_are_exact(m: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.recipe"
        path.write_text(recipe_text(m, _data(Path(tmp))))
        jobs = list(recipec.plan(recipec.check(recipec.parse(path))).jobs())
    assert len(jobs) == m["n"]
    for value, bound, count in m["quotas"]:
        got = _counts(jobs, value)
        assert {"at_least": got >= count, "at_most": got <= count, "exactly": got == count}[bound]


@dataclass
class ScriptedTeacher:
    """Answers like a teacher that is sometimes wrong: duplicates, copies of real records,
    out-of-schema values and cut-off output, chosen by the seed alone."""

    def generate(
        self, messages: Any, schema: dict[str, Any], seed: int, sampling: Any
    ) -> Generation:
        rng = random.Random(seed)
        roll = rng.random()
        if "score" in schema["properties"]:
            value: Any = {"score": rng.randint(1, 5)}
        elif roll < 0.15:
            value = {
                "q": "the same question every single time",
                "a": "the same answer every single time",
            }
        elif roll < 0.3:
            real = REAL[rng.randrange(len(REAL))]
            value = {"q": real["q"], "a": real["a"]}
        elif roll < 0.4:
            value = {"q": "no", "a": "too short question"}
        elif roll < 0.5:
            return Generation('{"q": "cut', None, 10, 96, "length", 0.0)
        else:
            words = " ".join(
                rng.choice(["moss", "fern", "oak", "ivy", "sage", "rue", "yew"]) for _ in range(6)
            )
            value = {
                "q": f"why {words} {rng.randrange(10**9)}?",
                "a": f"because {words} grow {rng.randrange(10**9)}",
            }
        text = orjson.dumps(value).decode()
        return Generation(text, value, 10, len(text) // 4, "stop", 0.0)

    def close(self) -> None:
        pass


class ScriptedBackend:
    """The build's generation seam, answered by ScriptedTeacher for every model."""

    def prepare(self, models: Any) -> None:
        pass

    def generate(
        self, model: str, messages: Any, schema: dict[str, Any], seed: int, sampling: Any
    ) -> Generation:
        return ScriptedTeacher().generate(messages, schema, seed, sampling)

    def versions(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


def _rows(out: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / name).read_bytes().splitlines()]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mixes())
def test_built_counts_are_exact_after_every_filter(m: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "r.recipe"
        path.write_text(recipe_text(m, _data(folder)))
        out = folder / "out"
        recipec.build(
            recipec.plan(recipec.check(recipec.parse(path))),
            out,
            progress=_quiet(),
            backend=ScriptedBackend(),
        )
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        rows = {name: _rows(out, f"{name}.jsonl") for name, _ in m["splits"]}
        provenance = _rows(out, "provenance.jsonl")
        examples = {e["id"]: e for e in _rows(out, ".recipec/examples.jsonl")}
    # Provenance joins to the exported row by (split, row): the row holds that record's turns.
    for p in provenance:
        exported = rows[p["split"]][p["row"]]
        assert exported["messages"] == examples[p["id"]]["messages"]
    assert manifest["counts"].get("gen", 0) == m["n"]
    assert manifest["counts"].get("real", 0) == m["real"]
    everything = [r for split in rows.values() for r in split]
    assert len(everything) == m["n"] + m["real"]
    # Splits partition the records: no record is in two splits, none is lost.
    keys = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in everything]
    assert len(set(keys)) == len(keys)
    # Planted copies of real records never pass the leakage guard; duplicates appear once.
    synthetic = [p for p in provenance if p["synthetic"]]
    real_users = {r["q"] for r in REAL}
    gen_users = [
        r["messages"][0]["content"]
        for r in everything
        if r["messages"][0]["content"] not in real_users
    ]
    assert len(gen_users) == m["n"]
    assert gen_users.count("the same question every single time") <= 1
    for value, bound, count in m["quotas"]:
        got = sum(1 for p in synthetic if p["persona"]["kind"] == value)
        assert {"at_least": got >= count, "at_most": got <= count, "exactly": got == count}[bound]


def test_unreachable_quota_is_a_clear_failure(tmp_path: Path) -> None:
    m = {"n": 5, "weights": [1, 1, 1, 1], "quotas": [], "real": 0, "splits": [("train", 1.0)]}
    path = tmp_path / "r.recipe"
    path.write_text(
        recipe_text(m, _data(tmp_path))
        .replace("retries = 30", "retries = 0")
        .replace("string(5..80)", "string(200..300)")
    )
    with pytest.raises(BuildFailed) as info:
        recipec.build(
            recipec.plan(recipec.check(recipec.parse(path))),
            tmp_path / "out",
            progress=_quiet(),
            backend=ScriptedBackend(),
        )
    assert "found no acceptable record" in info.value.message
    assert not (tmp_path / "out" / "train.jsonl").exists()
    assert orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())["status"] == "failed"


def _quiet() -> Progress:
    return Progress(stream=io.StringIO(), quiet=True)


def _hopeless(tmp_path: Path, n: int) -> Path:
    """A recipe no job can satisfy: the scripted teacher never writes a 200-character q."""
    m = {"n": n, "weights": [1, 1, 1, 1], "quotas": [], "real": 2, "splits": [("train", 1.0)]}
    path = tmp_path / "r.recipe"
    path.write_text(
        recipe_text(m, _data(tmp_path))
        .replace("retries = 30", "retries = 1")
        .replace("string(5..80)", "string(200..300)")
    )
    return path


def test_a_hopeless_build_stops_early_and_leaves_a_report(tmp_path: Path) -> None:
    plan = recipec.plan(recipec.check(recipec.parse(_hopeless(tmp_path, 40))))
    with pytest.raises(BuildFailed) as info:
        recipec.build(plan, tmp_path / "out", progress=_quiet(), backend=ScriptedBackend())
    assert "stopped early after 3 job(s)" in info.value.message
    assert "rejected (" in info.value.message  # an example of rejected text is shown
    out = tmp_path / "out"
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["status"] == "failed" and manifest["failed_jobs"] == 3
    rejected = _rows(out, ".recipec/rejected.jsonl")
    assert rejected and all(r["reason"] for r in rejected)
    assert (out / "report.html").is_file()


def test_allow_short_writes_what_was_accepted(tmp_path: Path) -> None:
    plan = recipec.plan(recipec.check(recipec.parse(_hopeless(tmp_path, 4))))
    recipec.build(
        plan, tmp_path / "out", progress=_quiet(), backend=ScriptedBackend(), allow_short=True
    )
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest["status"] == "short" and manifest["failed_jobs"] == 4
    assert manifest["counts"] == {"real": 2}
    assert len(_rows(tmp_path / "out", "train.jsonl")) == 2
