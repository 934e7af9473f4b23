"""Independent audit of a built dataset: records in, every copy, contamination and cut string out.

This module shares no code with recipec's guards (it imports nothing from recipec): its own
words (lowercased `\\w+` runs, so punctuation, spacing and case never matter), its own n-grams,
Jaccard and schema walk. A finding here is a finding against recipec, not against itself.

Input shapes:

- a *record* is one row of a build's `.recipec/examples.jsonl` (recipec's format-neutral
  example): a dict with `id`, `synthetic` (bool), `messages` (a list of `{"role", "content"}`),
  optional `chosen` and `rejected`, and `split`. Its *texts* are every message content except
  the system message's (the format adds that itself), then `chosen` and `rejected`.
- a *real row* is one row of the source file as the user wrote it: a dict of field values.
  Its *fields* are its string values of at least `min_words` words (default 5: shorter values
  are labels such as `condition: "ADHD"`).
- for `mid_word_endings`, an *output* is `(record id, decoded value)`: the JSON value an
  accepted generation decoded to (a journal `gen` entry's `value`), with the task's schema.

Each function returns a list of findings (named tuples); an empty list is a clean audit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def record_texts(record: Mapping[str, Any]) -> list[str]:
    texts = [m["content"] for m in record["messages"] if m["role"] != "system"]
    return texts + [record[k] for k in ("chosen", "rejected") if record.get(k) is not None]


def real_fields(rows: Sequence[Mapping[str, Any]], min_words: int) -> list[tuple[int, str, str]]:
    """(row index, field name, text) of every string field of at least `min_words` words."""
    return [
        (index, name, value)
        for index, row in enumerate(rows)
        for name, value in sorted(row.items())
        if isinstance(value, str) and len(words(value)) >= min_words
    ]


class Copy(NamedTuple):
    record: str
    row: int
    field: str
    share: float  # of the field's 5-grams found (1.0 for a verbatim copy)


def verbatim_copies(
    records: Iterable[Mapping[str, Any]], real_rows: Sequence[Mapping[str, Any]], min_words: int = 5
) -> list[Copy]:
    """Synthetic records one of whose texts holds a whole real field, word for word."""
    fields = [
        (i, name, " " + " ".join(words(text)) + " ")
        for i, name, text in real_fields(real_rows, min_words)
    ]
    found = []
    for record in records:
        if not record["synthetic"]:
            continue
        texts = [" " + " ".join(words(text)) + " " for text in record_texts(record)]
        found += [
            Copy(record["id"], i, name, 1.0)
            for i, name, field in fields
            if any(field in text for text in texts)
        ]
    return found


def grams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def fivegram_copies(
    records: Iterable[Mapping[str, Any]],
    real_rows: Sequence[Mapping[str, Any]],
    share: float = 0.8,
    min_words: int = 5,
) -> list[Copy]:
    """Synthetic records whose texts together hold at least `share` of a real field's 5-grams."""
    fields = [
        (i, name, grams(words(text), 5)) for i, name, text in real_fields(real_rows, min_words)
    ]
    found = []
    for record in records:
        if not record["synthetic"]:
            continue
        held = set().union(*(grams(words(text), 5) for text in record_texts(record)))
        for i, name, field in fields:
            if field and len(field & held) / len(field) >= share:
                found.append(Copy(record["id"], i, name, len(field & held) / len(field)))
    return found


class NearDuplicate(NamedTuple):
    eval_id: str
    train_id: str
    side: str  # "prompt" (the user messages) or "whole" (every text)
    jaccard: float


def shingles(text: str) -> frozenset[tuple[str, ...]]:
    """Word 3-shingles; a text of fewer than 3 words is one shingle of its words."""
    tokens = words(text)
    return frozenset(grams(tokens, 3)) if len(tokens) >= 3 else frozenset([tuple(tokens)])


def prompt_text(record: Mapping[str, Any]) -> str:
    return "\n".join(m["content"] for m in record["messages"] if m["role"] == "user")


def eval_train_near_dups(
    train: Sequence[Mapping[str, Any]], eval: Sequence[Mapping[str, Any]], threshold: float
) -> list[NearDuplicate]:
    """Every (eval record, train record) pair whose prompt sides or whole texts have a
    Jaccard similarity of at least `threshold`, real and synthetic records alike."""
    found = []
    for side, text in (("prompt", prompt_text), ("whole", lambda r: "\n".join(record_texts(r)))):
        train_sets = [shingles(text(record)) for record in train]
        for record in eval:
            mine = shingles(text(record))
            for other, theirs in zip(train, train_sets, strict=True):
                jaccard = len(mine & theirs) / len(mine | theirs)
                if jaccard >= threshold:
                    found.append(NearDuplicate(record["id"], other["id"], side, jaccard))
    return found


class CutString(NamedTuple):
    record: str
    path: str
    tail: str  # the last 30 characters


def strings_at_bound(
    outputs: Iterable[tuple[str, Any]], schema: Mapping[str, Any]
) -> list[CutString]:
    """Strings as long as their schema's maxLength (where constrained decoding closes them)."""
    found = []
    for record_id, value in outputs:
        for path, text, bound in _bounded(value, schema, "$"):
            if len(text) >= bound:
                found.append(CutString(record_id, path, text[-30:]))
    return found


def mid_word_endings(
    outputs: Iterable[tuple[str, Any]], schema: Mapping[str, Any]
) -> list[CutString]:
    """Strings at their bound whose last character is a letter or digit: cut inside a word."""
    return [cut for cut in strings_at_bound(outputs, schema) if cut.tail[-1:].isalnum()]


def _bounded(value: Any, schema: Mapping[str, Any], path: str) -> Iterable[tuple[str, str, int]]:
    if isinstance(value, str) and isinstance(schema.get("maxLength"), int):
        yield path, value, schema["maxLength"]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _bounded(item, schema.get("properties", {}).get(key, {}), f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bounded(item, schema.get("items", {}), f"{path}[{index}]")
