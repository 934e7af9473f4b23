"""Failure facts in, user-facing exceptions out: ModelError for models, SchemaError for schemas."""

from __future__ import annotations

from pathlib import Path


class ModelError(Exception):
    """A model that cannot be used, with a message, a hint on what to do, and the file.

    `model` is the recipe's name for the model once known; `message` then starts with it,
    exactly once however many layers name the error on its way up.
    """

    def __init__(
        self, message: str, hint: str = "", path: Path | None = None, model: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path
        self.model = model

    def __str__(self) -> str:
        return self.message

    def named(self, name: str) -> ModelError:
        """The same error, its message prefixed with the model's name unless it already is."""
        if self.model is not None or self.message.startswith(_prefix(name)):
            return self
        return ModelError(_prefix(name) + self.message, self.hint, self.path, name)


def _prefix(name: str) -> str:
    return f"model {name!r}: "


class SchemaError(Exception):
    """A JSON Schema that grammar-constrained decoding cannot enforce."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
