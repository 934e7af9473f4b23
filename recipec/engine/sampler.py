"""Logits, an allowed-token mask, Sampling and an RNG in, one token id out (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from recipec.engine.errors import ModelError
from recipec.engine.spec import Sampling

PENALTY_WINDOW = 64
BLOCK = 256
# Top-p looks for its nucleus among tokens within these factors of the best token's weight,
# widening only when they do not hold the mass: usually a sort of a few hundred weights per
# step instead of the whole vocabulary.
NUCLEUS_FLOORS = (1e-3, 1e-6, 1e-12, 0.0)
NON_FINITE_HINT = (
    "the model's weights or header values are damaged (a sha256 taken of the damaged file "
    "matches it all the same): fetch the file again and compare its sha256 with the publisher's"
)

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
Side = Literal["left", "right"]


def allowed_mask(bitmask: npt.NDArray[np.int32], n_vocab: int) -> Mask:
    """An llguidance bitmask (bit i of word i//32 allows token i) as one bool per token."""
    bits = np.unpackbits(bitmask.view(np.uint8), bitorder="little", count=n_vocab)
    return bits.view(np.bool_)


def sample(
    logits: Floats,
    allowed: Mask,
    sampling: Sampling,
    rng: np.random.Generator,
    recent: Sequence[int] = (),
) -> int:
    """Pick an allowed token, filtering in llama.cpp's order: top-k, top-p, min-p, temperature."""
    check_logits(logits)
    scores = np.where(allowed, logits, np.float32(-np.inf))
    if np.isneginf(scores).all():
        raise ModelError(
            "the model gives every token the grammar allows a logit of -infinity", NON_FINITE_HINT
        )
    if sampling.repeat_penalty != 1.0 and recent:
        _penalize(scores, sampling.repeat_penalty, recent)
    if sampling.temperature <= 0:
        return int(np.argmax(scores))
    ids = _top_k(scores, sampling.top_k)
    ids = _top_p(scores, ids, sampling.top_p)
    ids = _min_p(scores, ids, sampling.min_p)
    return _lift(ids, _draw(_sub(scores, ids), sampling.temperature, rng))


def check_logits(logits: Floats) -> None:
    """ModelError for NaN or +infinity: a broken model (-infinity is a plain zero probability)."""
    broken = np.isnan(logits) | np.isposinf(logits)
    if broken.any():
        kinds = "NaN" if np.isnan(logits).any() else "infinity"
        raise ModelError(
            f"the model computed {int(broken.sum())} non-finite logits ({kinds}) "
            f"out of {logits.size}",
            NON_FINITE_HINT,
        )


def _penalize(scores: Floats, penalty: float, recent: Sequence[int]) -> None:
    seen = np.unique(np.asarray(recent[-PENALTY_WINDOW:], dtype=np.intp))
    hits = scores[seen]
    scores[seen] = np.where(hits > 0, hits / penalty, hits * penalty)


def _top_k(scores: Floats, k: int) -> Ids | None:
    """The k best ids (ascending id order), or None for every token."""
    if k <= 0 or k >= scores.size:
        return None
    return np.sort(np.argpartition(-scores, k - 1)[:k])


def _top_p(scores: Floats, ids: Ids | None, p: float) -> Ids | None:
    """The smallest best-first set holding mass p; among equal weights, lower ids first."""
    if p >= 1.0:
        return ids
    sub = _sub(scores, ids)
    weights = np.exp(sub - sub.max())
    target = p * weights.sum(dtype=np.float64)
    for floor in NUCLEUS_FLOORS:
        band = weights[weights >= floor]
        if band.sum(dtype=np.float64) >= target:
            break
    # Sorting values, not indices: fast, and the same result whatever the sort algorithm.
    band = np.sort(band)[::-1]
    k = _crossing(band, target, "left")
    threshold = band[k]
    above = np.flatnonzero(weights > threshold)
    ties = np.flatnonzero(weights == threshold)[: k + 1 - above.size]
    return _lift_all(ids, np.union1d(above, ties))


def _min_p(scores: Floats, ids: Ids | None, p: float) -> Ids | None:
    """Ids whose probability is at least p times the best one's."""
    if p <= 0.0:
        return ids
    sub = _sub(scores, ids)
    return _lift_all(ids, np.flatnonzero(sub >= sub.max() + np.float32(np.log(p))))


def _draw(scores: Floats, temperature: float, rng: np.random.Generator) -> int:
    """An index into `scores`, drawn from their softmax at `temperature`; never a -inf one."""
    weights = np.exp((scores - scores.max()) / np.float32(temperature))
    index = _crossing(weights, rng.random() * weights.sum(dtype=np.float64), "right")
    if weights[index] == 0:  # rounding ran past the last real token: step back to it
        index = int(np.flatnonzero(weights[: index + 1])[-1])
    return index


def _crossing(values: Floats, x: float, side: Side) -> int:
    """The first index where the running sum of `values` passes x (`side` as in searchsorted).

    A running sum over the whole vocabulary is slow (numpy's cumsum is sequential), so this
    sums blocks first and runs the sum only inside the block that crosses.
    """
    pad = -values.size % BLOCK
    blocks = np.concatenate([values, np.zeros(pad, values.dtype)]).reshape(-1, BLOCK)
    ends = np.cumsum(blocks.sum(axis=1, dtype=np.float64))
    j = min(int(np.searchsorted(ends, x, side)), ends.size - 1)
    inside = (ends[j - 1] if j else 0.0) + np.cumsum(blocks[j], dtype=np.float64)
    i = min(int(np.searchsorted(inside, x, side)), BLOCK - 1)
    return min(j * BLOCK + i, values.size - 1)


def _sub(scores: Floats, ids: Ids | None) -> Floats:
    return scores if ids is None else scores[ids]


def _lift(ids: Ids | None, local: int) -> int:
    return local if ids is None else int(ids[local])


def _lift_all(ids: Ids | None, local: Ids) -> Ids:
    return local if ids is None else ids[local]
