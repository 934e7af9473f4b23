"""Messages + JSON Schema + seed in, schema-valid and reproducible JSON out, on the real teacher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from recipec.engine import (
    Generation,
    ModelError,
    Sampling,
    SchemaError,
    Teacher,
    load_teacher,
)
from recipec.engine.spec import ModelSpec

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [
    {"role": "system", "content": "You answer in JSON only."},
    {"role": "user", "content": "Describe a student who asks a counselor for help."},
]
SHORT = Sampling(max_tokens=96)

settings.register_profile("deep", max_examples=150, deadline=None)
EXAMPLES = (
    settings.get_profile("deep").max_examples
    if os.environ.get("HYPOTHESIS_PROFILE") == "deep"
    else 8
)

PATTERNS = [r"^[A-Z]{3}-\d{2}$", r"^[a-z]+$", r"^\d{4}-\d{2}-\d{2}$", r"^(yes|no)$", r"^\w{2,8}$"]
WORDS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@pytest.fixture(scope="module")
def teacher(teacher_path: Path) -> Iterator[Teacher]:
    with load_teacher(ModelSpec("teacher", teacher_path, None)) as loaded:
        yield loaded


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.integers(0, 12))
    return {"type": "string", "minLength": low, "maxLength": low + draw(st.integers(0, 20))}


@st.composite
def integers(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.integers(-1000, 1000))
    return {"type": "integer", "minimum": low, "maximum": low + draw(st.integers(0, 500))}


@st.composite
def numbers(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.floats(-100, 100, allow_nan=False).map(lambda x: round(x, 2)))
    return {"type": "number", "minimum": low, "maximum": low + draw(st.integers(0, 50))}


LEAVES = st.one_of(
    strings(),
    integers(),
    numbers(),
    st.just({"type": "boolean"}),
    st.lists(WORDS, min_size=1, max_size=4, unique=True).map(lambda words: {"enum": words}),
    st.sampled_from(PATTERNS).map(lambda p: {"type": "string", "pattern": p}),
)


@st.composite
def arrays(draw: st.DrawFn, items: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    low = draw(st.integers(0, 2))
    high = low + draw(st.integers(0, 2))
    return {"type": "array", "items": draw(items), "minItems": low, "maxItems": high}


@st.composite
def objects(draw: st.DrawFn, values: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    names = draw(st.lists(WORDS, min_size=1, max_size=4, unique=True))
    required = [name for name in names if draw(st.booleans())]
    return {
        "type": "object",
        "properties": {name: draw(values) for name in names},
        "required": required,
        "additionalProperties": False,
    }


SCHEMAS = objects(st.recursive(LEAVES, lambda inner: arrays(inner) | objects(inner), max_leaves=6))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(schema=SCHEMAS, seed=st.integers(0, 2**32))
def test_output_validates_against_the_schema(
    teacher: Teacher, schema: dict[str, Any], seed: int
) -> None:
    generation = teacher.generate(MESSAGES, schema, seed, SHORT)
    note(f"{generation.finish}: {generation.text}")
    event(f"finish={generation.finish}")
    assert generation.output_tokens <= SHORT.max_tokens
    if generation.finish == "stop":
        jsonschema.validate(generation.value, schema)
        assert generation.value == json.loads(generation.text)
    else:
        assert generation.finish == "length" and generation.value is None


TICKET = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 20, "maxLength": 120},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
        "topic": {"enum": ["academics", "health"]},
        "tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 3, "maxLength": 20},
            "minItems": 1,
            "maxItems": 3,
        },
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "ok": {"type": "boolean"},
        "code": {"type": "string", "pattern": r"^[A-Z]{3}-\d{2}$"},
    },
    "required": ["message", "urgency", "topic", "tags", "score", "ok", "code"],
    "additionalProperties": False,
}
TICKET_SAMPLING = Sampling(max_tokens=160)


def _ticket(teacher: Teacher, seed: int) -> Generation:
    return teacher.generate(MESSAGES, TICKET, seed, TICKET_SAMPLING)


def test_typical_schema_stops_and_validates(teacher: Teacher) -> None:
    generation = _ticket(teacher, 7)
    assert generation.finish == "stop", generation.text
    jsonschema.validate(generation.value, TICKET)
    assert generation.prompt_tokens == len(teacher.prompt_tokens(MESSAGES))
    assert generation.seconds > 0


def test_same_seed_same_text_whatever_ran_before(teacher: Teacher) -> None:
    first = _ticket(teacher, 11)
    teacher.generate(MESSAGES, {"type": "object"}, 12, SHORT)
    again = _ticket(teacher, 11)
    assert again.text == first.text
    assert again.output_tokens == first.output_tokens


def test_different_seeds_usually_differ(teacher: Teacher) -> None:
    texts = {_ticket(teacher, seed).text for seed in range(20, 24)}
    assert len(texts) >= 3


SUBPROCESS = """
import sys
from pathlib import Path
from recipec.engine import ModelSpec, Sampling, load_teacher
sys.path.insert(0, "tests")
from test_engine_decoding import MESSAGES, TICKET, TICKET_SAMPLING
with load_teacher(ModelSpec("teacher", Path(sys.argv[1]), None)) as teacher:
    sys.stdout.write(teacher.generate(MESSAGES, TICKET, 11, TICKET_SAMPLING).text)
"""


def test_same_seed_same_text_in_another_process(teacher: Teacher, teacher_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, str(teacher_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout == _ticket(teacher, 11).text


def test_integer_range_holds_even_when_hot(teacher: Teacher) -> None:
    schema = {
        "type": "object",
        "properties": {"urgency": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["urgency"],
        "additionalProperties": False,
    }
    hot = Sampling(temperature=2.0, top_p=1.0, max_tokens=16)
    for seed in range(12):
        generation = teacher.generate(MESSAGES, schema, seed, hot)
        assert generation.finish == "stop", generation.text
        assert 1 <= generation.value["urgency"] <= 5


def test_digit_pattern_and_huge_max_length_do_not_crash(teacher: Teacher) -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": r"^\d{3}-[A-Z]\d$"},
            "essay": {"type": "string", "minLength": 1, "maxLength": 2000},
        },
        "required": ["code", "essay"],
        "additionalProperties": False,
    }
    generation = teacher.generate(MESSAGES, schema, 3, Sampling(max_tokens=48))
    assert generation.text.startswith('{"code":"')
    code = generation.text.split('"')[3]
    assert len(code) == 6 and code[:3].isdigit() and code[3] == "-"
    assert generation.finish in ("stop", "length")


def test_top_level_array_of_exactly_n_turns(teacher: Teacher) -> None:
    turn = {
        "type": "object",
        "properties": {
            "role": {"enum": ["student", "counselor"]},
            "text": {"type": "string", "minLength": 5, "maxLength": 60},
        },
        "required": ["role", "text"],
        "additionalProperties": False,
    }
    schema = {"type": "array", "items": turn, "minItems": 3, "maxItems": 3}
    generation = teacher.generate(MESSAGES, schema, 5, Sampling(max_tokens=150))
    assert generation.finish == "stop", generation.text
    jsonschema.validate(generation.value, schema)
    assert len(generation.value) == 3


def test_max_tokens_cuts_with_finish_length(teacher: Teacher) -> None:
    schema = {"type": "object", "properties": {"essay": {"type": "string", "minLength": 500}}}
    generation = teacher.generate(MESSAGES, schema, 1, Sampling(max_tokens=12))
    assert generation.finish == "length"
    assert generation.output_tokens == 12
    assert generation.value is None


def test_greedy_is_seed_independent(teacher: Teacher) -> None:
    greedy = Sampling(temperature=0.0, max_tokens=40)
    texts = {teacher.generate(MESSAGES, TICKET, seed, greedy).text for seed in (1, 2)}
    assert len(texts) == 1


@pytest.mark.parametrize(
    "schema, words",
    [
        ({"type": "array", "uniqueItems": True}, "uniqueItems"),
        ({"not": {"type": "string"}}, "not"),
        ({"type": "strnig"}, "strnig"),
        ({"type": "string", "pattern": "(?<=a)b"}, "look-around"),
    ],
)
def test_unsupported_schema_is_a_schema_error(
    teacher: Teacher, schema: dict[str, Any], words: str
) -> None:
    with pytest.raises(SchemaError, match=words):
        teacher.start(MESSAGES, schema, 0, SHORT)


def test_start_exposes_the_job(teacher: Teacher) -> None:
    job = teacher.start(MESSAGES, TICKET, 0, SHORT)
    assert job.prompt == teacher.prompt_tokens(MESSAGES)
    forced = teacher.tokenizer.decode_str(job.output)
    assert forced and '{"message":"'.startswith(forced)
    assert job.first_tokens() == job.prompt + job.output
    assert not job.done


def test_count_tokens(teacher: Teacher) -> None:
    assert 0 < teacher.count_tokens("Hello, counselor.") < 10


def test_prompt_longer_than_the_context_is_a_model_error(teacher: Teacher) -> None:
    long = [{"role": "user", "content": "counselor " * 3000}]
    with pytest.raises(ModelError, match="more than the context of 2048") as caught:
        teacher.generate(long, TICKET, 0, SHORT)
    assert "context" in caught.value.hint


@pytest.mark.parametrize(
    "template, expected",
    [
        ("chatml", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
        ("{{ bos_token }}{{ messages[0]['content'] }}|", "<|im_start|>Hi|"),
    ],
)
def test_chat_template_override(teacher_path: Path, template: str, expected: str) -> None:
    with load_teacher(ModelSpec("t", teacher_path, None, chat_template=template)) as custom:
        assert custom.template.render([{"role": "user", "content": "Hi"}]) == expected
        prompt = custom.prompt_tokens([{"role": "user", "content": "Hi"}])
        assert custom.tokenizer.decode_str(prompt).endswith(expected[-8:])


def test_broken_chat_template_is_a_model_error(teacher_path: Path) -> None:
    with pytest.raises(ModelError, match="chat template does not compile"):
        load_teacher(ModelSpec("t", teacher_path, None, chat_template="{% for %}"))


def test_failing_chat_template_is_a_model_error(teacher_path: Path) -> None:
    template = "{{ raise_exception('only user turns') }}"
    spec = ModelSpec("t", teacher_path, None, chat_template=template)
    with (
        load_teacher(spec) as custom,
        pytest.raises(ModelError, match="chat template failed: only user turns"),
    ):
        custom.generate(MESSAGES, TICKET, 0, SHORT)
