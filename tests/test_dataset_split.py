"""split: a stratified partition with largest-remainder sizes, independent of order and hashing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipec.dataset import Example, Message, split

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-9


def example(index: int, origin: str, stratum: str) -> Example:
    turns = (Message("user", f"question {index}"), Message("assistant", f"answer {index}"))
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


@given(example_lists, weights, st.integers(0, 2**32))
def test_every_example_lands_in_exactly_one_split(examples, raw, seed):
    result = split(examples, ratios_from(raw), seed)
    placed = [e.id for members in result.values() for e in members]
    assert sorted(placed) == sorted(e.id for e in examples)
    assert list(result) == list(ratios_from(raw))


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


@given(example_lists, weights, st.integers(0, 2**32))
def test_each_stratum_is_within_one_of_its_share_of_every_split(examples, raw, seed):
    ratios = ratios_from(raw)
    result = split(examples, ratios, seed)
    sizes = Counter((e.origin, e.stratum) for e in examples)
    for name, members in result.items():
        counts = Counter((e.origin, e.stratum) for e in members)
        for key, size in sizes.items():
            assert abs(counts[key] - size * ratios[name]) <= 1 + TOLERANCE


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
