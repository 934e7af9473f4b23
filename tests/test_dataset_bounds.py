"""cut_strings: strings that reached their schema's maxLength are found by path; ends_mid_word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipec.dataset.bounds import cut_strings, ends_mid_word

# Timing varies with the load of a shared machine; example counts stay the default.
NO_DEADLINE = settings(deadline=None)

TURN = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 5, "maxLength": 20},
        "reply": {"type": "string", "maxLength": 10},
        "topic": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
        "free": {"type": "string"},
        "odd key": {"type": "string", "maxLength": 2},
    },
}


def test_strings_at_their_bound_are_reported_by_path():
    value = {
        "message": "The dog has a dog. T",  # 20 of 20
        "reply": "short",
        "topic": "a",
        "tags": ["abc", "ab"],
        "free": "x" * 10_000,
        "odd key": "ok",
    }
    assert cut_strings(value, TURN) == ["$.message", '$["odd key"]', "$.tags[0]"]


def test_turn_lists_report_each_turn():
    schema = {"type": "array", "items": TURN, "minItems": 2, "maxItems": 2}
    value = [{"message": "fine", "reply": "0123456789"}, {"message": "fine", "reply": "ok"}]
    assert cut_strings(value, schema) == ["$[0].reply"]


def test_a_string_one_short_of_its_bound_is_not_cut():
    assert cut_strings({"reply": "012345678"}, TURN) == []
    assert cut_strings("abc", {"type": "string", "maxLength": 3}) == ["$"]


def test_length_counts_code_points_as_json_schema_does():
    assert cut_strings("é" * 3, {"type": "string", "maxLength": 3}) == ["$"]
    assert cut_strings("é" * 2, {"type": "string", "maxLength": 3}) == []


def test_branches_and_tuples_are_followed():
    schema = {
        "prefixItems": [{"type": "string", "maxLength": 2}],
        "items": {"anyOf": [{"type": "string", "maxLength": 4}, {"type": "null"}]},
    }
    assert cut_strings(["ab", "abcd", None, "abc"], schema) == ["$[0]", "$[1]"]


@NO_DEADLINE
@given(st.text(max_size=30), st.integers(1, 30))
def test_reported_exactly_when_the_length_reached_the_bound(text, bound):
    found = cut_strings({"reply": text}, {"properties": {"reply": {"maxLength": bound}}})
    assert found == (["$.reply"] if len(text) >= bound else [])


@pytest.mark.parametrize(
    ("text", "mid_word"),
    [
        ("The dog has a dog. The dog has a d", True),
        ("take control of with your [", False),
        ("We can talk tomorrow.", False),
        ("Try this:", False),
        ("It costs 40", True),
        ("", False),
        ("Call me »", False),
    ],
)
def test_ends_mid_word(text, mid_word):
    assert ends_mid_word(text) is mid_word
