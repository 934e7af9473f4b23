"""A ModelSpec in, a Teacher out; chat messages + JSON Schema + seed in, one Generation out."""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jinja2
import llama_cpp
import llama_cpp.llama_chat_format as llama_chat_format
import numpy as np
import numpy.typing as npt
from llguidance import LLMatcher, LLTokenizer
from llguidance.llamacpp import lltokenizer_from_vocab

from recipec.engine.batch import Streams, chunk_bounds
from recipec.engine.chat import ChatTemplate
from recipec.engine.errors import ModelError
from recipec.engine.gguf import ModelInfo
from recipec.engine.grammar import Grammars
from recipec.engine.sampler import NON_FINITE_HINT, allowed_mask, check_logits, sample
from recipec.engine.spec import ModelSpec, Sampling, default_threads
from recipec.engine.verify import verify_model

# Any fixed value: llama.cpp's own samplers are never used, ours draws from the job's RNG.
LLAMA_SEED = 0

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
BUILTIN_TEMPLATES = {"chatml": CHATML}

# Read once at load: a damaged model shows itself here before any job runs (see probe_logits).
PROBE_TEXT = (
    "The capital of France is Paris. Water boils at one hundred degrees Celsius, "
    "and the sun rises in the east."
)
# A model spending more than this share of chance (log of the vocabulary size) per token on
# PROBE_TEXT is broken; the 135M default teacher spends well under half.
PROBE_CHANCE_SHARE = 0.75

Messages = list[dict[str, str]]

# Sequences decoded together on a CPU with two threads or more: one forward pass per step serves
# them all, and a sequence's logits do not depend on its neighbours (a KV stream each; see
# engine/batch.py). On one thread a pass's cost grows with its rows and batching did not pay
# (docs/performance.md), so there it is one job at a time.
CPU_PARALLEL = 4


@dataclass(frozen=True)
class Request:
    """One generation to make: chat messages, a JSON Schema, the seed and the sampling."""

    messages: Messages
    schema: dict[str, Any]
    seed: int
    sampling: Sampling


@dataclass(frozen=True)
class Generation:
    """One decoded value: its text, the parsed JSON (None if cut short), counts and time."""

    text: str
    value: Any | None
    prompt_tokens: int
    output_tokens: int
    finish: str
    seconds: float


class JobState:
    """One job's decoding state: prompt tokens, grammar matcher, RNG and the tokens so far."""

    def __init__(
        self,
        prompt: list[int],
        matcher: LLMatcher,
        sampling: Sampling,
        seed: int,
        max_tokens: int,
        tokenizer: LLTokenizer,
    ) -> None:
        self.prompt = prompt
        self.matcher = matcher
        self.sampling = sampling
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        self.output: list[int] = []
        self.finish: str | None = None
        self._eos = frozenset(tokenizer.eos_tokens)
        self._bitmask = np.zeros((tokenizer.vocab_size + 31) // 32, dtype=np.int32)
        self._settle()
        self._accept(self._forced())

    @property
    def done(self) -> bool:
        return self.finish is not None

    def first_tokens(self) -> list[int]:
        """What the model reads before the first step: the prompt and any forced opening."""
        return self.prompt + self.output

    def step(self, logits: npt.NDArray[np.float32]) -> list[int]:
        """Sample from the last position's logits; returns the tokens the model reads next."""
        token = self._sample(logits)
        if token in self._eos:
            self.matcher.consume_token(token)
            self.finish = "stop"
            return []
        fed = [token]
        self._accept(fed)
        forced = self._forced()
        self._accept(forced)
        return [] if self.done else fed + forced

    def text(self) -> str:
        return self.tokenizer.decode_str(self.output)

    def result(self, seconds: float) -> Generation:
        text = self.text()
        return Generation(
            text=text,
            value=_parse(text) if self.finish == "stop" else None,
            prompt_tokens=len(self.prompt),
            output_tokens=len(self.output),
            finish=self.finish or "length",
            seconds=seconds,
        )

    def _sample(self, logits: npt.NDArray[np.float32]) -> int:
        self.matcher.unsafe_compute_mask_ptr(self._bitmask.ctypes.data, self._bitmask.nbytes)
        self._check()
        allowed = allowed_mask(self._bitmask, logits.shape[0])
        if not allowed.any():
            raise ModelError("constrained decoding failed: the grammar allows no token here")
        return sample(logits, allowed, self.sampling, self.rng, self.output)

    def _forced(self) -> list[int]:
        if self.done:
            return []
        return self.matcher.compute_ff_tokens()[: self.max_tokens - len(self.output)]

    def _accept(self, tokens: list[int]) -> None:
        if not tokens:
            return
        self.matcher.consume_tokens(tokens)
        self._check()
        self.output.extend(tokens)
        self._settle()

    def _settle(self) -> None:
        if self.matcher.is_stopped():
            self.finish = "stop"
        elif len(self.output) >= self.max_tokens:
            self.finish = "length"

    def _check(self) -> None:
        if self.matcher.is_error():
            raise ModelError(f"constrained decoding failed: {self.matcher.get_error()}")


class Teacher:
    """A loaded GGUF teacher that decodes JSON values constrained by JSON Schemas."""

    def __init__(
        self,
        spec: ModelSpec,
        info: ModelInfo,
        llm: llama_cpp.Llama,
        tokenizer: LLTokenizer,
        template: ChatTemplate,
    ) -> None:
        self.spec = spec
        self.info = info
        self.tokenizer = tokenizer
        self.template = template
        self._llm = llm
        self._n_vocab = llm.n_vocab()
        self._grammars = Grammars(tokenizer)
        self._streams: Streams | None = None
        # Jobs decoded together (a performance setting only: the bytes do not depend on it).
        self.parallel = choose_parallel(spec)

    def generate(
        self, messages: Messages, schema: dict[str, Any], seed: int, sampling: Sampling
    ) -> Generation:
        """Decode one value; the same inputs give the same text whatever ran before."""
        return self.generate_many([Request(messages, schema, seed, sampling)])[0]

    def generate_many(
        self, requests: Sequence[Request], done: Callable[[int, Generation], None] | None = None
    ) -> list[Generation]:
        """Decode several values together, in order; each the same as `generate` would give.
        `done(index, generation)` is called as each finishes (to journal it at once).

        Continuous batching: up to `parallel` jobs share each forward pass, one KV stream each;
        a finished job frees its stream for the next. A job's prompt is prefilled alone, in
        chunks fixed by its own tokens, reusing whatever prefix its stream already holds.
        """
        streams = self._open_streams()
        results: list[Generation | None] = [None] * len(requests)
        waiting = list(reversed(range(len(requests))))
        active: dict[int, tuple[int, JobState, float]] = {}
        pending: dict[int, list[int]] = {}
        while waiting or active:
            for seq in self._free(streams, active, waiting, requests):
                index = waiting.pop()
                began = time.perf_counter()
                job, feed = self._admit(streams, seq, requests[index])
                active[seq] = (index, job, began)
                pending[seq] = feed
            for seq in [s for s, (_, job, _) in active.items() if job.done]:
                index, job, began = active.pop(seq)
                results[index] = result = job.result(time.perf_counter() - began)
                if done is not None:
                    done(index, result)
            feeds = [(seq, pending[seq]) for seq in sorted(active)]
            if feeds:
                for (seq, _), logits in zip(feeds, self._step(streams, feeds), strict=True):
                    pending[seq] = active[seq][1].step(logits)
        return [r for r in results if r is not None]

    def start(
        self, messages: Messages, schema: dict[str, Any], seed: int, sampling: Sampling
    ) -> JobState:
        """A job ready to decode: prompt tokenized, matcher fresh, RNG seeded from `seed`."""
        prompt = self.prompt_tokens(messages)
        budget = self._context() - len(prompt)
        if budget <= 0:
            raise ModelError(
                f"model {self.spec.name!r}: the prompt has {len(prompt)} tokens, "
                f"more than the context of {self._context()}",
                "raise the model's `context`, or shorten the prompt",
                self.spec.path,
            )
        matcher = self._grammars.matcher(schema)
        limit = min(sampling.max_tokens, budget)
        return JobState(prompt, matcher, sampling, seed, limit, self.tokenizer)

    def prompt_tokens(self, messages: Messages) -> list[int]:
        """The chat template applied to `messages`, tokenized with special tokens."""
        try:
            text = self.template.render(messages)
        except Exception as error:  # Jinja errors and the template's raise_exception
            raise ModelError(
                f"model {self.spec.name!r}: the chat template failed: {error}",
                "set `chat_template` for the model to a template that fits these messages",
                self.spec.path,
            ) from None
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        bos = self._llm.token_bos()
        wants_bos = bos >= 0 and self._llm._model.add_bos_token()
        return [bos, *tokens] if wants_bos and tokens[:1] != [bos] else tokens

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes as plain text (no special tokens, no BOS)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        if self._streams is not None:
            self._streams.close()
            self._streams = None
        self._llm.close()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _context(self) -> int:
        """Usable context: llama.cpp may pad n_ctx upwards beyond llama-cpp-python's buffer."""
        return min(self._llm.n_ctx(), len(self._llm.input_ids))

    def bounds(self, messages: Messages, tokens: Sequence[int]) -> tuple[int, ...]:
        """Where a prompt's chunks end: every CHUNK tokens and after each message but the last
        (where the template's tokens allow), so a shared system text is a reusable prefix."""
        text = self.template.render(messages)
        marks, cursor = [], 0
        for message in messages[:-1]:
            found = text.find(message["content"], cursor)
            if found < 0:
                break
            cursor = found + len(message["content"])
            head = self._llm.tokenize(text[:cursor].encode("utf-8"), add_bos=False, special=True)
            if list(tokens[:1]) != head[:1]:  # the BOS that prompt_tokens puts first
                head = [*tokens[:1], *head]
            if list(tokens[: len(head)]) == head:
                marks.append(len(head))
        return chunk_bounds(len(tokens), marks)

    def _open_streams(self) -> Streams:
        if self._streams is not None and self._streams.n_seq != self.parallel:
            self._streams.close()
            self._streams = None
        if self._streams is None:
            threads = self.spec.threads or default_threads()
            self._streams = Streams(
                self._llm.model,
                self.parallel,
                self._context(),
                threads,
                self.spec.batch,
                self._n_vocab,
            )
        return self._streams

    def _free(
        self,
        streams: Streams,
        active: dict[int, tuple[int, JobState, float]],
        waiting: list[int],
        requests: Sequence[Request],
    ) -> list[int]:
        """Streams to start waiting jobs on, each the free one holding the longest usable prefix."""
        chosen: list[int] = []
        free = [s for s in range(streams.n_seq) if s not in active]
        for index in reversed(waiting[-len(free) :] if free else []):
            prompt = self.prompt_tokens(list(requests[index].messages))
            bounds = self.bounds(list(requests[index].messages), prompt)
            seq = max(free, key=lambda s: (streams.held[s].reusable(prompt, bounds), -s))
            free.remove(seq)
            chosen.append(seq)
        return chosen

    def _admit(self, streams: Streams, seq: int, request: Request) -> tuple[JobState, list[int]]:
        """Start `request` on stream `seq`: prefill its prompt, take its first step."""
        job = self.start(request.messages, request.schema, request.seed, request.sampling)
        tokens = job.first_tokens()
        bounds = self.bounds(request.messages, job.prompt)
        if len(tokens) > len(job.prompt):  # a forced opening is one more chunk of its own
            bounds = (*bounds, len(tokens))
        logits = self._guard(lambda: streams.prefill(seq, tokens, bounds))
        return job, ([] if job.done else job.step(logits))

    def _step(
        self, streams: Streams, feeds: list[tuple[int, list[int]]]
    ) -> list[npt.NDArray[np.float32]]:
        return self._guard(lambda: streams.step(feeds))

    def _guard(self, run: Any) -> Any:
        try:
            return run()
        except ModelError as error:
            raise ModelError(
                f"model {self.spec.name!r}: generation failed: {error.message}",
                "lower `context` or `batch`, or check the machine has free memory",
                self.spec.path,
            ) from None


def choose_parallel(spec: ModelSpec) -> int:
    """How many jobs decode together: 1 on one CPU thread (measured: batching does not pay
    there); CPU_PARALLEL on more threads; 1 where layers are offloaded, since GPU kernels
    change with the batch shape and a job's bytes must not depend on what shares its pass (not
    measured here: no GPU was at hand). RECIPEC_PARALLEL overrides: the bytes do not change."""
    configured = os.environ.get("RECIPEC_PARALLEL", "").strip()
    if configured:
        return max(1, int(configured))
    threads = spec.threads or default_threads()
    return CPU_PARALLEL if spec.gpu_layers == 0 and threads > 1 else 1


def load_teacher(spec: ModelSpec) -> Teacher:
    """Verify the file, load it with llama.cpp, probe it, build the llguidance tokenizer."""
    try:
        return _load_teacher(spec)
    except ModelError as error:
        raise error.named(spec.name) from None


def _load_teacher(spec: ModelSpec) -> Teacher:
    info = verify_model(spec)
    llm = _load_llama(spec)
    try:
        template = _chat_template(spec, info, llm)
        _probe(spec, llm)
        return Teacher(spec, info, llm, _tokenizer(llm), template)
    except BaseException:
        llm.close()
        raise


def _probe(spec: ModelSpec, llm: llama_cpp.Llama) -> None:
    try:
        probe_logits(llm)
    except ModelError as error:
        message = f"file {spec.path} failed the check at load: {error.message}"
        raise ModelError(message, error.hint, spec.path) from None


def _load_llama(spec: ModelSpec) -> llama_cpp.Llama:
    threads = spec.threads or default_threads()
    try:
        with _gguf_templates_left_alone():
            return llama_cpp.Llama(
                model_path=str(spec.path),
                n_ctx=spec.context,
                n_batch=spec.batch,
                n_ubatch=spec.batch,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=spec.gpu_layers,
                seed=LLAMA_SEED,
                logits_all=False,
                verbose=False,
            )
    except (ValueError, RuntimeError) as error:
        raise ModelError(
            f"llama.cpp could not load {spec.path}: {error}",
            "the file may be damaged or its architecture too new for llama-cpp-python "
            f"{llama_cpp.__version__}; fetch it again or pick another GGUF",
            spec.path,
        ) from None


class _UncompiledTemplate:
    """Stands in for llama-cpp-python's Jinja2ChatFormatter while a model loads.

    llama-cpp-python 0.3 compiles every chat template in the GGUF's metadata inside
    `Llama.__init__` (llama.py, "for name, template in template_choices.items()") and has no
    parameter to skip it, so a template that does not compile, or whose constants Jinja folds
    for minutes, stops the load with its own traceback. recipec never uses those chat handlers:
    it renders prompts with its own bounded ChatTemplate, from `chat_template` when the recipe
    sets one, so the GGUF's template is compiled by recipec or not at all.
    """

    def __init__(self, template: str, *args: Any, **kwargs: Any) -> None:
        self.template = template

    def to_chat_handler(self) -> Any:
        return _unused_chat_handler


def _unused_chat_handler(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("recipec renders chat prompts itself; llama-cpp-python's are not loaded")


_TEMPLATE_SWAP = threading.Lock()


@contextmanager
def _gguf_templates_left_alone() -> Iterator[None]:
    """While the block runs, Llama.__init__ stores the GGUF's chat templates uncompiled."""
    with _TEMPLATE_SWAP:
        compiled = llama_chat_format.Jinja2ChatFormatter
        llama_chat_format.Jinja2ChatFormatter = _UncompiledTemplate  # type: ignore[misc,assignment]
        try:
            yield
        finally:
            llama_chat_format.Jinja2ChatFormatter = compiled  # type: ignore[misc]


def probe_logits(llm: llama_cpp.Llama) -> float:
    """Mean nats per token the model spends on PROBE_TEXT; ModelError for a broken model.

    A model whose logits are NaN or infinity, or which predicts plain English barely better
    than picking tokens at random, has damaged weights even when its sha256 matches (the user
    hashed the damaged file). Subtler damage that leaves the model fluent cannot be told apart
    from a weak model here. Leaves the context empty, as a job expects it.
    """
    tokens = llm.tokenize(PROBE_TEXT.encode("utf-8"), add_bos=False, special=False)
    nats = 0.0
    try:
        for token, following in zip(tokens, tokens[1:], strict=False):
            llm.eval([token])
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
            )
            check_logits(logits)
            nats += _surprise(logits, following)
    finally:
        _clear(llm)
    mean, chance = nats / (len(tokens) - 1), float(np.log(llm.n_vocab()))
    if mean > PROBE_CHANCE_SHARE * chance:
        raise ModelError(
            f"the model predicts a plain English sentence barely better than chance "
            f"({mean:.1f} nats per token; picking at random costs {chance:.1f})",
            NON_FINITE_HINT,
        )
    return mean


def _surprise(logits: npt.NDArray[np.float32], token: int) -> float:
    """-log p(token) under the softmax of `logits`, in float64."""
    wide = logits.astype(np.float64)
    top = wide.max()
    return float(top + np.log(np.exp(wide - top).sum()) - wide[token])


def _clear(llm: llama_cpp.Llama) -> None:
    llm.reset()
    memory = llama_cpp.llama_get_memory(llm.ctx)
    if memory is not None:
        llama_cpp.llama_memory_clear(memory, True)


def _tokenizer(llm: llama_cpp.Llama) -> LLTokenizer:
    # llguidance's helper still calls llama_token_get_attr, deprecated in llama-cpp-python 0.3.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "llama_token_get_attr", DeprecationWarning)
        return lltokenizer_from_vocab(llama_cpp.llama_model_get_vocab(llm.model))


def _chat_template(spec: ModelSpec, info: ModelInfo, llm: llama_cpp.Llama) -> ChatTemplate:
    source = spec.chat_template or info.chat_template
    if source is None:
        raise ModelError(
            f"{spec.path} has no chat template",
            "set `chat_template` for the model (a Jinja template, or 'chatml')",
            spec.path,
        )
    origin = "the recipe's chat template" if spec.chat_template else "the GGUF's chat template"
    fix = (
        "fix `chat_template`"
        if spec.chat_template
        else "set `chat_template` for the model (a Jinja template, or 'chatml')"
    )
    bos, eos = _token_text(llm, llm.token_bos()), _token_text(llm, llm.token_eos())
    try:
        return ChatTemplate(BUILTIN_TEMPLATES.get(source, source), bos, eos)
    except jinja2.TemplateError as error:
        raise ModelError(f"{origin} does not compile: {error}", fix, spec.path) from None
    except (RecursionError, MemoryError):
        raise ModelError(f"{origin} is nested too deeply to compile", fix, spec.path) from None


def _token_text(llm: llama_cpp.Llama, token: int) -> str:
    return llm._model.token_get_text(token) if token >= 0 else ""


def _parse(text: str) -> Any | None:
    try:
        return json.loads(text)
    except ValueError:
        return None
