"""Fuzz: mutated shipped recipes end in a Program, a plan, or diagnostics; never in another
exception, and each within a time bound.

The mutations are those that found tracebacks before (issue 10): deleted, duplicated and swapped
tokens, inserted keywords, huge numbers, template bombs, paths to devices and to files outside
the recipe's folder, long paths and NUL bytes, deep nesting.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import recipec
from recipec.diagnostics import RecipeError
from recipec.source import ALLOW_ENV

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {
    p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "recipes").glob("*.recipe"))
}
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
EXAMPLES = 5_000 if DEEP else 1_000
SECONDS_PER_INPUT = 10.0  # generous: the machine running the suite may be loaded
PLANNED_JOBS = 20  # where check passes, plan this many jobs (a plan can hold a million)

TOKEN = re.compile(r'"""(?:.|\n)*?"""|"(?:\\.|[^"\\\n])*"|#[^\n]*|\s+|\w+|\.\.|==|!=|<=|>=|.')
PUNCTUATION = ["{", "}", "(", ")", "[", "]", "=", ",", ":", "?", "..", "%", "\n", " ", "#", '"']
_WORDS = "take quota balance where if then else not and or in by include recipe model source "
KEYWORDS = [*_WORDS.split(), "persona", "task", "mix", "output", "require", "split", "write"]
KEYWORDS += ["dedupe", "leakage", "judge", "at_least", "exactly", "true", "false"]
LITERALS = ["0", "-1", "1.5", "1e999", "-1e999", "9" * 40, "9223372036854775807", "1" + "0" * 5000]
LITERALS += ['"x"', '""', '"/etc/passwd"', '"/dev/zero"', '"a\\u0000b"', '"' + "p" * 300 + '"']
LITERALS += ['"../private.jsonl"', '"""\n"""', '"{{ persona.nope }}"', '"{{ x|random }}"']
LITERALS += [
    '"{{ (10 ** (10 ** 10)) > 1 }}"',
    "\"{{ ('x' * 10 ** 9) | length }}\"",
    '"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"',
    '"{{ task.__class__ }}"',
    "\"{% include 'x' %}\"",
]
PHRASES = [
    'lines("/dev/zero")',
    'lines("/etc/passwd")',
    'column("/etc/passwd", "x")',
    "split provenance 0.5, README 0.5",
    'on_error = "skip"',
    "take t 9223372036854775807",
    "[" * 120 + "1" + "]" * 120,
    "not " * 150 + "a == 1",
    "if a == 1 then " * 60 + "1" + " else 2" * 60,
    "list(string, 1..100000000)",
    "string(1..999999999)",
    "int(0..9223372036854775807)",
    "normal(mean = 1e308, sd = 1e308, clamp = -1e308..1e308)",
    "choice()",
    "sample(x, 9999999)",
]
INSERTS = PUNCTUATION + KEYWORDS + LITERALS + PHRASES


NUMBERS = ["1e999", "-1e999", "1e308", "9" * 30, "1" + "0" * 5000, "0", "-5", "100000000", "1.0"]
OPS = ["delete", "duplicate", "swap", "insert", "number", "value", "path", "byte"]
PATHS = ['"/' + "m" * 300 + '"', '"' + "m" * 300 + '.jsonl"', '"a\x00b"', '"/dev/zero"']
PATHS += ['"/etc/passwd"', '"../private.jsonl"', '"data"', '"."', '""', '"/"', '"data/../data"']
PATHS += ['"/proc/self/environ"', '"~/x"', '"data/real_sessions.jsonl"', '"data/first_names.txt"']
VALUES = [v for v in INSERTS if v[:1] in '"-0123456789'] + [
    '"""\n    {{ persona.age * 10 ** 9 }}\n    """',
    '"{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"',
    "\"{{ 'x' | center(1000000000) }}\"",
    '"{{ examples[0].nope }}"',
    '"' + "{% if 1 %}" * 150 + "{% endif %}" * 150 + '"',
    '"data/first_names.txt"',
    '"data/real_sessions.jsonl"',
    '"first_names.txt"',
    '"../models/SmolLM2-135M-Instruct.Q4_1.gguf"',
    '"data"',
    '"/proc/self/environ"',
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SHIPPED)))
    tokens = TOKEN.findall(SHIPPED[name])
    for _ in range(draw(st.integers(1, 4))):
        n = len(tokens)
        i = draw(st.integers(0, max(0, n - 1)))
        j = draw(st.integers(i, min(n, i + 8)))
        # Literal swaps keep the text parseable, so they reach the checker and the planner.
        op = draw(st.sampled_from([*OPS, "value", "value", "path", "number"]))
        if op == "delete":
            del tokens[i:j]
        elif op == "duplicate":
            tokens[i:i] = tokens[i:j]
        elif op == "swap" and n > 1:
            k = draw(st.integers(0, n - 1))
            tokens[i], tokens[k] = tokens[k], tokens[i]
        elif op == "insert":
            tokens.insert(i, f" {draw(st.sampled_from(INSERTS))} ")
        elif op == "value":  # a literal replaced by another: the text still parses, mostly
            literals = [k for k, t in enumerate(tokens) if t[:1] == '"' or t.isdigit()]
            if literals:
                tokens[draw(st.sampled_from(literals))] = draw(st.sampled_from(VALUES))
        elif op == "path":  # a string replaced by a path: models, sources, includes, lines()
            strings = [k for k, t in enumerate(tokens) if t[:1] == '"']
            if strings:
                tokens[draw(st.sampled_from(strings))] = draw(st.sampled_from(PATHS))
        elif op == "number":
            numbers = [k for k, t in enumerate(tokens) if t.isdigit()]
            if numbers:
                huge = draw(st.sampled_from(NUMBERS))
                tokens[draw(st.sampled_from(numbers))] = huge
        else:
            text = "".join(tokens)
            at = draw(st.integers(0, len(text)))
            byte = draw(st.sampled_from(["", "\x00", "\ufeff", "\\", '"', "{", "}", "\n", "é"]))
            tokens = TOKEN.findall(text[:at] + byte + text[at + draw(st.integers(0, 2)) :])
    # Past the first 8 KiB a NUL byte no longer makes the file binary: it reaches the strings.
    pad = draw(st.sampled_from(["", "", "# " + "padding " * 1200 + "\n"]))
    return name, pad + "".join(tokens)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of recipes/ (with its data) beside a models link, as a user's checkout has it."""
    base = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "recipes", base / "recipes")
    (base / "models").symlink_to(ROOT / "models")
    (base / "private.jsonl").write_text('{"message": "private"}\n')
    return base / "recipes"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated())
def test_mutated_recipes_end_in_diagnostics(
    case: tuple[str, str], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    name, text = case
    note(repr(text))
    path = folder / f"fuzz_{name}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    started = time.monotonic()
    try:
        program = recipec.check(recipec.parse(path))
        list(itertools.islice(recipec.plan(program).jobs(), PLANNED_JOBS))
        event("planned")
    except RecipeError as exc:
        assert exc.diagnostics, "a RecipeError carries its diagnostics"
        for code in sorted({d.code for d in exc.diagnostics}):
            event(f"diagnostic [{code}]")
        for d in exc.diagnostics:
            assert d.message and "Traceback" not in d.message
    elapsed = time.monotonic() - started
    assert elapsed < SECONDS_PER_INPUT, f"{elapsed:.1f} s for one input"
