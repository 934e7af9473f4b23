"""Dataset statistics: texts, numbers and records in; distinct-n, length summaries, histograms
and strings at their schema bounds out."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recipec.dataset.dedupe import normalize


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct word n-grams over all n-grams in `texts` (normalized words); 0.0 if none."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        words = normalize(text).split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


@dataclass(frozen=True)
class Summary:
    """Five numbers about a sample: its size, minimum, median, 90th percentile and maximum."""

    count: int
    min: int
    median: float
    p90: int
    max: int


def summarize(values: Iterable[int]) -> Summary | None:
    """The Summary of `values`, None when there are none. p90 is the nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return None
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return Summary(len(ordered), ordered[0], statistics.median(ordered), p90, ordered[-1])


def char_lengths(texts: Iterable[str]) -> list[int]:
    return [len(text) for text in texts]


def word_lengths(texts: Iterable[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def histogram(values: Sequence[int], bins: int = 10) -> list[tuple[str, int]]:
    """Counts in up to `bins` equal-width integer ranges from min to max, labelled "lo-hi"."""
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, math.ceil((high - low + 1) / bins))
    counts = Counter((value - low) // width for value in values)
    edges = range((high - low) // width + 1)
    return [(_range_label(low + k * width, low + (k + 1) * width - 1), counts[k]) for k in edges]


def _range_label(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def tally(values: Iterable[int]) -> list[tuple[str, int]]:
    """How often each value occurs, in increasing order of value."""
    counts = Counter(values)
    return [(str(value), counts[value]) for value in sorted(counts)]


def strings_at_bounds(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Paths of the strings in `value` whose length equals a minLength or maxLength of `schema`.

    Grammar-constrained decoding stops a string at its maxLength, so a string exactly that long
    was most likely cut off; one exactly at minLength was likely padded to it. Each entry reads
    `"reply at max 400"`; array items show as `turns[2].reply`.
    """
    if isinstance(value, str):
        return _string_bound(value, schema, path or "value")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return [
            hit
            for key in sorted(value)
            if isinstance(props.get(key), Mapping)
            for hit in strings_at_bounds(value[key], props[key], f"{path}.{key}" if path else key)
        ]
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [
            hit
            for i, item in enumerate(value)
            for hit in strings_at_bounds(item, schema["items"], f"{path}[{i}]")
        ]
    return []


def _string_bound(text: str, schema: Mapping[str, Any], path: str) -> list[str]:
    # JSON Schema counts code points, as len() does.
    for key, word in (("maxLength", "max"), ("minLength", "min")):
        if isinstance(schema.get(key), int) and len(text) == schema[key]:
            return [f"{path} at {word} {schema[key]}"]
    return []
