"""Strings cut at their bound: a decoded value and its JSON Schema in, paths of cut strings out.

Constrained decoding closes a string when it reaches the schema's `maxLength`, wherever the
teacher was in its sentence ("...The dog has a d"). The record still validates, so the
length itself is the only sign: a string whose length (in code points, as JSON Schema counts)
reached its `maxLength` was cut there and is reported, whether or not the cut fell inside a
word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def cut_strings(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """JSON paths (`$.reply`, `$[0].message`) of strings as long as their schema's maxLength."""
    return [path for path, text, bound in bounded_strings(value, schema) if len(text) >= bound]


def bounded_strings(
    value: Any, schema: Mapping[str, Any], path: str = "$"
) -> Iterator[tuple[str, str, int]]:
    """(path, string, maxLength) of every string in `value` whose schema bounds its length.

    Follows `properties`, `items` (a schema, or a list for tuples), `prefixItems`, and every
    branch of `allOf`/`anyOf`/`oneOf` (the smallest bound of the branches that give one).
    """
    if isinstance(value, str):
        bound = _max_length(schema)
        if bound is not None:
            yield path, value, bound
    elif isinstance(value, Mapping):
        for key in sorted(value):
            sub = _property_schema(schema, key)
            yield from bounded_strings(value[key], sub, _child(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from bounded_strings(item, _item_schema(schema, index), f"{path}[{index}]")


def _branches(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, ()):
            if isinstance(branch, Mapping):
                found.extend(_branches(branch))
    return found


def _max_length(schema: Mapping[str, Any]) -> int | None:
    bounds = [b["maxLength"] for b in _branches(schema) if isinstance(b.get("maxLength"), int)]
    return min(bounds, default=None)


def _property_schema(schema: Mapping[str, Any], key: str) -> dict[str, Any]:
    merged: dict[str, Any] = {"allOf": []}
    for branch in _branches(schema):
        sub = branch.get("properties", {}).get(key)
        if isinstance(sub, Mapping):
            merged["allOf"].append(sub)
    return merged


def _item_schema(schema: Mapping[str, Any], index: int) -> dict[str, Any]:
    merged: dict[str, Any] = {"allOf": []}
    for branch in _branches(schema):
        prefix = branch.get("prefixItems")
        items = branch.get("items")
        if isinstance(prefix, list) and index < len(prefix):
            merged["allOf"].append(prefix[index])
        elif isinstance(items, list):
            if index < len(items):
                merged["allOf"].append(items[index])
        elif isinstance(items, Mapping):
            merged["allOf"].append(items)
    return merged


def _child(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{escaped}"]'


def ends_mid_word(text: str) -> bool:
    """Whether `text` stops right after a letter or digit, with no punctuation or space to close
    it: for a string cut at its bound, the cut fell inside a word (or just after one)."""
    stripped = text.rstrip("\u200b")
    return bool(stripped) and unicodedata.category(stripped[-1])[0] in "LN"
