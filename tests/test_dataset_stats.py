"""stats: distinct-n, five-number summaries and histograms."""

from __future__ import annotations

import pytest

from recipec.dataset.stats import Summary, distinct_n, histogram, summarize, tally


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
