"""Generation backends: (model name, messages, schema, seed, sampling) in, one Generation out.

A build takes its backend as a parameter: `LlamaBackend` runs the plan's GGUF models through
llama.cpp; tests of mixing logic pass a scripted backend through the same seam.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from recipec.diagnostics import BuildFailed
from recipec.engine.errors import ModelError
from recipec.engine.spec import Sampling
from recipec.ir import ModelPlan

if TYPE_CHECKING:
    from recipec.engine.teacher import Generation, Request, Teacher

Messages = list[dict[str, str]]


class Backend(Protocol):
    def prepare(self, models: Iterable[str]) -> None:
        """Check the named models can be used (called at the start of every build)."""

    def generate(
        self, model: str, messages: Messages, schema: dict[str, Any], seed: int, sampling: Sampling
    ) -> Generation:
        """One value constrained by `schema`; a pure function of the arguments."""

    def versions(self) -> dict[str, str]:
        """Versions of what generated, for the manifest."""

    def close(self) -> None: ...


class BatchBackend(Backend, Protocol):
    """A backend that also decodes several generations of one model together."""

    def window(self, model: str) -> int:
        """How many generations to hand `generate_many` at once (1: batching does not pay)."""

    def generate_many(
        self,
        model: str,
        requests: Sequence[Request],
        done: Callable[[int, Generation], None] | None = None,
    ) -> list[Generation]:
        """Each request as `generate` would give it; `done(index, generation)` as each ends."""


# Jobs handed to the teacher per batch, per stream it decodes at once: enough that a finished
# job's stream is refilled at once, few enough that little is lost when a build is killed.
WINDOW_PER_STREAM = 4


class LlamaBackend:
    """The plan's models through llama.cpp: each verified at `prepare`, loaded on first use."""

    def __init__(self, models: Mapping[str, ModelPlan], threads: int | None = None) -> None:
        self.models, self.threads = models, threads
        self.loaded: dict[str, Teacher] = {}

    def prepare(self, models: Iterable[str]) -> None:
        from recipec.engine.verify import verify_model

        for name in sorted(set(models)):
            with _model_errors(name):
                verify_model(self._spec(name))

    def generate(
        self, model: str, messages: Messages, schema: dict[str, Any], seed: int, sampling: Sampling
    ) -> Generation:
        return self._teacher(model).generate(messages, schema, seed, sampling)

    def window(self, model: str) -> int:
        parallel = self._teacher(model).parallel
        return 1 if parallel == 1 else parallel * WINDOW_PER_STREAM

    def generate_many(
        self,
        model: str,
        requests: Sequence[Request],
        done: Callable[[int, Generation], None] | None = None,
    ) -> list[Generation]:
        return self._teacher(model).generate_many(requests, done)

    def versions(self) -> dict[str, str]:
        import llama_cpp

        return {"llama_cpp_python": llama_cpp.__version__}

    def close(self) -> None:
        for teacher in self.loaded.values():
            teacher.close()
        self.loaded.clear()

    def _spec(self, name: str) -> Any:
        spec = self.models[name].spec
        return replace(spec, threads=self.threads or spec.threads)

    def _teacher(self, name: str) -> Teacher:
        if name not in self.loaded:
            from recipec.engine.teacher import load_teacher

            with _model_errors(name):
                self.loaded[name] = load_teacher(self._spec(name))
        return self.loaded[name]


@contextmanager
def _model_errors(name: str) -> Iterator[None]:
    """A ModelError while verifying or loading model `name` becomes a BuildFailed."""
    try:
        yield
    except ModelError as exc:
        err = exc.named(name)
        raise BuildFailed(err.message, err.hint) from None
