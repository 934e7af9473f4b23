"""Leakage guard: real records in, for a synthetic text the real record it copies (or None) out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recipec.dataset.dedupe import normalize

Words = tuple[str, ...]


@dataclass(frozen=True)
class Leak:
    """The real record a synthetic text overlaps most, and the overlap in [0, 1]."""

    real_id: str
    overlap: float


class LeakageGuard:
    """Word n-gram overlap between synthetic texts and a set of real records.

    overlap(text) is the largest fraction of the text's distinct word n-grams that occur in any
    single real record; a text that contains a whole real record verbatim scores 1.0 however
    long it is. A text (or record) shorter than n words is one n-gram of its own length, so a
    short synthetic text found verbatim in a real record, or a short real record found verbatim
    in a synthetic text, also scores 1.0. Ties go to the smallest real id.
    """

    def __init__(self, real: Iterable[tuple[str, str]], max_overlap: float, n: int = 8) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        if not 0.0 <= max_overlap <= 1.0:
            raise ValueError(f"max_overlap must be in [0, 1], not {max_overlap}")
        self.n = n
        self.max_overlap = max_overlap
        self._words: dict[str, Words] = {}
        self._grams: dict[Words, set[str]] = {}
        self._gram_counts: dict[str, int] = {}
        self._postings: dict[str, set[str]] = {}
        self._short_lengths: set[int] = set()
        for real_id, text in real:
            self._add(real_id, text)

    def _add(self, real_id: str, text: str) -> None:
        if real_id in self._words:
            raise ValueError(f"real record id {real_id!r} appears twice")
        words = tuple(normalize(text).split())
        self._words[real_id] = words
        if not words:
            return
        grams = ngrams(words, min(self.n, len(words)))
        if len(words) < self.n:
            self._short_lengths.add(len(words))
        for gram in grams:
            self._grams.setdefault(gram, set()).add(real_id)
        self._gram_counts[real_id] = len(grams)
        for word in set(words):
            self._postings.setdefault(word, set()).add(real_id)

    def check(self, text: str) -> Leak | None:
        """The worst leak if its overlap exceeds max_overlap, else None."""
        leak = self.nearest(text)
        return leak if leak is not None and leak.overlap > self.max_overlap else None

    def overlap(self, text: str) -> float:
        leak = self.nearest(text)
        return 0.0 if leak is None else leak.overlap

    def nearest(self, text: str) -> Leak | None:
        """The real record `text` overlaps most (any overlap above zero), or None."""
        words = tuple(normalize(text).split())
        if not words:
            return None
        scores = self._contained_records(words)
        if len(words) < self.n:
            scores.update(dict.fromkeys(self._records_containing(words), 1.0))
        else:
            scores = self._fractions(words) | scores
        if not scores:
            return None
        real_id, overlap = min(scores.items(), key=lambda item: (-item[1], item[0]))
        return Leak(real_id, overlap)

    def _fractions(self, words: Words) -> dict[str, float]:
        """Per real record, the fraction of the text's n-grams found in it (1.0 if contained)."""
        grams = ngrams(words, self.n)
        hits = Counter(real_id for gram in grams for real_id in self._grams.get(gram, ()))
        scores = {real_id: count / len(grams) for real_id, count in hits.items()}
        for real_id, count in hits.items():
            if count == self._gram_counts[real_id] and contains(words, self._words[real_id]):
                scores[real_id] = 1.0
        return scores

    def _contained_records(self, words: Words) -> dict[str, float]:
        """Real records shorter than n words that occur verbatim in `words`."""
        found: dict[str, float] = {}
        for length in sorted(self._short_lengths):
            if length <= len(words):
                for gram in ngrams(words, length):
                    found.update(dict.fromkeys(self._grams.get(gram, ()), 1.0))
        return found

    def _records_containing(self, words: Words) -> list[str]:
        """Real records that contain the short text `words` verbatim, sorted."""
        postings = sorted((self._postings.get(word, set()) for word in set(words)), key=len)
        candidates = set.intersection(*postings)
        return sorted(i for i in candidates if contains(self._words[i], words))


def ngrams(words: Sequence[str], n: int) -> set[Words]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def contains(haystack: Words, needle: Words) -> bool:
    """Whether `needle` occurs as a contiguous run of words in `haystack`."""
    return f" {' '.join(needle)} " in f" {' '.join(haystack)} "
