"""The numpy sampler against a slow, obvious reference: same candidate sets, right frequencies."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipec.engine.sampler import _min_p, _top_k, _top_p, allowed_mask, sample
from recipec.engine.spec import Sampling

VOCAB = 49152


def _logits(seed: int, spread: float, ties: bool) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal(VOCAB) * spread).astype(np.float32)
    if ties:  # many equal logits, as in flat or quantised outputs
        logits = np.round(logits).astype(np.float32)
    return logits


def reference_top_p(scores: npt.NDArray[np.float32], p: float) -> set[int]:
    weights = np.exp(scores.astype(np.float64) - scores.max())
    order = np.lexsort((np.arange(scores.size), -weights))
    cumulative = np.cumsum(weights[order]) / weights.sum()
    cut = int(np.searchsorted(cumulative, p)) + 1
    return {int(i) for i in order[:cut] if weights[i] > 0}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    spread=st.sampled_from([0.5, 2.0, 6.0, 20.0]),
    ties=st.booleans(),
    p=st.sampled_from([0.1, 0.5, 0.9, 0.95, 0.999]),
)
def test_top_p_matches_the_reference(seed: int, spread: float, ties: bool, p: float) -> None:
    scores = _logits(seed, spread, ties)
    ours = _top_p(scores, None, p)
    assert ours is not None
    expected = reference_top_p(scores, p)
    # Float32 against float64 weights may move the cut by a token of negligible mass.
    assert len(set(ours.tolist()) ^ expected) <= 1


def test_top_k_and_min_p_keep_the_best() -> None:
    scores = _logits(1, 3.0, False)
    kept = _top_k(scores, 40)
    assert kept is not None
    assert set(kept.tolist()) == set(np.argsort(-scores)[:40].tolist())
    probs = np.exp(scores.astype(np.float64) - scores.max())
    min_p = _min_p(scores, None, 0.05)
    assert min_p is not None
    assert set(min_p.tolist()) == set(np.flatnonzero(probs >= 0.05 - 1e-6).tolist())


def test_allowed_mask_reads_llguidance_bit_order() -> None:
    tokens = [0, 31, 32, 1000, VOCAB - 1]
    words = [0] * ((VOCAB + 31) // 32)
    for token in tokens:
        words[token // 32] |= 1 << (token % 32)
    bitmask = np.array(words, dtype=np.uint32).view(np.int32)
    assert np.flatnonzero(allowed_mask(bitmask, VOCAB)).tolist() == tokens


@pytest.mark.parametrize(
    "sampling",
    [
        Sampling(),
        Sampling(top_p=1.0),
        Sampling(top_k=5, min_p=0.1, temperature=1.5),
        Sampling(temperature=0.0),
        Sampling(repeat_penalty=1.3),
    ],
)
def test_only_allowed_tokens_come_out(sampling: Sampling) -> None:
    scores = _logits(2, 4.0, False)
    allowed = np.zeros(VOCAB, dtype=np.bool_)
    allowed[np.random.default_rng(3).choice(VOCAB, 7, replace=False)] = True
    allowed[int(np.argmax(scores))] = False  # the model's favourite is forbidden
    rng = np.random.Generator(np.random.PCG64(4))
    drawn = {sample(scores, allowed, sampling, rng, recent=[1, 2, 3]) for _ in range(300)}
    assert drawn <= set(np.flatnonzero(allowed).tolist())


def test_frequencies_follow_the_softmax() -> None:
    scores = np.full(VOCAB, -np.inf, dtype=np.float32)
    scores[[10, 20, 30]] = np.log([0.2, 0.3, 0.5]).astype(np.float32)
    allowed = np.isfinite(scores)
    rng = np.random.Generator(np.random.PCG64(5))
    draws = [
        sample(scores, allowed, Sampling(top_p=1.0, temperature=1.0), rng) for _ in range(4000)
    ]
    counts = np.array([draws.count(token) for token in (10, 20, 30)]) / len(draws)
    assert np.allclose(counts, [0.2, 0.3, 0.5], atol=0.03)


def test_greedy_takes_the_best_allowed_and_penalty_demotes_recent() -> None:
    scores = np.zeros(VOCAB, dtype=np.float32)
    scores[[5, 6]] = [3.0, 2.9]
    allowed = np.ones(VOCAB, dtype=np.bool_)
    rng = np.random.Generator(np.random.PCG64(0))
    assert sample(scores, allowed, Sampling(temperature=0.0), rng) == 5
    demoted = Sampling(temperature=0.0, repeat_penalty=1.2)
    assert sample(scores, allowed, demoted, rng, recent=[5]) == 6


def test_same_seed_same_tokens() -> None:
    scores = _logits(6, 2.0, False)
    allowed = np.ones(VOCAB, dtype=np.bool_)

    def run() -> list[int]:
        rng = np.random.Generator(np.random.PCG64(123))
        return [sample(scores, allowed, Sampling(), rng) for _ in range(20)]

    assert run() == run()
