"""Model specs in, verified teachers and schema-constrained generations out.

llama.cpp is imported only when a name that needs it is first used (PEP 562), so planning and
reading a plan never pay for loading it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recipec.engine.errors import ModelError, SchemaError
from recipec.engine.spec import ModelSpec, Sampling, default_threads

if TYPE_CHECKING:
    from recipec.engine.gguf import ModelInfo, model_info
    from recipec.engine.teacher import Generation, JobState, Teacher, load_teacher
    from recipec.engine.verify import verify_model

_LAZY = {
    "ModelInfo": "recipec.engine.gguf",
    "model_info": "recipec.engine.gguf",
    "Generation": "recipec.engine.teacher",
    "JobState": "recipec.engine.teacher",
    "Teacher": "recipec.engine.teacher",
    "load_teacher": "recipec.engine.teacher",
    "verify_model": "recipec.engine.verify",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recipec.engine' has no attribute {name!r}")


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
