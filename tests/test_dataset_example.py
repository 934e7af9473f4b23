"""Example: shapes checked on construction, text() for comparison, a lossless journal form."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipec.dataset import Example, Message

S, U, A = (Message("system", "s"), Message("user", "u"), Message("assistant", "a"))

# kind, messages, chosen, rejected, the problem (None when the shape is valid)
SHAPES = [
    ("chat", (U, A), None, None, None),
    ("chat", (S, U, A), None, None, None),
    ("chat", (S, U, A, U, A), None, None, None),
    ("chat", (), None, None, "chat roles"),
    ("chat", (S,), None, None, "chat roles"),
    ("chat", (U,), None, None, "chat roles"),
    ("chat", (U, A, U), None, None, "chat roles"),
    ("chat", (A, U), None, None, "chat roles"),
    ("chat", (U, U, A), None, None, "chat roles"),
    ("chat", (U, S, A), None, None, "chat roles"),
    ("chat", (Message("tool", "t"), A), None, None, "chat roles"),
    ("chat", (U, A), "c", None, "no chosen or rejected"),
    ("preference", (U,), "c", "r", None),
    ("preference", (S, U), "c", "r", None),
    ("preference", (U, A), "c", "r", "system\\? then one user"),
    ("preference", (U,), "c", None, "both chosen and rejected"),
    ("preference", (), "c", "r", "system\\? then one user"),
    ("completion", (U, A), None, None, "kind must be"),
]


@pytest.mark.parametrize(("kind", "messages", "chosen", "rejected", "problem"), SHAPES)
def test_shapes(kind, messages, chosen, rejected, problem):
    def build() -> Example:
        return Example("x", "o", kind, messages, chosen=chosen, rejected=rejected)

    if problem is None:
        assert build().kind == kind
    else:
        with pytest.raises(ValueError, match=problem):
            build()


def test_text_joins_messages_and_answers():
    example = Example("x", "o", "preference", (S, U), chosen="c", rejected="r")
    assert example.text() == "s\nu\nc\nr"
    assert Example("y", "o", "chat", (U, A)).text() == "u\na"


text = st.text(max_size=30)
examples = st.builds(
    lambda id, origin, system, turns, stratum, synthetic: Example(
        id,
        origin,
        "chat",
        (
            *([Message("system", system)] if system is not None else []),
            *(
                Message(role, content)
                for pair in turns
                for role, content in zip(("user", "assistant"), pair, strict=True)
            ),
        ),
        stratum=stratum,
        synthetic=synthetic,
    ),
    text,
    text,
    st.none() | text,
    st.lists(st.tuples(text, text), min_size=1, max_size=3),
    text,
    st.booleans(),
) | st.builds(
    lambda id, prompt, chosen, rejected: Example(
        id, "prefs", "preference", (Message("user", prompt),), chosen=chosen, rejected=rejected
    ),
    text,
    text,
    text,
    text,
)


@given(examples)
def test_journal_round_trip(example):
    assert Example.from_dict(orjson.loads(orjson.dumps(example.to_dict()))) == example
