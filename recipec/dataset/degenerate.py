"""Degenerate records: a record's questions, answers and prompt in; a rejection reason or None out.

Four reasons, one vocabulary (REASONS, in the order they are tested; the first that applies
names the rejection):

- `echo`: an answer that equals its question, or whose word 3-grams (ECHO_GRAM) are at least
  ECHO_SHARE found in the question: the answer mostly repeats what was asked.
- `same_answers`: two answers of one record (chosen and rejected, or two turns) are the same
  words.
- `prompt_copy`: a generated text holds a verbatim run of more than PROMPT_MAX_RUN words of
  the prompt's own text. Words of a value the task put into the prompt (`supplied`: persona
  attributes) may take part in the run but do not count towards it, so "I am a 19-year-old
  freshman living in a dorm" is not a copy of "a {{ age }}-year-old {{ year }} living in ...",
  while the prompt's sentences echoed back are.
- `repetition`: a generated text of at least REPETITION_MIN_WORDS words whose distinct word
  3-grams are fewer than REPETITION_MIN_DISTINCT of its 3-grams ("The dog has a dog." x40).

Words are compared as `recipec.dataset.words` makes them: case, spacing and punctuation do
not matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace

from recipec.dataset.example import Example
from recipec.dataset.words import Words, ngrams, words

REASONS = ("echo", "same_answers", "prompt_copy", "repetition")

ECHO_GRAM = 3
# An answer is an echo when at least this share of its word 3-grams occur in the question.
ECHO_SHARE = 0.8
# The longest run of the prompt's own words (not counting supplied values) a text may hold.
PROMPT_MAX_RUN = 10
REPETITION_GRAM = 3
# Below this many words a text is too short to call repetitive from its 3-grams.
REPETITION_MIN_WORDS = 12
# Natural prose keeps well over 90% of its word 3-grams distinct; filler loops fall far below.
REPETITION_MIN_DISTINCT = 0.5


@dataclass(frozen=True)
class DegenerateSettings:
    """Which degenerate-record checks run; each is on unless switched off."""

    echo: bool = True
    same_answers: bool = True
    prompt_copy: bool = True
    repetition: bool = True

    @classmethod
    def without(cls, names: Iterable[str]) -> DegenerateSettings:
        """Every check on except the named ones; an unknown name is a ValueError."""
        off = list(names)
        for name in off:
            if name not in REASONS:
                raise ValueError(f"unknown degenerate check {name!r}; known: {', '.join(REASONS)}")
        return replace(cls(), **dict.fromkeys(off, False))

    def enabled(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name))


ALL_ON = DegenerateSettings()


def degenerate(
    question: str | None,
    answers: Sequence[str],
    prompt: str,
    settings: DegenerateSettings = ALL_ON,
    supplied: Iterable[str] = (),
) -> str | None:
    """The first reason (REASONS order) the record is degenerate, or None.

    `question` is the generated user turn (None when the record has none), `answers` the
    generated answers (assistant turns, or chosen and rejected), `prompt` the text the teacher
    was shown (every prompt message joined), `supplied` the values the task rendered into it.
    """
    return degenerate_turns([(question, answers)], prompt, settings, supplied)


def degenerate_turns(
    turns: Sequence[tuple[str | None, Sequence[str]]],
    prompt: str,
    settings: DegenerateSettings = ALL_ON,
    supplied: Iterable[str] = (),
) -> str | None:
    """`degenerate` over a record of several (question, answers) turns."""
    questions = [words(q) for q, _ in turns if q is not None]
    answers = [words(a) for _, texts in turns for a in texts]
    checks = {
        "echo": lambda: any(
            echoes(words(a), words(q)) for q, texts in turns if q is not None for a in texts
        ),
        "same_answers": lambda: _repeated(answers),
        "prompt_copy": lambda: any(
            prompt_run(text, words(prompt), supplied) > PROMPT_MAX_RUN
            for text in questions + answers
        ),
        "repetition": lambda: any(repetitive(text) for text in questions + answers),
    }
    return next((name for name in settings.enabled() if checks[name]()), None)


def example_turns(example: Example) -> list[tuple[str | None, list[str]]]:
    """An example's generated (question, answers) turns: user and assistant, or the prompt and
    chosen and rejected; a system message is the format's, never the teacher's."""
    if example.kind == "preference":
        user = next(m.content for m in example.messages if m.role == "user")
        return [(user, [a for a in (example.chosen, example.rejected) if a is not None])]
    turns: list[tuple[str | None, list[str]]] = []
    for message in example.messages:
        if message.role == "user":
            turns.append((message.content, []))
        elif message.role == "assistant":
            turns[-1][1].append(message.content)
    return turns


def echoes(answer: Words, question: Words) -> bool:
    """The answer is the question's words, or mostly made of the question's word 3-grams."""
    if answer and answer == question:
        return True
    grams = ngrams(answer, ECHO_GRAM)
    asked = set(ngrams(question, ECHO_GRAM))
    return bool(grams) and sum(gram in asked for gram in grams) >= ECHO_SHARE * len(grams)


def _repeated(texts: list[Words]) -> bool:
    seen = [text for text in texts if text]
    return len(set(seen)) < len(seen)


def repetitive(text: Words) -> bool:
    """Long enough to judge, and too few of its word 3-grams distinct."""
    if len(text) < REPETITION_MIN_WORDS:
        return False
    grams = ngrams(text, REPETITION_GRAM)
    return len(set(grams)) < REPETITION_MIN_DISTINCT * len(grams)


def prompt_run(text: Words, prompt: Words, supplied: Iterable[str] = ()) -> int:
    """The most prompt words (outside supplied values) in one verbatim run of `text`."""
    free = _free_positions(prompt, [words(value) for value in supplied])
    at: dict[str, list[int]] = {}
    for position, word in enumerate(prompt):
        at.setdefault(word, []).append(position)
    best = 0
    previous: dict[int, int] = {}
    for word in text:
        current = {p: previous.get(p - 1, 0) + free[p] for p in at.get(word, ())}
        best = max(best, *current.values(), 0)
        previous = current
    return best


def _free_positions(prompt: Words, values: list[Words]) -> list[int]:
    """1 for each prompt word that is the task's own text, 0 inside a supplied value."""
    free = [1] * len(prompt)
    for value in values:
        if not value:
            continue
        for start in range(len(prompt) - len(value) + 1):
            if prompt[start : start + len(value)] == value:
                free[start : start + len(value)] = [0] * len(value)
    return free
