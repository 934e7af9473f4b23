"""A loaded llama.cpp model in; a context of several KV streams out, fed prompt chunks and steps.

Why chunks: llama.cpp's arithmetic for a token may depend on which tokens shared its forward
pass (kernel choice and tiling follow the batch shape, on GPUs certainly). So a prompt is always
computed as the same chunks, a pure function of its tokens (`bounds`), whether some of it was
already in the cache or not: a reused prefix is exactly the cells a fresh computation would
have produced. Prompts are prefilled one sequence at a time; only decode steps (one or a few
tokens per sequence) share a forward pass, and `tests/test_engine_batch.py` checks on the real
model that a sequence's logits do not depend on its neighbours (a KV stream per sequence).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp
import numpy as np
import numpy.typing as npt

from recipec.engine.errors import ModelError

# Prompt chunks end at multiples of CHUNK (and at message ends, see `Teacher.bounds`): small
# enough that a shared prefix is reused nearly whole, large enough to keep prefill batched.
CHUNK = 32

Logits = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Held:
    """What one sequence's cache holds: the prompt tokens and the chunk ends they were built in."""

    tokens: tuple[int, ...] = ()
    bounds: tuple[int, ...] = ()

    def reusable(self, tokens: Sequence[int], bounds: Sequence[int]) -> int:
        """How many leading tokens of a new prompt (chunked at `bounds`) this cache can serve.

        Only a chunk end both prompts share, below which they share every token and every
        chunk end: then the cached cells are exactly what a fresh prefill would compute.
        """
        best = 0
        for old, new in zip(self.bounds, bounds, strict=False):
            if old != new or new >= len(tokens) or self.tokens[best:new] != tuple(tokens[best:new]):
                break
            best = new
        return best


class Streams:
    """One llama.cpp context with `n_seq` sequences, each its own KV stream of `n_ctx` cells."""

    def __init__(
        self,
        model: llama_cpp.llama_model_p,
        n_seq: int,
        n_ctx: int,
        threads: int,
        n_batch: int,
        n_vocab: int,
        unified: bool = False,
        ubatch: int | None = None,
    ) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx * n_seq
        params.n_batch = params.n_ubatch = max(n_batch, CHUNK, n_seq)
        if ubatch is not None:  # the probe's: a physical batch smaller than the logical one
            params.n_ubatch = ubatch
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = unified or n_seq == 1  # else a stream per sequence
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise ModelError(
                f"llama.cpp could not create a context for {n_seq} sequence(s) of {n_ctx} tokens",
                "lower `context`, or check the machine has free memory",
            )
        self.n_seq, self.n_ctx, self.n_vocab = n_seq, n_ctx, n_vocab
        self.capacity = int(params.n_batch)
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = llama_cpp.llama_batch_init(self.capacity, 0, 1)
        self.held = [Held() for _ in range(n_seq)]
        self.length = [0] * n_seq
        self.evaluated = 0  # prompt tokens computed (not served from the cache), for benchmarks
        self.prefill_seconds = 0.0  # time in prefill passes, for benchmarks

    def prefill(self, seq: int, tokens: Sequence[int], bounds: Sequence[int]) -> Logits:
        """Put a prompt in sequence `seq`, reusing its cached prefix; the last position's logits."""
        started = time.perf_counter()
        keep = self.held[seq].reusable(tokens, bounds)
        llama_cpp.llama_memory_seq_rm(self._memory, seq, keep, -1)
        begin, last = keep, len(tokens) - 1  # keep < len(tokens): the last chunk is computed
        for end in (b for b in bounds if b > keep):
            self._run([(seq, p, tokens[p], p == last) for p in range(begin, end)])
            begin = end if end <= last else begin
        self.evaluated += len(tokens) - keep
        self.held[seq] = Held(tuple(tokens), tuple(bounds))
        self.length[seq] = len(tokens)
        self.prefill_seconds += time.perf_counter() - started
        return self.logits(last - begin)

    def step(self, feeds: Sequence[tuple[int, Sequence[int]]]) -> list[Logits]:
        """Feed each (sequence, tokens); each sequence's last logits (copies).

        Sequences fed one token share one forward pass (one row each: measured invariant to
        what shares it). A sequence fed several tokens (a sampled token and the grammar's
        forced ones) gets a pass of its own: llama.cpp splits a mixed batch into equal-length
        ubatches, which would cut its tokens differently than when it runs alone.
        """
        out: dict[int, Logits] = {}
        singles = [(seq, tokens) for seq, tokens in feeds if len(tokens) == 1]
        if singles:
            self._run([row for seq, tokens in singles for row in self._rows(seq, tokens)])
            out.update((seq, self.logits(i).copy()) for i, (seq, _) in enumerate(singles))
        for seq, tokens in feeds:
            if len(tokens) > 1:
                self._run(self._rows(seq, tokens))
                out[seq] = self.logits(len(tokens) - 1).copy()
        return [out[seq] for seq, _ in feeds]

    def _rows(self, seq: int, tokens: Sequence[int]) -> list[tuple[int, int, int, bool]]:
        pos = self.length[seq]
        self.length[seq] = pos + len(tokens)
        if self.length[seq] > self.n_ctx:
            raise ModelError(f"sequence {seq} outgrew its {self.n_ctx} cells")
        return [(seq, pos + i, t, i == len(tokens) - 1) for i, t in enumerate(tokens)]

    def logits(self, index: int) -> Logits:
        pointer = llama_cpp.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    def _run(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        if len(rows) > self.capacity:  # the batch's arrays hold `capacity` rows
            raise ModelError(f"{len(rows)} tokens in one pass exceed the batch of {self.capacity}")
        batch = self._batch
        for i, (seq, pos, token, wanted) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = wanted
        batch.n_tokens = len(rows)
        status = llama_cpp.llama_decode(self.ctx, batch)
        if status != 0:
            raise ModelError(
                f"llama.cpp could not decode ({status}): the context is full or out of memory",
                "raise `context`, or lower `max_tokens`",
            )


def chunk_bounds(length: int, marks: Sequence[int] = ()) -> tuple[int, ...]:
    """Chunk ends for a prompt of `length` tokens: every CHUNK, every mark, and the end."""
    ends = {*range(CHUNK, length, CHUNK), *(m for m in marks if 0 < m < length), length}
    return tuple(sorted(ends))
