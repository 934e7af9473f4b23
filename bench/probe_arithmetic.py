"""Does llama.cpp's arithmetic for a token depend on how its prefix was computed, or on its batch?

Run: python bench/probe_arithmetic.py. Prints, for each question, whether the logits of the
same token are bitwise equal and the largest difference; docs/performance.md quotes the output.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recipec.engine import ModelSpec, load_teacher  # noqa: E402
from recipec.engine.batch import Held, Streams, chunk_bounds  # noqa: E402
from recipec.engine.spec import default_threads  # noqa: E402

MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = (
    "You are a warm, concise campus counselor. Examples of real records:\n"
    '{"message":"I get distracted by my phone every few minutes when I try to read.",'
    '"reply":"Put the phone in another room during focused blocks of twenty-five minutes, then '
    'take a short break. Small changes to your space can help a lot."}\n'
    '{"message":"I moved here from far away and I miss my family every evening.","reply":'
    '"Missing home is very common in the first year. Regular calls and one campus activity a '
    'week can help you build a new routine here."}'
)
USERS = [
    "Aisha, a 23-year-old senior, is dealing with ADHD. Write their message and a reply.",
    "Ben, a 19-year-old freshman, is homesick and writes to the counseling service.",
    "Chloe, a 21-year-old junior, cannot sleep before finals. Write their message.",
    "Dev, a 24-year-old senior living at home, has exam stress and asks for help.",
]


def compare(name: str, a: np.ndarray, b: np.ndarray) -> bool:
    same = bool(np.array_equal(a, b))
    print(
        f"{name:<64} {'bitwise equal' if same else 'DIFFERENT'}  max|d|={np.abs(a - b).max():.3g}"
    )
    return same


def main() -> None:
    teacher = load_teacher(ModelSpec("t", MODEL, None))
    prompts = [
        teacher.prompt_tokens(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": u}]
        )
        for u in USERS
    ]
    model, vocab, threads = teacher._llm.model, teacher._n_vocab, default_threads()

    def streams(n_seq: int, unified: bool = False) -> Streams:
        return Streams(model, n_seq, 512, threads, 512, vocab, unified)

    one = streams(1)
    p = prompts[0]
    whole = one.prefill(0, p, (len(p),)).copy()
    one.held[0] = Held()
    chunked = one.prefill(0, p, chunk_bounds(len(p))).copy()
    compare("prompt in one batch vs in 32-token chunks", whole, chunked)
    one.held[0] = Held()
    one.prefill(0, p, (8, len(p)))
    split8 = one.logits(len(p) - 8 - 1).copy()
    compare("prompt in one batch vs split after 8 tokens", whole, split8)

    two = Streams(model, 1, 512, 2, 512, vocab)
    compare("prompt on 1 thread vs on 2 threads", whole, two.prefill(0, p, (len(p),)).copy())
    two.close()
    small = Streams(model, 1, 512, threads, 512, vocab, ubatch=32)
    compare("prompt in one ubatch vs in ubatches of 32", whole, small.prefill(0, p, (len(p),)))
    small.close()

    # reuse: another prompt with the same system prefix first, some steps, then p again
    q = prompts[1]
    logits = one.prefill(0, q, chunk_bounds(len(q)))
    for _ in range(5):
        logits = one.step([(0, [int(np.argmax(logits))])])[0]
    reused_before = one.evaluated
    reused = one.prefill(0, p, chunk_bounds(len(p))).copy()
    print(f"  (reused {len(p) - (one.evaluated - reused_before)} of {len(p)} prompt tokens)")
    compare("chunked prompt, fresh vs prefix served from the cache", chunked, reused)

    # steps: each sequence alone vs all in one batch, then uneven feeds
    alone = decode_alone(streams, prompts)
    for unified in (False, True):
        together = decode_together(streams(len(prompts), unified), prompts)
        kv = "one shared KV pool" if unified else "a KV stream per sequence"
        for i, (a, b) in enumerate(zip(alone, together, strict=True)):
            compare(f"seq {i}: first step alone vs in a batch of {len(prompts)}, {kv}", a[0], b[0])
            compare(f"seq {i}: 6 greedy steps alone vs in a batch, {kv}", a, b)
    uneven(streams, prompts)
    teacher.close()


def uneven(make: object, prompts: Sequence[list[int]]) -> None:
    """Three tokens for sequence 0 beside one for sequence 1 in a single llama_batch (llama.cpp
    then splits it into equal ubatches) vs the three alone; Streams.step avoids the former."""
    feed = [300, 301, 302]
    prompts = [prompts[0] + prompts[0][1:], prompts[1]]  # past 256 cells, where it shows
    s = make(2)  # type: ignore[operator]
    for i in (0, 1):
        s.prefill(i, prompts[i], chunk_bounds(len(prompts[i])))
    s._run(s._rows(0, feed) + s._rows(1, [5]))
    mixed = s.logits(2).copy()
    s.close()
    s = make(2)  # type: ignore[operator]
    s.prefill(0, prompts[0], chunk_bounds(len(prompts[0])))
    alone = s.step([(0, feed)])[0]
    s.close()
    compare("3 tokens alone vs beside another sequence's 1 in one batch", alone, mixed)


def decode_alone(make: object, prompts: Sequence[list[int]]) -> list[np.ndarray]:
    out = []
    for p in prompts:
        s = make(1)  # type: ignore[operator]
        logits = s.prefill(0, p, chunk_bounds(len(p)))
        rows = []
        for _ in range(6):
            logits = s.step([(0, [int(np.argmax(logits))])])[0]
            rows.append(logits.copy())
        out.append(np.stack(rows))
        s.close()
    return out


def decode_together(s: Streams, prompts: Sequence[list[int]]) -> list[np.ndarray]:
    last = [s.prefill(i, p, chunk_bounds(len(p))).copy() for i, p in enumerate(prompts)]
    rows: list[list[np.ndarray]] = [[] for _ in prompts]
    for _ in range(6):
        feeds = [(i, [int(np.argmax(last[i]))]) for i in range(len(prompts))]
        last = [x.copy() for x in s.step(feeds)]
        for i, x in enumerate(last):
            rows[i].append(x)
    s.close()
    return [np.stack(r) for r in rows]


if __name__ == "__main__":
    main()
