"""Duplicate detection: texts in, the id of an earlier exact or near duplicate (or None) out."""

from __future__ import annotations

import hashlib
import unicodedata

from datasketch import MinHash, MinHashLSH

SHINGLE_WORDS = 3
# Below this many words, word 3-shingles are too few to estimate Jaccard: use characters.
SHORT_TEXT_WORDS = 8
SHINGLE_CHARS = 4
# Named, not defaulted: a signature must not change when datasketch changes its default scheme.
MINHASH_SCHEME = "affine32"
# Every LSH candidate is verified against its signature, so a false positive costs one
# comparison while a false negative keeps a duplicate: weight the banding towards recall
# (about 95% of pairs at the threshold, over 99.8% at 0.1 above it, instead of about 40%).
LSH_WEIGHTS = (0.05, 0.95)


def normalize(text: str) -> str:
    """Compatibility-normalized, casefolded text with punctuation removed and spaces collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    kept = "".join(" " if unicodedata.category(char).startswith("P") else char for char in folded)
    return " ".join(kept.split())


def fingerprint(text: str) -> str:
    """sha256 of the normalized text: the same for texts differing in case, space, punctuation."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


class ExactDeduper:
    """Remembers normalized texts; answers with the id of the first example that held one."""

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}

    def contains(self, text: str) -> str | None:
        return self._holders.get(fingerprint(text))

    def add(self, id: str, text: str) -> str | None:
        """Register `text` under `id`; if it is already held, return the first holder instead."""
        holder = self._holders.setdefault(fingerprint(text), id)
        return None if holder == id else holder


def shingles(text: str) -> list[bytes]:
    """Sorted distinct word 3-shingles of the normalized text; char 4-grams for short texts."""
    normal = normalize(text)
    words = normal.split()
    if len(words) >= SHORT_TEXT_WORDS:
        starts = range(len(words) - SHINGLE_WORDS + 1)
        grams = {" ".join(words[i : i + SHINGLE_WORDS]) for i in starts}
    elif len(normal) > SHINGLE_CHARS:
        grams = {normal[i : i + SHINGLE_CHARS] for i in range(len(normal) - SHINGLE_CHARS + 1)}
    else:
        grams = {normal}
    return sorted(gram.encode("utf-8") for gram in grams)


class NearDeduper:
    """MinHash LSH over shingles: finds an earlier text whose estimated Jaccard is >= threshold.

    LSH only proposes candidates; each is verified against its MinHash signature, and the best
    one wins (highest Jaccard, then the earliest added), so the answer never depends on the
    order in which the index happens to return candidates. `add` indexes only texts that have
    no near duplicate, so a dropped text never shadows a later one.
    """

    def __init__(self, threshold: float, num_perm: int = 128, seed: int = 1) -> None:
        if not 0.0 < threshold < 1.0:
            # 1.0 means exact duplicates: ExactDeduper finds those without estimation.
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), not {threshold}")
        self.threshold = threshold
        self._template = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME)
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
        self._signatures: dict[str, tuple[int, MinHash]] = {}

    def signature(self, text: str) -> MinHash:
        minhash = MinHash(
            num_perm=self._template.num_perm,
            seed=self._template.seed,
            permutations=self._template.permutations,
            scheme=MINHASH_SCHEME,
        )
        minhash.update_batch(shingles(text))
        return minhash

    def find(self, text: str) -> str | None:
        """The id of the best near duplicate of `text` added so far, or None."""
        return self._best(self.signature(text))

    def add(self, id: str, text: str) -> str | None:
        """Index `text` under `id` unless it has a near duplicate; return that duplicate's id."""
        if id in self._signatures:
            raise ValueError(f"id {id!r} was already added")
        signature = self.signature(text)
        duplicate = self._best(signature)
        if duplicate is None:
            self._lsh.insert(id, signature, check_duplication=False)
            self._signatures[id] = (len(self._signatures), signature)
        return duplicate

    def _best(self, signature: MinHash) -> str | None:
        scored = []
        for candidate in self._lsh.query(signature):
            order, other = self._signatures[candidate]
            similarity = float(signature.jaccard(other))
            if similarity >= self.threshold:
                scored.append((-similarity, order, candidate))
        return min(scored)[2] if scored else None
