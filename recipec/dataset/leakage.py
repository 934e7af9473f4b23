"""Leakage guard: guarded fields in; for a record's generated texts, the field it copies (or None).

A *guarded field* is one string value of one row of a guarded source (every row, not only
the rows a mix takes), or of a few-shot example the record's prompt showed. Fields with fewer
than MIN_FIELD_WORDS words are not guarded: a label such as `condition: "ADHD"` or "exam
stress" is vocabulary, and a record that uses it copies nothing.

Two measures per field, on words (see `recipec.dataset.words`: case, whitespace and
punctuation never matter):

- *containment*: the share of the field's distinct word GRAM_WORDS-grams found in the
  record's generated texts (all of them together, each text on its own so no n-gram spans
  two texts). A field copied whole, embedded in new text, repeated, or next to a field of
  another row scores 1.0 however much else the record says.
- *run*: the longest run of consecutive words of one generated text found verbatim in the
  field (counted from GRAM_WORDS words up; shorter shared runs count as 0).

A record leaks when some field's containment is above `max_overlap` or its run is above
`max_run`. Only what the teacher generated is checked: text the format adds itself (a fixed
system message) is never passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recipec.dataset.words import RunIndex, Words, ngrams, words

# Word n-gram length for containment. Long enough that common 3-word phrases ("a lot of",
# "i want to") do not add up to a copy, short enough that a copy of a 5-word field counts.
GRAM_WORDS = 4
# Shorter fields are not guarded (labels and categories); must be >= GRAM_WORDS.
MIN_FIELD_WORDS = 5
# The longest verbatim run of a guarded field a generated text may hold, in words.
MAX_RUN = 8


@dataclass(frozen=True)
class Leak:
    """A guarded field, how much of it a record holds (containment) and its longest run."""

    field_id: str
    containment: float
    run: int

    @property
    def row_id(self) -> str:
        """The field id without its `.FIELD` suffix: the row (or example) it belongs to."""
        return self.field_id.rpartition(".")[0] or self.field_id


class _Fields:
    """Guarded fields indexed by word n-gram, with each field's count of distinct n-grams."""

    def __init__(self, n: int) -> None:
        self.runs = RunIndex(n)
        self.ids: list[str] = []
        self.sizes: list[int] = []
        self._seen: set[str] = set()

    def add(self, field_id: str, text: str) -> None:
        if field_id in self._seen:
            raise ValueError(f"guarded field id {field_id!r} appears twice")
        self._seen.add(field_id)
        tokens = words(text)
        if len(tokens) < MIN_FIELD_WORDS:
            return
        self.runs.add(tokens)
        self.ids.append(field_id)
        self.sizes.append(len(set(ngrams(tokens, self.runs.n))))

    def scores(self, texts: Sequence[Words]) -> list[Leak]:
        """Every field sharing at least one n-gram with the texts."""
        grams = {gram for tokens in texts for gram in ngrams(tokens, self.runs.n)}
        found: Counter[int] = Counter()
        for gram in grams:
            found.update({number for number, _ in self.runs.holders(gram)})
        runs: dict[int, int] = {}
        for tokens in texts:
            for number, run in self.runs.longest_runs(tokens).items():
                runs[number] = max(runs.get(number, 0), run)
        return [
            Leak(self.ids[number], count / self.sizes[number], runs.get(number, 0))
            for number, count in found.items()
        ]


def _worst(leaks: Iterable[Leak], sources: int) -> Leak | None:
    """Highest containment, then longest run; on a tie a source's field (the first `sources`
    leaks) goes before a few-shot example's (often the same row), then the smallest id."""
    ranked = [
        ((-leak.containment, -leak.run, i >= sources, leak.field_id), leak)
        for i, leak in enumerate(leaks)
    ]
    return min(ranked, key=lambda pair: pair[0], default=(None, None))[1]


class LeakageGuard:
    """Rejects generated texts that reproduce a guarded field (see the module docstring)."""

    def __init__(
        self,
        fields: Iterable[tuple[str, str]],
        max_overlap: float,
        max_run: int = MAX_RUN,
    ) -> None:
        if not 0.0 <= max_overlap <= 1.0:
            raise ValueError(f"max_overlap must be in [0, 1], not {max_overlap}")
        if max_run < GRAM_WORDS:
            raise ValueError(f"max_run must be at least {GRAM_WORDS} words, not {max_run}")
        self.max_overlap = max_overlap
        self.max_run = max_run
        self._fields = _Fields(GRAM_WORDS)
        for field_id, text in fields:
            self._fields.add(field_id, text)

    @property
    def guarded(self) -> int:
        """How many fields are long enough to be guarded."""
        return len(self._fields.ids)

    def leaks(self, leak: Leak) -> bool:
        return leak.containment > self.max_overlap or leak.run > self.max_run

    def check(self, texts: Sequence[str], extra: Iterable[tuple[str, str]] = ()) -> Leak | None:
        """The worst field the texts leak (over `max_overlap` or `max_run`), or None."""
        guarded, shown = self._scores(texts, extra)
        return _worst(
            [leak for leak in guarded if self.leaks(leak)]
            + [leak for leak in shown if self.leaks(leak)],
            sum(1 for leak in guarded if self.leaks(leak)),
        )

    def nearest(self, texts: Sequence[str], extra: Iterable[tuple[str, str]] = ()) -> Leak | None:
        """The field the texts overlap most, leaking or not (for provenance), or None."""
        guarded, shown = self._scores(texts, extra)
        return _worst(guarded + shown, len(guarded))

    def _scores(
        self, texts: Sequence[str], extra: Iterable[tuple[str, str]]
    ) -> tuple[list[Leak], list[Leak]]:
        """Scores against the source's fields, and against the few-shot examples."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of generated strings, not one string")
        tokens = [words(text) for text in texts]
        shown = _Fields(GRAM_WORDS)
        for field_id, text in extra:
            shown.add(field_id, text)
        return self._fields.scores(tokens), shown.scores(tokens)


def row_fields(prefix: str, row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A row's string values as guarded fields `PREFIX.FIELD`, in field-name order."""
    return [(f"{prefix}.{name}", row[name]) for name in sorted(row) if isinstance(row[name], str)]


def source_fields(
    name: str, rows: Sequence[Mapping[str, Any]], lines: Sequence[int]
) -> list[tuple[str, str]]:
    """Every string field of every row of a source, as `NAME/LINE.FIELD` (line 6 digits)."""
    return [
        item
        for row, line in zip(rows, lines, strict=True)
        for item in row_fields(f"{name}/{line:06d}", row)
    ]


def example_fields(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The few-shot examples one prompt showed, as `example/I.FIELD` (I from 1)."""
    return [item for i, row in enumerate(rows, 1) for item in row_fields(f"example/{i}", row)]


def generated_texts(value: Any) -> list[str]:
    """Every string in a decoded output, each on its own (object keys in sorted order)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for key in sorted(value) for text in generated_texts(value[key])]
    if isinstance(value, list | tuple):
        return [text for item in value for text in generated_texts(item)]
    return []
