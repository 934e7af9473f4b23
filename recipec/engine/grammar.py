"""A JSON Schema in, llguidance matchers out: one grammar per schema, one matcher per job."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llguidance import LLMatcher, LLTokenizer

from recipec.engine.errors import SchemaError

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

# Compact JSON: no whitespace between tokens, so the teacher spends no tokens on layout; and
# only the escapes training text needs (no \u, \b, \f: small teachers abuse them).
# A schema may override either with its own "x-guidance" options.
JSON_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False, "json_allowed_escapes": 'nrt"\\'}


def schema_key(schema: dict[str, Any]) -> str:
    """The canonical text of a schema: equal schemas share one compiled grammar."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Grammars:
    """Compiles each distinct schema once and hands out fresh matchers for it."""

    def __init__(self, tokenizer: LLTokenizer) -> None:
        self.tokenizer = tokenizer
        self._prototypes: dict[str, LLMatcher] = {}

    def matcher(self, schema: dict[str, Any]) -> LLMatcher:
        """A matcher at the start of `schema`; SchemaError if llguidance cannot enforce it."""
        key = schema_key(schema)
        prototype = self._prototypes.get(key)
        if prototype is None:
            prototype = self._compile(schema)
            self._prototypes[key] = prototype
        return prototype.deep_copy()

    def _compile(self, schema: dict[str, Any]) -> LLMatcher:
        try:
            grammar = LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS)
        except ValueError as error:
            raise SchemaError(f"invalid JSON Schema: {error}") from None
        is_error, messages = LLMatcher.validate_grammar_with_warnings(grammar, self.tokenizer)
        if is_error:
            raise SchemaError(f"cannot constrain output to this schema: {messages[0]}")
        matcher = LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise SchemaError(f"cannot constrain output to this schema: {matcher.get_error()}")
        return matcher
