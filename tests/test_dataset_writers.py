"""Writers: each format's rows load with Hugging Face datasets in the shape its trainer reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from recipec.dataset import WRITERS, Example, Message, write_jsonl

SYSTEM = Message("system", "You are terse.")
EXAMPLES = {
    "single": Example("single", "qa", "chat", (Message("user", "2+2?"), Message("assistant", "4"))),
    "system": Example(
        "system",
        "qa",
        "chat",
        (SYSTEM, Message("user", "Capital of France?"), Message("assistant", "Paris")),
    ),
    "multi": Example(
        "multi",
        "chat",
        "chat",
        (
            SYSTEM,
            Message("user", "Hi <script>alert(1)</script>"),
            Message("assistant", "Hello."),
            Message("user", "Bye"),
            Message("assistant", "Bye."),
        ),
    ),
    "preference": Example(
        "preference",
        "prefs",
        "preference",
        (SYSTEM, Message("user", "Say something kind.")),
        chosen="You did well.",
        rejected="Whatever.",
    ),
}

# Which examples each format takes, and the columns its file has.
FORMATS = {
    "openai_chat": (["single", "system", "multi", "preference"], {"messages"}),
    "trl_conversational": (["single", "system", "multi", "preference"], {"messages"}),
    "trl_prompt_completion": (
        ["single", "system", "multi", "preference"],
        {"prompt", "completion"},
    ),
    "sharegpt": (["single", "system", "multi", "preference"], {"conversations"}),
    "alpaca": (["single", "system", "preference"], {"instruction", "input", "output", "system"}),
    "dpo": (["preference"], {"prompt", "chosen", "rejected"}),
}


def test_every_format_is_tested():
    assert set(FORMATS) == set(WRITERS)


@pytest.mark.parametrize(
    ("writer", "example", "reason"),
    [
        (writer, name, None if name in accepted else refusal)
        for writer, (accepted, _) in FORMATS.items()
        for name in EXAMPLES
        for refusal in [{"alpaca": "one instruction", "dpo": "preference example"}.get(writer)]
    ],
)
def test_accepts(writer, example, reason):
    answer = WRITERS[writer].accepts(EXAMPLES[example])
    if reason is None:
        assert answer is None
    else:
        assert answer is not None and reason in answer
        with pytest.raises(ValueError, match=reason):
            WRITERS[writer].row(EXAMPLES[example])


def load(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The file as Hugging Face datasets reads it, offline, with a private cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from datasets import load_dataset  # test-only dependency; heavy import, so lazy

    cache = tmp_path / "hf-cache"
    return load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))


@pytest.mark.parametrize("writer", sorted(FORMATS))
def test_rows_load_with_datasets(writer, tmp_path, monkeypatch):
    accepted, columns = FORMATS[writer]
    path = tmp_path / f"{writer}.jsonl"
    rows = [WRITERS[writer].row(EXAMPLES[name]) for name in accepted]
    assert write_jsonl(path, rows) == len(rows)
    dataset = load(path, tmp_path, monkeypatch)
    assert set(dataset.column_names) == columns
    assert dataset.num_rows == len(rows)
    for loaded, row in zip(dataset, rows, strict=True):
        assert {key: value for key, value in loaded.items() if value is not None} == row


def is_conversation(value: Any, roles: set[str]) -> bool:
    """TRL's test for a conversational column: a list of {"role", "content"} messages."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(set(m) == {"role", "content"} and m["role"] in roles for m in value)
    )


ALL_ROLES = {"system", "user", "assistant"}


def test_messages_formats_hold_the_whole_conversation():
    for writer in ("openai_chat", "trl_conversational"):
        row = WRITERS[writer].row(EXAMPLES["multi"])
        assert is_conversation(row["messages"], ALL_ROLES)
        assert row["messages"] == [m.to_dict() for m in EXAMPLES["multi"].messages]
        chosen = WRITERS[writer].row(EXAMPLES["preference"])["messages"]
        assert chosen[-1] == {"role": "assistant", "content": "You did well."}


def test_prompt_completion_splits_at_the_last_user_turn():
    row = WRITERS["trl_prompt_completion"].row(EXAMPLES["multi"])
    assert is_conversation(row["prompt"], ALL_ROLES) and row["prompt"][-1]["content"] == "Bye"
    assert row["completion"] == [{"role": "assistant", "content": "Bye."}]


def test_dpo_is_trl_conversational_preference():
    row = WRITERS["dpo"].row(EXAMPLES["preference"])
    assert is_conversation(row["prompt"], {"system", "user"})
    assert row["chosen"] == [{"role": "assistant", "content": "You did well."}]
    assert row["rejected"] == [{"role": "assistant", "content": "Whatever."}]


def test_sharegpt_renames_roles():
    row = WRITERS["sharegpt"].row(EXAMPLES["multi"])
    assert [turn["from"] for turn in row["conversations"]] == [
        "system",
        "human",
        "gpt",
        "human",
        "gpt",
    ]


def test_alpaca_puts_the_user_message_in_instruction():
    assert WRITERS["alpaca"].row(EXAMPLES["system"]) == {
        "instruction": "Capital of France?",
        "input": "",
        "output": "Paris",
        "system": "You are terse.",
    }
    assert "system" not in WRITERS["alpaca"].row(EXAMPLES["single"])


def test_write_jsonl_is_sorted_lines_and_replaces_atomically(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old content that must disappear\n")
    count = write_jsonl(path, [{"b": 1, "a": "é"}, {"z": [1, 2], "m": None}])
    assert count == 2
    assert path.read_bytes() == '{"a":"é","b":1}\n{"m":null,"z":[1,2]}\n'.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary left behind


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")

    def rows():
        yield {"a": 1}
        raise RuntimeError("generator broke")

    with pytest.raises(RuntimeError, match="generator broke"):
        write_jsonl(path, rows())
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_rows_are_json_round_trippable():
    for writer in WRITERS.values():
        for example in EXAMPLES.values():
            if writer.accepts(example) is None:
                row = writer.row(example)
                assert orjson.loads(orjson.dumps(row)) == row
