"""Model specs in, verified teachers and schema-constrained generations out."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from recipec.engine.errors import ModelError, SchemaError
from recipec.engine.gguf import ModelInfo, model_info
from recipec.engine.spec import ModelSpec, Sampling, default_threads
from recipec.engine.verify import verify_model

if TYPE_CHECKING:
    from recipec.engine.teacher import Generation, JobState, Teacher, load_teacher

# Loaded on first use: checking a model file (`recipec models`, `recipec doctor`) must work,
# and say what is wrong, even where llama-cpp-python cannot be imported.
_TEACHER_NAMES = ("Generation", "JobState", "Teacher", "load_teacher")


def __getattr__(name: str) -> Any:
    if name in _TEACHER_NAMES:
        return getattr(import_module("recipec.engine.teacher"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Generation",
    "JobState",
    "ModelError",
    "ModelInfo",
    "ModelSpec",
    "Sampling",
    "SchemaError",
    "Teacher",
    "default_threads",
    "load_teacher",
    "model_info",
    "verify_model",
]
