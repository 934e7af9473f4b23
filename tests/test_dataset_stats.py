"""stats: distinct-n, five-number summaries and histograms."""

from __future__ import annotations

import pytest

from recipec.dataset.stats import (
    Summary,
    distinct_n,
    histogram,
    strings_at_bounds,
    summarize,
    tally,
)


@pytest.mark.parametrize(
    ("texts", "n", "expected"),
    [
        (["a b a b"], 1, 2 / 4),
        (["a b a b"], 2, 2 / 3),
        (["A, b.", "a B"], 1, 2 / 4),
        (["one"], 2, 0.0),
        ([], 1, 0.0),
    ],
)
def test_distinct_n(texts, n, expected):
    assert distinct_n(texts, n) == pytest.approx(expected)


def test_summarize():
    assert summarize([]) is None
    assert summarize([5]) == Summary(1, 5, 5, 5, 5)
    assert summarize(range(1, 11)) == Summary(10, 1, 5.5, 9, 10)
    assert summarize([3, 1, 2, 100]) == Summary(4, 1, 2.5, 100, 100)


def test_histogram():
    assert histogram([]) == []
    assert histogram([4, 4]) == [("4", 2)]
    assert histogram([0, 1, 2, 9, 10], bins=3) == [("0-3", 3), ("4-7", 0), ("8-11", 2)]
    assert sum(count for _, count in histogram(list(range(1000)))) == 1000


def test_tally_orders_by_value():
    assert tally([10, 2, 2, 9]) == [("2", 2), ("9", 1), ("10", 1)]


SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 3, "maxLength": 5},
        "reply": {"type": "string", "maxLength": 4},
        "score": {"type": "integer"},
    },
}


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ({"message": "abcde", "reply": "ok", "score": 5}, SCHEMA, ["message at max 5"]),
        ({"message": "abc", "reply": "four"}, SCHEMA, ["message at min 3", "reply at max 4"]),
        ({"message": "abcd", "reply": ""}, SCHEMA, []),
        ({"message": "ébcdé"}, SCHEMA, ["message at max 5"]),  # code points, as JSON Schema
        (
            [{"message": "abcd"}, {"message": "abcde"}],
            {"type": "array", "items": SCHEMA},
            ["[1].message at max 5"],
        ),
        ("xy", {"type": "string", "maxLength": 2}, ["value at max 2"]),
        ({"unknown": "abcde"}, SCHEMA, []),
    ],
)
def test_strings_at_bounds(value, schema, expected):
    assert strings_at_bounds(value, schema) == expected
