"""Model specs in, verified teachers and schema-constrained generations out."""

from recipec.engine.errors import ModelError, SchemaError
from recipec.engine.gguf import ModelInfo, model_info
from recipec.engine.spec import ModelSpec, Sampling, default_threads
from recipec.engine.teacher import Generation, JobState, Teacher, load_teacher
from recipec.engine.verify import verify_model

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
