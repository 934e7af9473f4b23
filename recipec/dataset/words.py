"""Word tokens for copy detection: text in, casefolded word tuples, n-grams and verbatim runs out.

Case, whitespace and punctuation never matter: text is NFKC-normalised and casefolded,
apostrophes are deleted (so "Don't", "don’t" and "dont" are one word) and every other
character that is not a letter or digit separates words ("ten-minute" is "ten minute").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

Words = tuple[str, ...]

_APOSTROPHES = re.compile(r"['\u2019\u02bc\u2018`]")
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> Words:
    """The text's words: NFKC, casefolded, apostrophes dropped, split at everything else."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return tuple(_WORD.findall(_APOSTROPHES.sub("", folded)))


def ngrams(tokens: Sequence[str], n: int) -> list[Words]:
    """Every run of n consecutive tokens, in order (repeats kept)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


class RunIndex:
    """Texts indexed by word n-grams; answers the longest verbatim run of words shared with one.

    A run is counted only from n words up: shorter shared runs are never reported (0).
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        self.n = n
        self.texts: list[Words] = []
        self._postings: dict[Words, list[tuple[int, int]]] = {}

    def add(self, tokens: Words) -> int:
        """Index `tokens`; return their number in this index."""
        number = len(self.texts)
        self.texts.append(tokens)
        for position, gram in enumerate(ngrams(tokens, self.n)):
            self._postings.setdefault(gram, []).append((number, position))
        return number

    def holders(self, gram: Words) -> list[tuple[int, int]]:
        """(text number, position) of every occurrence of `gram`."""
        return self._postings.get(gram, [])

    def longest_runs(self, tokens: Sequence[str]) -> dict[int, int]:
        """Per indexed text sharing a run of at least n words with `tokens`, the longest run."""
        best: dict[int, int] = {}
        previous: dict[tuple[int, int], int] = {}
        for gram in ngrams(tokens, self.n):
            current = {
                (text, position): previous.get((text, position - 1), 0) + 1
                for text, position in self.holders(gram)
            }
            for (text, _), chain in current.items():
                best[text] = max(best.get(text, 0), chain + self.n - 1)
            previous = current
        return best


def longest_run(tokens: Sequence[str], others: Iterable[Words], n: int = 1) -> int:
    """The longest run of words of `tokens` found verbatim in any of `others` (0 if none)."""
    index = RunIndex(n)
    for other in others:
        index.add(other)
    return max(index.longest_runs(tokens).values(), default=0)
