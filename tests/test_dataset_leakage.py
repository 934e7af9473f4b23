"""LeakageGuard: a planted copy of a guarded field, in any shape, is rejected; fresh text is not."""

from __future__ import annotations

import json
import random
from pathlib import Path

import audit
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from recipec.dataset import Leak, LeakageGuard
from recipec.dataset.leakage import (
    GRAM_WORDS,
    MAX_RUN,
    MIN_FIELD_WORDS,
    example_fields,
    generated_texts,
    row_fields,
    source_fields,
)

# Timing varies with the load of a shared machine; example counts stay the default.
NO_DEADLINE = settings(deadline=None)

ROOT = Path(__file__).resolve().parent.parent
REAL_SESSIONS = ROOT / "recipes" / "data" / "real_sessions.jsonl"
VOCABULARY = [f"{a}{b}{c}" for a in "bdgkt" for b in "aeiou" for c in "lmnrs"]  # 125 words
PUNCTUATION = [",", ".", ";", ":", "!", "?", "...", " -", '"', "(", ")", "\u2014"]


def sentence(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(VOCABULARY, k=count))


@st.composite
def sources(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A guarded source: 1..8 rows of one or two guarded fields of 5..60 words."""
    seed = draw(st.integers(0, 2**32))
    lengths = draw(st.lists(st.integers(MIN_FIELD_WORDS, 60), min_size=2, max_size=16))
    rng = random.Random(seed)
    return [(f"real/{i // 2:06d}.f{i % 2}", sentence(rng, n)) for i, n in enumerate(lengths)]


def cosmetic(text: str, rng: random.Random) -> str:
    """The same words re-cased, re-spaced and re-punctuated."""
    out = []
    for word in text.split():
        word = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
        mark = rng.choice(PUNCTUATION) if rng.random() < 0.3 else ""
        out.append(word + mark + rng.choice([" ", "  ", "\n", "\t", " \n "]))
    return rng.choice(["", '"', "- "]) + "".join(out).strip() + rng.choice(["", ".", "!"])


def halves(text: str) -> tuple[str, str]:
    tokens = text.split()
    return " ".join(tokens[: len(tokens) // 2]), " ".join(tokens[len(tokens) // 2 :])


def planted(fields: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, list[str]]]:
    """Every shape of copy of the first field (splices with the second), and its name."""
    field, other = fields[0][1], fields[1][1]
    fresh = sentence(rng, rng.randint(0, 40))
    shapes = [
        ("verbatim", [field]),
        ("embedded", [f"{sentence(rng, rng.randint(1, 40))} {field} {fresh}"]),
        ("repeated", [f"{field}\n{field}"]),
        ("spliced", [f"{other} {field}"]),
        ("spliced across texts", [other, fresh, field]),
    ]
    if len(field.split()) > 2 * MAX_RUN + 1 and len(other.split()) > 2 * MAX_RUN + 1:
        shapes.append(("spliced halves", [f"{halves(field)[0]} {halves(other)[1]}"]))
    if len(field.split()) >= 2 * (MAX_RUN + 1):
        shapes.append(("split over two texts", list(halves(field))))
    return [(name, [cosmetic(text, rng) for text in texts]) for name, texts in shapes]


@NO_DEADLINE
@given(sources(), st.floats(0.0, 0.99), st.integers(0, 2**32))
def test_a_planted_copy_of_any_field_in_any_shape_is_rejected(fields, max_overlap, seed):
    guard = LeakageGuard(fields, max_overlap=max_overlap)
    rng = random.Random(f"plant {seed}")
    for start in range(len(fields) - 1):
        for shape, texts in planted(fields[start:], rng):
            leak = guard.check(texts)
            assert leak is not None, (shape, texts)


@NO_DEADLINE
@given(sources(), st.integers(0, 2**32))
def test_fresh_text_over_the_same_vocabulary_passes(fields, seed):
    guard = LeakageGuard(fields, max_overlap=0.5)
    rng = random.Random(f"fresh {seed}")  # a stream of its own: not the source's words
    texts = [sentence(rng, rng.randint(1, 80)) for _ in range(3)]
    assert guard.check(texts) is None


def real_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in REAL_SESSIONS.read_text().splitlines()]


def test_false_positive_rate_on_random_sentences_over_the_real_vocabulary():
    """The figure docs/language.md quotes: 0 of 5,000 (texts of 2 strings, 5..80 words each)."""
    rows = real_rows()
    guard = LeakageGuard(source_fields("real", rows, range(1, len(rows) + 1)), max_overlap=0.5)
    vocabulary = [word for row in rows for value in row.values() for word in value.split()]
    rng = random.Random(7)
    pairs = [[fresh(rng, vocabulary), fresh(rng, vocabulary)] for _ in range(5000)]
    assert sum(guard.check(pair) is not None for pair in pairs) == 0


def fresh(rng: random.Random, vocabulary: list[str]) -> str:
    return " ".join(rng.choices(vocabulary, k=rng.randint(5, 80)))


def test_no_real_row_leaks_into_another_independently_written_one():
    """Leave one out on the demo's real rows: 0 of 10 rows is flagged against the other nine."""
    rows = real_rows()
    for i, row in enumerate(rows):
        others = [r for j, r in enumerate(rows) if j != i]
        guard = LeakageGuard(source_fields("real", others, range(len(others))), max_overlap=0.5)
        assert guard.check(list(row.values())) is None, row


ISSUE_ROW = {
    "message": "I forget deadlines constantly even with a planner, and my grades are slipping.",
    "reply": "Planners only work if they fit how your brain works. Let's try reminders on your "
    "phone and a weekly ten-minute review, and talk about accommodations.",
    "condition": "ADHD",
}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (ISSUE_ROW["message"] + "\n" + ISSUE_ROW["message"], "message"),
        (
            ISSUE_ROW["message"]
            + "\nTry a paper calendar on the wall and set two alarms for every deadline.",
            "message",
        ),
        (
            "Lately everything slips, my grades, my sleep, my friends, and I do not know where to "
            "start.\n" + ISSUE_ROW["reply"],
            "reply",
        ),
    ],
)
def test_the_issue_reproducer_is_rejected(text, field):
    guard = LeakageGuard(row_fields("real/000006", ISSUE_ROW), max_overlap=0.5)
    leak = guard.check([text])
    assert leak is not None
    assert (leak.field_id, leak.containment) == (f"real/000006.{field}", 1.0)
    assert leak.row_id == "real/000006"


def test_short_fields_are_labels_not_guarded():
    guard = LeakageGuard(row_fields("real/000006", ISSUE_ROW), max_overlap=0.0)
    assert guard.guarded == 2
    assert guard.check(["I was told I have ADHD, and exam stress makes it worse."]) is None


def test_containment_is_the_share_of_the_fields_ngrams_and_run_the_longest_verbatim_run():
    field = " ".join(VOCABULARY[:20])  # 20 words, 17 distinct 4-grams
    copy = " ".join(VOCABULARY[:8])  # 8 words: 5 of the 4-grams, a run of 8
    guard = LeakageGuard([("r.f", field)], max_overlap=0.5)
    assert guard.nearest([f"{copy} {' '.join(VOCABULARY[50:60])}"]) == Leak("r.f", 5 / 17, 8)
    assert guard.check([copy]) is None  # 8 words is the longest run allowed by default
    nine = " ".join(VOCABULARY[:9])
    assert guard.check([nine]) == Leak("r.f", 6 / 17, 9)
    assert LeakageGuard([("r.f", field)], 0.5, max_run=9).check([nine]) is None
    assert LeakageGuard([("r.f", field)], 0.25).check([copy]) == Leak("r.f", 5 / 17, 8)


def test_a_shared_run_shorter_than_the_ngram_is_no_overlap():
    guard = LeakageGuard([("r.f", " ".join(VOCABULARY[:10]))], max_overlap=0.0)
    assert guard.nearest([" ".join(VOCABULARY[: GRAM_WORDS - 1])]) is None


def test_few_shot_examples_shown_to_the_prompt_are_guarded_for_that_record():
    guard = LeakageGuard([], max_overlap=0.5)
    shown = example_fields([{"message": ISSUE_ROW["message"], "n": 3}])
    assert shown == [("example/1.message", ISSUE_ROW["message"])]
    assert guard.check([ISSUE_ROW["message"]], extra=shown) == Leak("example/1.message", 1.0, 13)
    assert guard.check([ISSUE_ROW["message"]]) is None


def test_the_worst_field_wins_and_ties_go_to_the_smallest_id():
    text = " ".join(VOCABULARY[:30])
    half = " ".join(VOCABULARY[:15])
    fields = [("z.full", text), ("b.copy", text), ("a.half", half)]
    assert LeakageGuard(fields, 0.2).check([half]) == Leak("a.half", 1.0, 15)
    # Equal containment: the longer run wins (a.half holds 15 words, the copies 30).
    assert LeakageGuard(fields, 0.2).check([text]) == Leak("b.copy", 1.0, 30)
    assert LeakageGuard(fields[:2], 0.2).check([half]) == Leak("b.copy", 12 / 27, 15)


def test_source_fields_name_every_string_field_by_source_line_and_field():
    rows = [{"message": "hello there", "n": 1, "reply": "hi"}, {"message": "x"}]
    assert source_fields("real", rows, [3, 7]) == [
        ("real/000003.message", "hello there"),
        ("real/000003.reply", "hi"),
        ("real/000007.message", "x"),
    ]


def test_generated_texts_are_every_string_of_a_decoded_output():
    value = [{"reply": "b", "message": "a", "urgency": 3}, {"message": "c", "tags": ["d", "e"]}]
    assert generated_texts(value) == ["a", "b", "c", "d", "e"]


def test_empty_and_punctuation_only_texts_do_not_leak():
    guard = LeakageGuard([("r.f", "some real words of a field")], max_overlap=0.0)
    assert guard.check([""]) is None
    assert guard.check(["?!", ""]) is None
    assert guard.check([]) is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_overlap": 1.5}, "max_overlap"),
        ({"max_overlap": 0.5, "max_run": GRAM_WORDS - 1}, "max_run"),
    ],
)
def test_bad_parameters_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        LeakageGuard([], **arguments)


def test_duplicate_field_ids_are_refused():
    with pytest.raises(ValueError, match="appears twice"):
        LeakageGuard([("r.f", "a b c"), ("r.f", "d e f")], max_overlap=0.5)


def test_one_string_is_refused_as_texts():
    with pytest.raises(TypeError, match="sequence"):
        LeakageGuard([], max_overlap=0.5).check("a text")  # type: ignore[arg-type]


@st.composite
def fragments(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[str]]:
    """A source, and generated texts made of fresh words and pieces of its fields (any length,
    from any position), re-cased and re-punctuated."""
    fields = draw(sources())
    rng = random.Random(f"fragments {draw(st.integers(0, 2**32))}")
    texts = []
    for _ in range(draw(st.integers(1, 3))):
        pieces = []
        for _ in range(draw(st.integers(1, 4))):
            tokens = rng.choice(fields)[1].split()
            start = rng.randrange(len(tokens))
            pieces.append(" ".join(tokens[start : start + rng.randint(1, len(tokens))]))
            pieces.append(sentence(rng, rng.randint(0, 6)))
        texts.append(cosmetic(" ".join(pieces), rng))
    return fields, texts


@NO_DEADLINE
@given(fragments())
def test_the_guard_rejects_every_copy_the_independent_audit_finds(case):
    """tests/audit.py shares no code with the guard: whatever it calls a copy (a field verbatim,
    or 80% of its word 5-grams), the guard at max_overlap 0.5 rejects."""
    fields, texts = case
    rows = [{"text": text} for _, text in fields]
    messages = [{"role": "user", "content": text} for text in texts]
    record = {"id": "s", "synthetic": True, "messages": messages}
    found = audit.verbatim_copies([record], rows) + audit.fivegram_copies([record], rows)
    event(f"audit found a copy: {bool(found)}")
    if found:
        assert LeakageGuard(fields, max_overlap=0.5).check(texts) is not None


def test_a_tie_names_the_sources_row_rather_than_the_example_that_showed_it():
    guard = LeakageGuard(row_fields("real/000006", ISSUE_ROW), max_overlap=0.5)
    shown = example_fields([ISSUE_ROW])
    assert guard.check([ISSUE_ROW["message"]], extra=shown) == Leak("real/000006.message", 1.0, 13)
    assert guard.nearest([ISSUE_ROW["reply"]], extra=shown) == Leak("real/000006.reply", 1.0, 26)
