"""LeakageGuard: planted copies of real records are flagged, unrelated text is not."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipec.dataset import Leak, LeakageGuard

REAL_WORDS = [f"{a}{b}{c}" for a in "bdgkt" for b in "aeiou" for c in "lmnrs"]  # 125 words
OTHER_WORDS = [f"{a}{b}{c}" for a in "fhpvz" for b in "aeiou" for c in "lmnrs"]  # disjoint


def words_from(vocabulary: list[str], seed: int, count: int) -> str:
    return " ".join(random.Random(seed).choices(vocabulary, k=count))


real_corpora = st.lists(
    st.tuples(st.integers(0, 2**32), st.integers(min_value=3, max_value=80)),
    min_size=1,
    max_size=12,
    unique_by=lambda pair: pair[0],
).map(lambda specs: [(f"real-{i}", words_from(REAL_WORDS, s, n)) for i, (s, n) in enumerate(specs)])


def cosmetic(text: str) -> str:
    return text.upper().replace(" ", ",  ") + "."


@given(
    real_corpora,
    st.floats(min_value=0.0, max_value=0.99),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=40),
    st.integers(0, 2**32),
)
def test_every_embedded_real_record_is_flagged(real, max_overlap, before, after, seed):
    guard = LeakageGuard(real, max_overlap=max_overlap)
    for real_id, text in real:
        prefix, suffix = (
            words_from(OTHER_WORDS, seed, before),
            words_from(OTHER_WORDS, ~seed, after),
        )
        leak = guard.check(f"{prefix} {cosmetic(text)} {suffix}")
        assert leak is not None
        assert leak.overlap == 1.0
        # Ties (another record contained too) go to the smallest id, never a later one.
        assert leak.real_id <= real_id


@given(real_corpora, st.integers(0, 2**32), st.integers(min_value=1, max_value=100))
def test_unrelated_text_is_not_flagged_even_at_zero_tolerance(real, seed, length):
    guard = LeakageGuard(real, max_overlap=0.0)
    assert guard.check(words_from(OTHER_WORDS, seed, length)) is None
    assert guard.overlap(words_from(OTHER_WORDS, seed, length)) == 0.0


def test_overlap_is_the_fraction_of_the_texts_ngrams_found_in_one_record():
    real_text = words_from(REAL_WORDS, 1, 40)
    synthetic = " ".join(real_text.split()[:20]) + " " + words_from(OTHER_WORDS, 2, 20)
    guard = LeakageGuard([("r", real_text)], max_overlap=0.5, n=8)
    # 40 words give 33 8-grams; the first 13 lie wholly inside the copied 20 words.
    assert guard.nearest(synthetic) == Leak("r", 13 / 33)
    assert guard.check(synthetic) is None
    assert LeakageGuard([("r", real_text)], max_overlap=0.3).check(synthetic) == Leak("r", 13 / 33)


def test_the_largest_overlap_wins_and_ties_go_to_the_smallest_id():
    text = words_from(REAL_WORDS, 3, 30)
    half = " ".join(text.split()[:15])
    guard = LeakageGuard([("z-full", text), ("b-copy", text), ("a-half", half)], max_overlap=0.2)
    assert guard.check(text) == Leak("a-half", 1.0)  # a-half is contained: also 1.0, smallest id
    guard = LeakageGuard([("z-full", text), ("b-copy", text)], max_overlap=0.2)
    assert guard.check(text) == Leak("b-copy", 1.0)


def test_short_texts_compare_as_one_ngram_of_their_own_length():
    guard = LeakageGuard([("r", "the quick brown fox jumps over the lazy dog")], max_overlap=0.5)
    assert guard.check("Quick brown FOX!") == Leak("r", 1.0)
    assert guard.check("brown quick fox") is None
    short_real = LeakageGuard([("s", "Paris is lovely")], max_overlap=0.5)
    assert short_real.check("they say that paris is lovely in the spring time") == Leak("s", 1.0)


def test_empty_and_punctuation_only_texts_do_not_leak():
    guard = LeakageGuard([("r", "some real words"), ("e", "")], max_overlap=0.0)
    assert guard.check("") is None
    assert guard.check("?!") is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_overlap": 1.5}, "max_overlap"),
        ({"max_overlap": 0.5, "n": 0}, "n must be"),
    ],
)
def test_bad_parameters_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        LeakageGuard([], **arguments)


def test_duplicate_real_ids_are_refused():
    with pytest.raises(ValueError, match="appears twice"):
        LeakageGuard([("r", "a b c"), ("r", "d e f")], max_overlap=0.5)
