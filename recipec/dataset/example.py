"""Training examples: format-neutral chat or preference records in, JSON-safe journal dicts out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

Kind = Literal["chat", "preference"]
KINDS: tuple[Kind, ...] = ("chat", "preference")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat turn; `role` is one of ROLES."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Example:
    """A training example, checked on construction.

    chat: an optional system message, then user/assistant turns alternating, ending with the
    assistant. preference: an optional system message and one user message (the prompt), with
    the two answers in `chosen` and `rejected`.
    """

    id: str
    origin: str
    kind: Kind
    messages: tuple[Message, ...]
    chosen: str | None = None
    rejected: str | None = None
    stratum: str = ""
    synthetic: bool = True

    def __post_init__(self) -> None:
        problem = shape_problem(self)
        if problem is not None:
            raise ValueError(f"example {self.id!r}: {problem}")

    def text(self) -> str:
        """Every message, then chosen and rejected: the text that dedupe and leakage compare."""
        parts = [message.content for message in self.messages]
        parts.extend(answer for answer in (self.chosen, self.rejected) if answer is not None)
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "origin": self.origin,
            "kind": self.kind,
            "messages": [message.to_dict() for message in self.messages],
            "chosen": self.chosen,
            "rejected": self.rejected,
            "stratum": self.stratum,
            "synthetic": self.synthetic,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        return cls(
            id=data["id"],
            origin=data["origin"],
            kind=cast(Kind, data["kind"]),
            messages=tuple(Message(m["role"], m["content"]) for m in data["messages"]),
            chosen=data.get("chosen"),
            rejected=data.get("rejected"),
            stratum=data.get("stratum", ""),
            synthetic=data.get("synthetic", True),
        )


def shape_problem(example: Example) -> str | None:
    """Why `example` is not a well-formed chat or preference example, or None."""
    if example.kind not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}, not {example.kind!r}"
    if not isinstance(example.messages, tuple):
        return "messages must be a tuple of Message"
    roles = [message.role for message in example.messages]
    if example.kind == "chat":
        return _chat_problem(roles, example)
    return _preference_problem(roles, example)


def _chat_problem(roles: list[str], example: Example) -> str | None:
    if example.chosen is not None or example.rejected is not None:
        return "a chat example has no chosen or rejected answer"
    turns = roles[1:] if roles[:1] == ["system"] else roles
    expected = ["user", "assistant"] * (len(turns) // 2)
    if not turns or turns != expected:
        return f"chat roles must be system?, then user/assistant pairs; got {roles}"
    return None


def _preference_problem(roles: list[str], example: Example) -> str | None:
    if roles not in (["user"], ["system", "user"]):
        return f"a preference prompt is system? then one user message; got {roles}"
    if example.chosen is None or example.rejected is None:
        return "a preference example needs both chosen and rejected"
    return None


def prompt_messages(example: Example) -> tuple[Message, ...]:
    """The messages up to and including the last user turn."""
    last_user = max(i for i, message in enumerate(example.messages) if message.role == "user")
    return example.messages[: last_user + 1]


def final_answer(example: Example) -> str:
    """The answer a supervised trainer learns: the last assistant turn, or `chosen`."""
    if example.kind == "preference":
        return cast(str, example.chosen)
    return example.messages[-1].content


def responses(example: Example) -> list[str]:
    """Everything the teacher wrote as an answer: assistant turns, chosen and rejected."""
    texts = [message.content for message in example.messages if message.role == "assistant"]
    texts.extend(answer for answer in (example.chosen, example.rejected) if answer is not None)
    return texts
