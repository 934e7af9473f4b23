"""JSON Schema validation: a value and a schema in, sorted error messages with JSON paths out."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import orjson
from jsonschema import Draft202012Validator

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `value` breaks `schema`, as "$.path: message" by path; [] when it conforms.

    Formats ("date", "email", ...) are checked too: the teacher's constrained decoding is the
    thing being audited, so this check should not be looser than the schema says.
    """
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    located = [(list(error.absolute_path), error.message) for error in validator.iter_errors(value)]
    located.sort(key=lambda pair: ([_part_key(part) for part in pair[0]], pair[1]))
    return [f"{json_path(path)}: {message}" for path, message in located]


def _part_key(part: str | int) -> tuple[int, int, str]:
    # Parents before children, array items in index order, keys by name.
    return (0, part, "") if isinstance(part, int) else (1, 0, part)


@functools.lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Draft202012Validator:
    # Keyed by canonical JSON, so equal schemas share a validator whatever their key order.
    schema = orjson.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def json_path(parts: Iterable[str | int]) -> str:
    """A JSONPath-style location: $, $.name, $.items[2], $['odd key']."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            text += f".{part}"
        else:
            text += f"[{part!r}]"
    return text
