"""Export formats: Examples in, JSON rows in the shape each trainer reads out; atomic JSONL files.

Chat formats given a preference example train on its chosen answer (the prompt followed by
`chosen` as the assistant turn): that is what supervised fine-tuning on a preference set means.
Only `dpo` keeps the rejected answer, and it needs a preference example.

    openai_chat            {"messages": [{"role", "content"}, ...]}   (OpenAI fine-tuning)
    trl_conversational     {"messages": [...]}    (TRL conversational language modeling)
    trl_prompt_completion  {"prompt": [...], "completion": [{"role": "assistant", ...}]}
    sharegpt               {"conversations": [{"from": "system"|"human"|"gpt", "value"}, ...]}
    alpaca                 {"instruction", "input", "output"} (+ "system"), single turn only
    dpo                    {"prompt": [...], "chosen": [assistant], "rejected": [assistant]}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from recipec.atomic import write_atomic
from recipec.dataset.example import Example, Message, final_answer, prompt_messages
from recipec.formats import FORMATS, Needs

Row = dict[str, Any]
JSONL_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


@dataclass(frozen=True)
class Writer:
    """One export format: which examples it can encode, and the row for each."""

    name: str
    refuse: Callable[[Example], str | None]
    encode: Callable[[Example], Row]

    def accepts(self, example: Example) -> str | None:
        """None if this format can encode `example`, else the reason it cannot."""
        return self.refuse(example)

    def row(self, example: Example) -> Row:
        reason = self.accepts(example)
        if reason is not None:
            raise ValueError(f"{self.name} cannot encode example {example.id!r}: {reason}")
        return self.encode(example)


def sft_messages(example: Example) -> tuple[Message, ...]:
    """The conversation a supervised trainer sees; for preference examples, prompt + chosen."""
    if example.kind == "preference":
        return (*example.messages, Message("assistant", final_answer(example)))
    return example.messages


def _dicts(messages: Iterable[Message]) -> list[dict[str, str]]:
    return [message.to_dict() for message in messages]


def _assistant(content: str | None) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": content or ""}]


def _any(example: Example) -> str | None:
    return None


def _single_turn(example: Example) -> str | None:
    users = sum(message.role == "user" for message in example.messages)
    return None if users == 1 else f"alpaca holds one instruction, this example has {users} turns"


def _preference_only(example: Example) -> str | None:
    return None if example.kind == "preference" else "dpo needs a preference example"


def _messages_row(example: Example) -> Row:
    return {"messages": _dicts(sft_messages(example))}


def _prompt_completion_row(example: Example) -> Row:
    return {
        "prompt": _dicts(prompt_messages(example)),
        "completion": _assistant(final_answer(example)),
    }


def _sharegpt_row(example: Example) -> Row:
    turns = sft_messages(example)
    return {"conversations": [{"from": SHAREGPT_ROLES[m.role], "value": m.content} for m in turns]}


def _alpaca_row(example: Example) -> Row:
    row: Row = {"instruction": prompt_messages(example)[-1].content, "input": ""}
    row["output"] = final_answer(example)
    if example.messages[0].role == "system":
        row["system"] = example.messages[0].content
    return row


def _dpo_row(example: Example) -> Row:
    return {
        "prompt": _dicts(example.messages),
        "chosen": _assistant(example.chosen),
        "rejected": _assistant(example.rejected),
    }


_REFUSE: dict[Needs, Callable[[Example], str | None]] = {
    "any": _any,
    "single_turn": _single_turn,
    "preference": _preference_only,
}
_ENCODE: dict[str, Callable[[Example], Row]] = {
    "openai_chat": _messages_row,
    "trl_conversational": _messages_row,
    "trl_prompt_completion": _prompt_completion_row,
    "sharegpt": _sharegpt_row,
    "alpaca": _alpaca_row,
    "dpo": _dpo_row,
}
# One writer per format of recipec.formats; what each refuses follows from what it needs.
WRITERS: dict[str, Writer] = {
    name: Writer(name, _REFUSE[f.needs], _ENCODE[name]) for name, f in FORMATS.items()
}


def jsonl_lines(rows: Iterable[Row]) -> Iterator[bytes]:
    """One sorted-key JSON object per line: the bytes of a JSONL file, streamed."""
    for row in rows:
        yield orjson.dumps(row, option=JSONL_OPTIONS)


def write_jsonl(path: Path, rows: Iterable[Row]) -> int:
    """Write one sorted-key JSON object per line, atomically; return the number of rows."""
    count = 0

    def counted() -> Iterator[Row]:
        nonlocal count
        for row in rows:
            yield row
            count += 1

    write_atomic(path, jsonl_lines(counted()))
    return count
