"""Prefix reuse and continuous batching on the real teacher: the same bytes as a fresh, lone job.

A generation must be a pure function of its request, whatever the cache held before, whatever
order the jobs came in and whatever shared their forward passes. These tests compare texts and,
sharper, the logits themselves bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recipec.engine import Sampling, Teacher, load_teacher
from recipec.engine.batch import CHUNK, Held, Streams, chunk_bounds
from recipec.engine.spec import ModelSpec
from recipec.engine.teacher import Request

SHARED = (
    "You write realistic messages that students send to a campus counselor. Examples:\n"
    '{"message":"I get distracted by my phone every few minutes when I try to read.",'
    '"urgency":2}\n{"message":"I moved here from far away and I miss my family every evening.",'
    '"urgency":3}\nAnswer with one JSON object.'
)
USERS = [
    "A first-year student who feels homesick.",
    "A student who failed a chemistry exam and is worried about losing a scholarship.",
    "Someone who cannot sleep.",
    "A student whose roommate is very loud every night, plays music until three in the morning "
    "and never cleans the kitchen; they have tried talking to the roommate twice already. " * 8,
    "A student who wants to change majors.",
]
SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 10, "maxLength": 200},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["message", "urgency"],
    "additionalProperties": False,
}
SAMPLING = Sampling(temperature=0.9, top_p=0.95, max_tokens=40)


def requests() -> list[Request]:
    return [
        Request(
            [{"role": "system", "content": SHARED}, {"role": "user", "content": user}],
            SCHEMA,
            100 + i,
            SAMPLING,
        )
        for i, user in enumerate(USERS)
    ]


@pytest.fixture(scope="module")
def teacher(teacher_path: Path) -> Iterator[Teacher]:
    with load_teacher(ModelSpec("teacher", teacher_path, None)) as loaded:
        yield loaded


def fresh(teacher: Teacher, request: Request) -> str:
    """The request alone on a stream that holds nothing."""
    streams = teacher._open_streams()
    streams.held = [Held() for _ in streams.held]
    return teacher.generate_many([request])[0].text


@pytest.fixture(scope="module")
def lone(teacher: Teacher) -> list[str]:
    return [fresh(teacher, r) for r in requests()]


@pytest.mark.model
def test_a_reused_prefix_gives_the_bytes_of_a_fresh_prefill(
    teacher: Teacher, lone: list[str]
) -> None:
    streams = teacher._open_streams()
    before = streams.evaluated
    texts = [teacher.generate(r.messages, r.schema, r.seed, r.sampling).text for r in requests()]
    total = sum(len(teacher.prompt_tokens(r.messages)) for r in requests())
    assert streams.evaluated - before < total - 2 * CHUNK  # the shared prefix was reused
    assert texts == lone


@pytest.mark.model
@pytest.mark.parametrize("order", [[4, 3, 2, 1, 0], [2, 0, 4, 1, 3]])
def test_batched_jobs_in_any_order_give_the_bytes_of_lone_jobs(
    teacher: Teacher, lone: list[str], order: list[int]
) -> None:
    teacher.parallel = 3  # fewer streams than jobs: finished jobs hand their stream on
    batch = [requests()[i] for i in order]
    try:
        texts = [g.text for g in teacher.generate_many(batch)]
    finally:
        teacher.parallel = 1
    assert texts == [lone[i] for i in order]


@pytest.mark.model
def test_logits_do_not_depend_on_neighbours_or_uneven_feeds(teacher: Teacher) -> None:
    """Bit for bit: a sequence's logits alone vs beside others of very different lengths, fed
    one token or several at a time."""
    prompts = [teacher.prompt_tokens(r.messages) for r in requests()[2:5]]
    feeds = [[[300], [400, 401, 402], [500]], [[7], [8], [9, 10]], [[11, 12], [13], [14]]]

    def run(streams: Streams, seqs: list[int]) -> list[list[np.ndarray]]:
        out: list[list[np.ndarray]] = [[] for _ in seqs]
        for seq in seqs:
            streams.prefill(seq, prompts[seq], chunk_bounds(len(prompts[seq])))
        for step in range(3):
            logits = streams.step([(seq, feeds[seq][step]) for seq in seqs])
            for k, row in enumerate(logits):
                out[k].append(row)
        return out

    model, vocab = teacher._llm.model, teacher._n_vocab
    together = Streams(model, 3, 1024, 1, 512, vocab)
    try:
        shared = run(together, [0, 1, 2])
    finally:
        together.close()
    for seq in range(3):
        alone = Streams(model, 1, 1024, 1, 512, vocab)
        try:
            solo = run_one(alone, prompts[seq], feeds[seq])
        finally:
            alone.close()
        for a, b in zip(solo, shared[seq], strict=True):
            assert np.array_equal(a, b)


def run_one(streams: Streams, prompt: list[int], feeds: list[list[int]]) -> list[np.ndarray]:
    streams.prefill(0, prompt, chunk_bounds(len(prompt)))
    return [streams.step([(0, feed)])[0] for feed in feeds]


def test_chunk_bounds_are_a_function_of_the_prompt_alone() -> None:
    assert chunk_bounds(70) == (32, 64, 70)
    assert chunk_bounds(70, [12, 64, 90]) == (12, 32, 64, 70)
    assert chunk_bounds(5) == (5,)


def test_a_cache_serves_only_whole_shared_chunks() -> None:
    held = Held(tuple(range(80)), chunk_bounds(80, [12]))
    assert held.reusable(list(range(70)), chunk_bounds(70, [12])) == 64
    changed = [*range(40), 999, *range(41, 70)]
    assert held.reusable(changed, chunk_bounds(70, [12])) == 32
    assert held.reusable(changed, chunk_bounds(70, [13])) == 0  # chunked differently: no reuse
    assert held.reusable(list(range(64)), chunk_bounds(64, [12])) == 32  # the last chunk reruns
    assert Held().reusable(list(range(70)), chunk_bounds(70)) == 0
