"""Dedupe: normalization, exact duplicates after cosmetic edits, near ones after a few words."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipec.dataset import ExactDeduper, NearDeduper, normalize

VOCABULARY = [f"{a}{b}{c}" for a in "bcdfg" for b in "aeiou" for c in "klmnprst"]  # 200 words


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Hello,   World!", "hello world"),
        ("  tabs\tand\nnewlines  ", "tabs and newlines"),
        ("ＦＵＬＬ ｗｉｄｔｈ", "full width"),
        ("Straße", "strasse"),
        ("«quoted» — dash… ¿qué?", "quoted dash qué"),
        ("x+y=z $5", "x+y=z $5"),
        ("", ""),
    ],
)
def test_normalize(text, normal):
    assert normalize(text) == normal


def text_of(words: list[str]) -> str:
    return " ".join(words)


def random_text(seed: int) -> str:
    return text_of(random.Random(seed).choices(VOCABULARY, k=60))


# Seeded, not drawn word by word: Hypothesis would otherwise find two "different" texts that
# are one word apart, which are near duplicates by definition.
seeds = st.integers(min_value=0, max_value=2**32)


def cosmetic(text: str, rng: random.Random) -> str:
    """The same words with case, spacing and punctuation changed."""
    words = [w.upper() if rng.random() < 0.3 else w for w in text.split()]
    spaced = [w + rng.choice(["", ",", "!", " ", "\n", "  "]) for w in words]
    return "  " + " ".join(spaced) + "?"


@given(st.lists(seeds, min_size=2, max_size=8, unique=True), st.integers(0, 1000))
def test_exact_duplicates_survive_no_cosmetic_edit(text_seeds, edit_seed):
    originals, rng = [random_text(seed) for seed in text_seeds], random.Random(edit_seed)
    deduper = ExactDeduper()
    for i, text in enumerate(originals):
        assert deduper.add(f"orig-{i}", text) is None
    for i, text in enumerate(originals):
        assert deduper.contains(cosmetic(text, rng)) == f"orig-{i}"
        assert deduper.add(f"copy-{i}", cosmetic(text, rng)) == f"orig-{i}"


def test_exact_deduper_keeps_distinct_texts_and_the_first_holder():
    deduper = ExactDeduper()
    assert deduper.add("a", "The cat sat.") is None
    assert deduper.add("b", "The cat sat on the mat.") is None
    assert deduper.add("c", "the CAT, sat") == "a"
    assert deduper.contains("the dog sat") is None


def perturb(text: str, changes: int, rng: random.Random) -> str:
    """Replace `changes` words with words from outside the vocabulary."""
    words = text.split()
    for position in rng.sample(range(len(words)), changes):
        words[position] = f"changed{position}"
    return text_of(words)


@settings(derandomize=True, max_examples=40)
@given(
    st.lists(seeds, min_size=3, max_size=10, unique=True),
    st.integers(min_value=0, max_value=3),
    st.integers(0, 1000),
)
def test_near_duplicates_are_found_and_different_texts_kept(text_seeds, changes, edit_seed):
    # Three changed words in 60 leave a word-3-shingle Jaccard of at least 49/67 = 0.73.
    originals = [random_text(seed) for seed in text_seeds]
    deduper = NearDeduper(threshold=0.5)
    kept = [i for i, text in enumerate(originals) if deduper.add(f"orig-{i}", text) is None]
    assert kept == list(range(len(originals)))  # random 60-word texts share no 3-shingles
    rng = random.Random(edit_seed)
    for i in kept:
        assert deduper.find(perturb(originals[i], changes, rng)) == f"orig-{i}"


def replaced(words: list[str], positions: range) -> list[str]:
    return [f"new{i}" if i in positions else word for i, word in enumerate(words)]


def test_near_deduper_answers_with_the_closest_candidate_not_the_first():
    base = VOCABULARY[:60]
    deduper = NearDeduper(threshold=0.45)
    assert deduper.add("a", text_of(base)) is None
    assert deduper.add("a-again", text_of(base)) == "a"  # not indexed: "a" stays the holder
    assert deduper.add("b", text_of(replaced(base, range(30)))) is None  # Jaccard about 0.32
    query = text_of(replaced(base, range(15, 30)))  # about 0.59 to b, 0.55 to a
    similarity = {
        name: deduper.signature(query).jaccard(deduper.signature(text))
        for name, text in [("a", text_of(base)), ("b", text_of(replaced(base, range(30))))]
    }
    assert min(similarity.values()) >= 0.45
    assert deduper.find(query) == max(similarity, key=lambda name: similarity[name])


def test_near_deduper_handles_short_texts_with_characters():
    deduper = NearDeduper(threshold=0.5)
    assert deduper.add("short", "What is the capital of France?") is None
    assert deduper.find("what's the capital of France") == "short"
    assert deduper.find("Name three primary colours.") is None
    assert deduper.find("") is None


def test_near_deduper_is_deterministic():
    rng = random.Random(7)
    corpus = [random_text(seed) for seed in range(30)]
    queries = [perturb(text, 4, rng) for text in corpus[::3]]

    def answers() -> list[str | None]:
        deduper = NearDeduper(threshold=0.6, seed=3)
        for i, text in enumerate(corpus):
            deduper.add(f"t{i}", text)
        return [deduper.find(query) for query in queries]

    assert answers() == answers()


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_near_deduper_refuses_thresholds_outside_zero_one(threshold):
    with pytest.raises(ValueError, match="threshold"):
        NearDeduper(threshold)


def test_adding_an_id_twice_is_an_error():
    deduper = NearDeduper(0.8)
    deduper.add("a", "one two three four five six seven eight nine")
    with pytest.raises(ValueError, match="already added"):
        deduper.add("a", "something else entirely, not like the first at all")
