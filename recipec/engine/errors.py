"""Failure facts in, user-facing exceptions out: ModelError for models, SchemaError for schemas."""

from __future__ import annotations

from pathlib import Path


class ModelError(Exception):
    """A model that cannot be used, with a message, a hint on what to do, and the file."""

    def __init__(self, message: str, hint: str = "", path: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path

    def __str__(self) -> str:
        return self.message

    def named(self, name: str) -> ModelError:
        """The same error, prefixed with the model's name from the recipe."""
        return ModelError(f"model {name!r}: {self.message}", self.hint, self.path)


class SchemaError(Exception):
    """A JSON Schema that grammar-constrained decoding cannot enforce."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
