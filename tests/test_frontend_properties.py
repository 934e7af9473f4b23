"""Properties of the front end over recipes generated from the grammar itself."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

import recipec
from recipec.checker import check
from recipec.diagnostics import RecipeError
from recipec.fmt import format_module
from recipec.parser import GRAMMAR, parse
from recipec.source import NotText, Source, decode_text

settings.register_profile("deep", max_examples=2000, deadline=None)
settings.register_profile("default", max_examples=150, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_GRAMMAR = Lark(GRAMMAR.read_text(), parser="lalr")
_KEYWORDS = {
    str(t.pattern.value) for t in _GRAMMAR.terminals if t.pattern.type == "str" and t.name.isupper()
} | {"recipe", "model", "source", "at_least", "at_most", "exactly"}


def _spaced(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # Whitespace is insignificant in the language; pad tokens so adjacent ones never merge.
    return strategy.map(lambda s: f" {s} ")


_EXPLICIT = {
    t.name: _spaced(st.just(str(t.pattern.value)))
    for t in _GRAMMAR.terminals
    if t.pattern.type == "str"
}
_EXPLICIT.update(
    {
        "NAME": _spaced(
            st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
                lambda s: s not in _KEYWORDS
            )
        ),
        "SIGNED_NUMBER": _spaced(
            st.from_regex(r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?", fullmatch=True)
        ),
        "STRING": _spaced(st.from_regex(r'"[a-zA-Z0-9 {}.,!?\-]{0,12}"', fullmatch=True)),
        "LONG_STRING": _spaced(
            st.from_regex(r'"""\n[ ]{0,4}[a-z {}.]{0,20}\n[ ]{0,4}"""', fullmatch=True)
        ),
        "COMMENT": st.from_regex(r"#[a-z ]{0,10}", fullmatch=True).map(lambda s: f" {s}\n"),
        "BLOCK_KIND": _spaced(st.sampled_from(["recipe", "model", "source"])),
        "BOUND": _spaced(st.sampled_from(["at_least", "at_most", "exactly"])),
        "COMPARE": _spaced(st.sampled_from(["==", "!=", "<=", ">=", "<", ">"])),
        "OPTIONAL": st.just("?"),
        "WS": st.sampled_from([" ", "\n", "  \n"]),
    }
)
recipes = from_lark(_GRAMMAR, start="start", explicit=_EXPLICIT)
QUICK = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@QUICK
@given(recipes)
def test_generated_recipes_parse(text: str) -> None:
    parse(Source("gen.recipe", text))


@QUICK
@given(recipes)
def test_fmt_is_stable_and_equivalent(text: str) -> None:
    module = parse(Source("gen.recipe", text))
    once = format_module(module)
    again = parse(Source("gen.recipe", once))
    assert again == module
    assert format_module(again) == once


@QUICK
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises_anything_but_diagnostics(text: str) -> None:
    try:
        check(parse(Source("any.recipe", text)))
    except RecipeError as exc:
        assert exc.diagnostics
        assert all(d.span.file == "any.recipe" for d in exc.diagnostics if d.code == "syntax")


@QUICK
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_but_diagnostics(data: bytes) -> None:
    try:
        text = decode_text(data, "bytes.recipe")
        check(parse(Source("bytes.recipe", text)))
    except (RecipeError, NotText):
        pass


def test_planning_is_identical_across_hash_seeds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-m", "recipec.cli", "plan", "--json", "recipes/counseling.recipe"],
            env=env,
            capture_output=True,
            check=True,
        )
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert b'"jobs"' in outputs[0]


def test_public_pipeline_names() -> None:
    for name in ("parse", "check", "plan", "build", "format_recipe"):
        assert callable(getattr(recipec, name))
