"""validate: JSON Schema 2020-12 errors as sorted "$.path: message" lines."""

from __future__ import annotations

import jsonschema
import pytest

from recipec.dataset import validate
from recipec.dataset.validate import _validator

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 3}},
        "odd key": {"type": "integer"},
        "when": {"type": "string", "format": "date"},
    },
    "required": ["answer"],
    "additionalProperties": False,
}

CASES = [
    ({"answer": "yes", "tags": ["abc"], "odd key": 1, "when": "2024-02-29"}, []),
    ({"answer": "yes", "tags": ["abc", "ab"]}, ["$.tags[1]: 'ab' is too short"]),
    ({}, ["$: 'answer' is a required property"]),
    ({"answer": ""}, ["$.answer: '' should be non-empty"]),
    ({"answer": "a", "odd key": "1"}, ["$['odd key']: '1' is not of type 'integer'"]),
    ({"answer": "a", "when": "2023-02-30"}, ["$.when: '2023-02-30' is not a 'date'"]),
    (
        {"answer": 3, "extra": True, "tags": [1]},
        [
            "$: Additional properties are not allowed ('extra' was unexpected)",
            "$.answer: 3 is not of type 'string'",
            "$.tags[0]: 1 is not of type 'string'",
        ],
    ),
    ([], ["$: [] is not of type 'object'"]),
]


@pytest.mark.parametrize(("value", "errors"), CASES)
def test_validate(value, errors):
    assert validate(value, SCHEMA) == errors


def test_validators_are_cached_by_content_not_key_order():
    _validator.cache_clear()
    validate({"answer": "a"}, SCHEMA)
    validate({"answer": "a"}, dict(reversed(SCHEMA.items())))
    assert _validator.cache_info().hits == 1


def test_an_invalid_schema_is_an_error_not_a_pass():
    with pytest.raises(jsonschema.SchemaError):
        validate("x", {"type": "strung"})
