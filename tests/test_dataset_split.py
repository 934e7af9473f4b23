"""split: a stratified partition with largest-remainder sizes, independent of order and hashing,
and no record of a later split near-duplicating one of the first (measured by tests/audit.py)."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from audit import eval_train_near_dups
from hypothesis import given, settings
from hypothesis import strategies as st

from recipec.dataset import Example, Message, split
from recipec.dataset.split import Partition, near_groups, order_key, partition, similar_pairs

# Timing varies with the load of a shared machine; example counts stay the default.
NO_DEADLINE = settings(deadline=None)

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-9


VOCABULARY = [f"{a}{b}{c}" for a in "bdgkpst" for b in "aeiou" for c in "lmnrsxz"]  # 245 words


def sentence(seed: object, count: int = 10) -> str:
    return " ".join(random.Random(str(seed)).choices(VOCABULARY, k=count))


def example(index: int, origin: str, stratum: str) -> Example:
    """Unrelated texts (random 10-word sentences): no two are near duplicates."""
    turns = (Message("user", sentence(f"q{index}")), Message("assistant", sentence(f"a{index}")))
    return Example(f"ex-{index}", origin, "chat", turns, stratum=stratum)


strata = st.tuples(st.sampled_from(["qa", "chat", "math"]), st.sampled_from(["", "easy", "hard"]))
example_lists = st.lists(strata, max_size=80).map(
    lambda keys: [example(i, origin, stratum) for i, (origin, stratum) in enumerate(keys)]
)
weights = st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=4).filter(any)
names = ["train", "validation", "test", "holdout"]


def ratios_from(raw: list[int]) -> dict[str, float]:
    return {names[i]: weight / sum(raw) for i, weight in enumerate(raw)}


def ids(result: dict[str, list[Example]]) -> dict[str, list[str]]:
    return {name: [e.id for e in members] for name, members in result.items()}


@NO_DEADLINE
@given(example_lists, weights, st.integers(0, 2**32))
def test_every_example_lands_in_exactly_one_split(examples, raw, seed):
    result = split(examples, ratios_from(raw), seed)
    placed = [e.id for members in result.values() for e in members]
    assert sorted(placed) == sorted(e.id for e in examples)
    assert list(result) == list(ratios_from(raw))


@NO_DEADLINE
@given(example_lists, weights, st.integers(0, 2**32))
def test_sizes_are_the_largest_remainder_apportionment(examples, raw, seed):
    ratios = ratios_from(raw)
    sizes = [len(members) for members in split(examples, ratios, seed).values()]
    quotas = [len(examples) * ratio for ratio in ratios.values()]
    assert sum(sizes) == len(examples)
    pairs = list(zip(quotas, sizes, strict=True))
    assert all(math.floor(q + TOLERANCE) <= n <= math.ceil(q - TOLERANCE) for q, n in pairs)
    # No split rounded down had a larger remainder than one rounded up.
    rounded_up = [q % 1 for q, n in pairs if n > q + TOLERANCE]
    rounded_down = [q % 1 for q, n in pairs if n < q - TOLERANCE]
    assert min(rounded_up, default=1.0) >= max(rounded_down, default=0.0) - TOLERANCE


@NO_DEADLINE
@given(example_lists, weights, st.integers(0, 2**32))
def test_each_stratum_is_within_one_of_its_share_of_every_split(examples, raw, seed):
    ratios = ratios_from(raw)
    result = split(examples, ratios, seed)
    sizes = Counter((e.origin, e.stratum) for e in examples)
    for name, members in result.items():
        counts = Counter((e.origin, e.stratum) for e in members)
        for key, size in sizes.items():
            assert abs(counts[key] - size * ratios[name]) <= 1 + TOLERANCE


@NO_DEADLINE
@given(example_lists, weights, st.integers(0, 2**32), st.randoms(use_true_random=False))
def test_result_depends_on_seed_and_content_not_input_order(examples, raw, seed, rng):
    shuffled = list(examples)
    rng.shuffle(shuffled)
    first = ids(split(examples, ratios_from(raw), seed))
    assert ids(split(examples, ratios_from(raw), seed)) == first
    assert ids(split(shuffled, ratios_from(raw), seed)) == first


def test_different_seeds_deal_differently():
    examples = [example(i, "qa", "") for i in range(100)]
    ratios = {"train": 0.8, "test": 0.2}
    assert ids(split(examples, ratios, 1)) != ids(split(examples, ratios, 2))


SCRIPT = """
from recipec.dataset import Example, Message, split
examples = [
    Example(f"ex-{i}", f"origin-{i % 7}", "chat",
            (Message("user", str(i)), Message("assistant", str(i))), stratum=f"s{i % 5}")
    for i in range(300)
]
result = split(examples, {"train": 0.7, "validation": 0.2, "test": 0.1}, seed=42)
ids = {name: [e.id for e in members] for name, members in result.items()}
"""


def test_identical_across_processes_with_different_hash_seeds():
    here: dict[str, Any] = {}
    exec(SCRIPT, here)
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-c", SCRIPT + "import json; print(json.dumps(ids))"]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == here["ids"]
    assert [len(members) for members in here["ids"].values()] == [210, 60, 30]


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ({"train": 0.8, "test": 0.1}, "must sum to 1"),
        ({"train": 0.5, "test": 0.5000001}, "must sum to 1"),
        ({"train": 1.2, "test": -0.2}, ">= 0"),
        ({"train": float("nan"), "test": 1.0}, "finite"),
        ({}, "at least one split"),
    ],
)
def test_bad_ratios_are_refused(ratios, message):
    with pytest.raises(ValueError, match=message):
        split([example(0, "qa", "")], ratios, 0)


def test_ratios_within_a_billionth_of_one_are_accepted():
    result = split([example(i, "qa", "") for i in range(10)], {"a": 0.3, "b": 0.7 + 5e-10}, 0)
    assert [len(members) for members in result.values()] == [3, 7]


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="appears twice"):
        split([example(0, "qa", ""), example(0, "chat", "")], {"train": 1.0}, 0)


def test_empty_input_gives_empty_splits():
    assert split([], {"train": 0.9, "test": 0.1}, 0) == {"train": [], "test": []}


# -- near duplicates stay out of the later splits ---------------------------------------------


def chat(ident: str, user: str, assistant: str, origin: str = "qa") -> Example:
    system = Message("system", "You are a helpful assistant for a campus counseling service.")
    turns = (system, Message("user", user), Message("assistant", assistant))
    return Example(ident, origin, "chat", turns)


def as_record(e: Example) -> dict[str, Any]:
    return e.to_dict()


@st.composite
def planted_duplicates(draw: st.DrawFn) -> list[Example]:
    """Unrelated records, plus copies of some of them: the same question with a new answer,
    the same record re-cased and re-punctuated, or with one word of twenty changed."""
    count = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32))
    examples = [
        chat(f"ex-{i}", sentence((seed, "q", i), 20), sentence((seed, "a", i), 20), f"o{i % 3}")
        for i in range(count)
    ]
    for j, (source, shape) in enumerate(
        draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, 2)), max_size=20))
    ):
        user, assistant = examples[source].messages[1].content, examples[source].messages[2].content
        if shape == 0:
            assistant = sentence((seed, "new", j), 20)
        elif shape == 1:
            user, assistant = user.upper() + "?", assistant.replace(" ", ", ")
        else:
            user = " ".join(user.split()[:-1] + ["changed"])
        examples.append(chat(f"dup-{j}", user, assistant, f"o{j % 3}"))
    return examples


@NO_DEADLINE
@given(planted_duplicates(), weights, st.integers(0, 2**32))
def test_no_later_record_near_duplicates_a_first_split_record(examples, raw, seed):
    ratios = ratios_from(raw)
    result = split(examples, ratios, seed, threshold=0.85)
    first, *later = result.values()
    train = [as_record(e) for e in first]
    for members in later:
        assert eval_train_near_dups(train, [as_record(e) for e in members], 0.85) == []


@NO_DEADLINE
@given(planted_duplicates(), weights, st.integers(0, 2**32))
def test_sizes_stay_exact_while_the_groups_fit_in_the_first_split(examples, raw, seed):
    ratios = ratios_from(raw)
    done = partition(examples, ratios, seed)
    sizes = [len(members) for members in done.splits.values()]
    quotas = [len(examples) * ratio for ratio in ratios.values()]
    assert sum(sizes) == len(examples)
    if done.grouped <= math.floor(quotas[0] + TOLERANCE):
        assert all(abs(q - n) < 1 for q, n in zip(quotas, sizes, strict=True))
    else:
        assert sizes[0] == done.grouped
    first = {e.id for e in next(iter(done.splits.values()))}
    assert all(ident in first for group in done.groups for ident in group)


def test_a_copied_question_with_another_answer_is_kept_with_its_original():
    original = chat(
        "a", "I cannot sleep before my exams and I keep thinking about failing.", "x y z"
    )
    copy = chat(
        "b", "I cannot sleep before my exams and I keep thinking about failing!", "Try this."
    )
    others = [chat(f"o{i}", sentence(("o", i)), sentence(("p", i))) for i in range(8)]
    for seed in range(20):
        done = partition([original, copy, *others], {"train": 0.5, "eval": 0.5}, seed)
        assert done.groups == (tuple(sorted(("a", "b"), key=lambda i: order_key(seed, i))),)
        assert {e.id for e in done.splits["train"]} >= {"a", "b"}
        assert [len(m) for m in done.splits.values()] == [5, 5]


def test_groups_larger_than_the_first_split_grow_it_and_the_rest_keep_their_ratio():
    same = [
        chat(f"s{i}", "The very same question asked again and again by everyone.", f"a{i}")
        for i in range(6)
    ]
    others = [chat(f"o{i}", sentence(("o", i)), sentence(("p", i))) for i in range(4)]
    done = partition([*same, *others], {"train": 0.2, "eval": 0.4, "test": 0.4}, 0)
    assert done.grouped == 6
    assert [len(m) for m in done.splits.values()] == [6, 2, 2]
    assert isinstance(done, Partition)


def test_near_groups_join_transitively():
    a = " ".join(VOCABULARY[:20])
    b = " ".join(VOCABULARY[1:21])  # 17 of a's 18 shingles: J = 17/19 with a
    c = " ".join(VOCABULARY[2:22])  # J = 17/19 with b, 16/20 with a
    examples = [chat("a", a, "1"), chat("b", b, "2"), chat("c", c, "3"), chat("d", "other", "4")]
    assert [sorted(g) for g in near_groups(examples, 0.85)] == [["a", "b", "c"]]


@NO_DEADLINE
@given(
    st.lists(
        st.frozensets(st.integers(0, 12).map(lambda i: bytes([i])), min_size=1, max_size=8),
        max_size=25,
    ),
    st.sampled_from([0.1, 0.3, 0.5, 0.75, 0.85, 0.9, 1.0]),
)
def test_similar_pairs_is_exactly_the_brute_force_join(sets, threshold):
    expected = [
        (i, j)
        for j in range(len(sets))
        for i in range(j)
        if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= threshold
    ]
    assert sorted(similar_pairs(sets, threshold)) == sorted(expected)


def test_a_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="threshold"):
        split([example(0, "qa", "")], {"train": 1.0}, 0, threshold=0.0)
