"""The independent audit (tests/audit.py) finds planted copies, contamination and cut strings,
and nothing in clean data."""

from __future__ import annotations

import ast
from pathlib import Path

from audit import (
    Copy,
    CutString,
    NearDuplicate,
    eval_train_near_dups,
    fivegram_copies,
    mid_word_endings,
    strings_at_bound,
    verbatim_copies,
)

REAL = [
    {
        "message": "I forget deadlines constantly even with a planner, and my grades are slipping.",
        "reply": "Planners only work if they fit how your brain works. Let's try reminders.",
        "condition": "ADHD",
    },
    {
        "message": "I moved here from far away and I miss my family every evening.",
        "reply": "Missing home is very common in the first year.",
        "condition": "homesickness",
    },
]


def record(ident: str, user: str, assistant: str, synthetic: bool = True) -> dict:
    messages = [
        {"role": "system", "content": "You are a warm, concise campus counselor."},
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]
    return {"id": ident, "synthetic": synthetic, "messages": messages, "split": "train"}


FRESH = "Exams are coming and I feel the pressure building every single day."


def test_audit_imports_nothing_from_recipec():
    tree = ast.parse((Path(__file__).parent / "audit.py").read_text())
    imported = [
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
        )
    ]
    assert not [name for name in imported if name.startswith("recipec")]


def test_verbatim_copies_find_a_field_in_any_case_and_punctuation():
    copied = "i FORGET deadlines, constantly even with a planner and my grades are slipping!!"
    records = [
        record("s1", f"Well... {copied} Help.", "Sure."),
        record("s2", FRESH, "Missing home is very common in the first year."),
        record("s3", FRESH, "Planners only work if they fit how your brain"),  # cut short
        record("r1", REAL[0]["message"], REAL[0]["reply"], synthetic=False),  # real: not audited
        record("s4", "I have ADHD.", "homesickness is hard"),  # labels are not fields
    ]
    assert verbatim_copies(records, REAL) == [
        Copy("s1", 0, "message", 1.0),
        Copy("s2", 1, "reply", 1.0),
    ]


def test_fivegram_copies_measure_the_share_of_a_fields_5grams():
    reply = REAL[0]["reply"]  # 14 words, 10 distinct 5-grams
    near = reply.replace("reminders", "alarms")  # the last 5-gram lost: 9 of 10
    half = " ".join(reply.split()[:9])  # 5 of 10
    records = [record("s1", FRESH, near), record("s2", FRESH, half)]
    assert fivegram_copies(records, REAL) == [Copy("s1", 0, "reply", 0.9)]
    assert fivegram_copies(records, REAL, share=0.5) == [
        Copy("s1", 0, "reply", 0.9),
        Copy("s2", 0, "reply", 0.5),
    ]


def test_eval_train_near_dups_compare_prompts_and_whole_texts():
    train = [record("t1", REAL[0]["message"], "Answer one."), record("t2", FRESH, "Other answer.")]
    evaluation = [
        record("e1", REAL[0]["message"].lower(), "A different answer entirely here."),
        record("e2", "Something else completely about sleep and the night.", "Fine then."),
    ]
    found = eval_train_near_dups(train, evaluation, 0.85)
    assert found == [NearDuplicate("e1", "t1", "prompt", 1.0)]
    assert eval_train_near_dups(train, evaluation[1:], 0.85) == []


def test_the_system_message_does_not_make_records_near_duplicates():
    train = [record("t1", "Hi.", "Ok.")]
    evaluation = [record("e1", "Yo.", "Sure.")]
    assert eval_train_near_dups(train, evaluation, 0.5) == []


SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "maxLength": 12},
        "reply": {"type": "string", "maxLength": 10},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
    },
}


def test_strings_at_bound_and_mid_word_endings():
    outputs = [
        ("a", {"message": "The dog has ", "reply": "abc", "tags": ["xyz"]}),
        ("b", {"message": "fine", "reply": "take you [", "tags": []}),
        ("c", {"message": "The dog has a dog", "reply": "ok.", "tags": ["a"]}),
    ]
    assert strings_at_bound(outputs, SCHEMA) == [
        CutString("a", "$.message", "The dog has "),
        CutString("a", "$.tags[0]", "xyz"),
        CutString("b", "$.reply", "take you ["),
        CutString("c", "$.message", "The dog has a dog"),
    ]
    assert mid_word_endings(outputs, SCHEMA) == [
        CutString("a", "$.tags[0]", "xyz"),
        CutString("c", "$.message", "The dog has a dog"),
    ]
