"""Source text and Span: where a piece of a recipe came from (file, 1-based line and column)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int  # exclusive

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("<unknown>", 0, 0, 0, 0)


@dataclass(frozen=True)
class Source:
    """A recipe's text together with the name it is reported under."""

    name: str
    text: str

    @classmethod
    def read(cls, path: Path, display: str | None = None) -> Source:
        return cls(display or str(path), decode_text(path.read_bytes(), display or str(path)))

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


class NotText(ValueError):
    """The file is not UTF-8 text (a binary file, say)."""


def decode_text(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise NotText(f"{name} is a binary file, not a recipe")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotText(f"{name} is not UTF-8 text (byte {exc.start} is invalid)") from None
    return text.removeprefix("\ufeff")
