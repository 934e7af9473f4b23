"""Degenerate-record filters: echoes, repeated answers, prompt copies and filler loops are named;
ordinary records pass."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipec.dataset import Example, Message
from recipec.dataset.degenerate import (
    PROMPT_MAX_RUN,
    REASONS,
    REPETITION_MIN_WORDS,
    DegenerateSettings,
    degenerate,
    degenerate_turns,
    example_turns,
    prompt_run,
)
from recipec.dataset.words import words

# Timing varies with the load of a shared machine; example counts stay the default.
NO_DEADLINE = settings(deadline=None)

PROMPT = (
    "Maya, a 19-year-old freshman living in a dorm,\nis dealing with exam stress and writes to "
    "the counseling service.\nWrite their message and the counselor's reply.\n\n"
    "Answer with one JSON object with the keys: message, reply, topic, urgency."
)
SUPPLIED = ["Maya", "19", "freshman", "a dorm", "exam stress"]
QUESTION = "I have three exams next week and I cannot sleep because I keep thinking about them."
ANSWER = (
    "That is a lot at once. Let's make a simple plan for each exam and protect your sleep "
    "first, since rest helps memory more than late cramming."
)


def test_an_ordinary_record_passes():
    assert degenerate(QUESTION, [ANSWER], PROMPT, supplied=SUPPLIED) is None


@pytest.mark.parametrize(
    "answer",
    [
        QUESTION,
        QUESTION.upper().replace(" ", "  "),
        f"{QUESTION} {QUESTION}",
        f"{QUESTION} Right.",
        QUESTION.rstrip(".") + ", you say?",
    ],
)
def test_an_answer_that_repeats_its_question_is_an_echo(answer):
    assert degenerate(QUESTION, [answer], PROMPT) == "echo"


def test_an_answer_quoting_the_question_and_then_answering_is_not_an_echo():
    assert degenerate(QUESTION, [f"You wrote: {QUESTION} {ANSWER}"], PROMPT) is None


def test_short_answers_echo_only_when_equal():
    assert degenerate("Is it safe?", ["Yes, it is safe."], "Ask.") is None
    assert degenerate("Is it safe?", ["is it SAFE"], "Ask.") == "echo"


def test_identical_chosen_and_rejected_are_same_answers():
    assert degenerate(QUESTION, [ANSWER, ANSWER.lower()], PROMPT) == "same_answers"
    assert degenerate(QUESTION, [ANSWER, "Sleep first; exams second."], PROMPT) is None


def test_the_prompt_echoed_back_is_a_prompt_copy():
    echoed = "Maya, a 19-year-old freshman living in a dorm, is dealing with exam stress and writes"
    # Ten of the prompt's own words in one run (a, year, old, living, in, is, dealing, with,
    # and, writes) is the most allowed; the whole sentence echoed back is a copy.
    assert prompt_run(words(echoed), words(PROMPT), SUPPLIED) == PROMPT_MAX_RUN == 10
    assert degenerate(echoed, [ANSWER], PROMPT, supplied=SUPPLIED) is None
    longer = echoed + " to the counseling service."
    assert degenerate(longer, [ANSWER], PROMPT, supplied=SUPPLIED) == "prompt_copy"
    instructions = "Answer with one JSON object with the keys message reply topic urgency"
    assert degenerate(QUESTION, [instructions], PROMPT, supplied=SUPPLIED) == "prompt_copy"


def test_supplied_values_may_be_used_but_do_not_count_towards_a_copy():
    message = "I am Maya, a 19-year-old freshman living in a dorm, and exam stress keeps me up."
    assert degenerate(message, [ANSWER], PROMPT, supplied=SUPPLIED) is None
    # maya a 19 year old freshman living in a dorm: 10 words; a, year, old, living, in count
    assert prompt_run(words(message), words(PROMPT), SUPPLIED) == 5
    assert prompt_run(words(message), words(PROMPT)) == 10


def test_prompt_run_counts_the_longest_verbatim_run():
    prompt = words("one two three four five six")
    assert prompt_run(words("x two three four y five six"), prompt) == 3
    assert prompt_run(words("nothing shared"), prompt) == 0
    assert prompt_run(words("two three"), prompt, ["three"]) == 1


def test_a_filler_loop_is_repetition():
    assert degenerate(QUESTION, ["The dog has a dog. " * 40], PROMPT) == "repetition"
    assert degenerate("I'm sorry. " * 12, [ANSWER], PROMPT) == "repetition"
    tail = ANSWER + " and" * 40
    assert degenerate(QUESTION, [tail], PROMPT) == "repetition"


def test_short_texts_are_too_short_to_call_repetitive():
    assert degenerate(QUESTION, ["no no no no no"], PROMPT) is None
    assert REPETITION_MIN_WORDS > 5


@NO_DEADLINE
@given(st.integers(0, 2**32), st.integers(REPETITION_MIN_WORDS, 300))
def test_prose_without_repeated_phrases_is_never_repetitive(seed, length):
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(2000)]
    text = " ".join(rng.sample(vocabulary, length))
    assert degenerate(None, [text], "Write something.") is None


def test_each_check_can_be_switched_off():
    loop = "The dog has a dog. " * 40
    assert degenerate(loop, [loop], PROMPT) == "echo"
    off = DegenerateSettings.without(["echo"])
    assert degenerate(loop, [loop], PROMPT, off) == "repetition"
    assert degenerate(loop, [loop], PROMPT, DegenerateSettings.without(REASONS)) is None
    assert off.enabled() == ("same_answers", "prompt_copy", "repetition")


def test_an_unknown_check_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown degenerate check 'echos'; known: echo, "):
        DegenerateSettings.without(["echos"])


def test_the_reason_vocabulary_is_the_settings():
    assert DegenerateSettings().enabled() == REASONS
    assert PROMPT_MAX_RUN >= 8


def test_example_turns_pair_each_question_with_its_answers():
    chat = Example(
        "x",
        "t",
        "chat",
        (
            Message("system", "You are kind."),
            Message("user", "q1"),
            Message("assistant", "a1"),
            Message("user", "q2"),
            Message("assistant", "a2"),
        ),
    )
    assert example_turns(chat) == [("q1", ["a1"]), ("q2", ["a2"])]
    pref = Example("y", "t", "preference", (Message("user", "q"),), "good", "bad")
    assert example_turns(pref) == [("q", ["good", "bad"])]
    assert degenerate_turns(example_turns(chat), "Write.") is None


def test_a_multi_turn_echo_in_a_later_turn_is_found():
    turns = [(QUESTION, [ANSWER]), ("What should I do tonight?", ["What should I do tonight?"])]
    assert degenerate_turns(turns, PROMPT) == "echo"
