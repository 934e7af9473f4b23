"""String literals: raw spelling in, value out (and where a long string's lines start)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


def unescape(body: str) -> str:
    """Backslash escapes as in JSON for \\\\ \\" \\n \\t \\r; any other backslash stays, so that
    regular expressions read as written (`"\\d+"` is the pattern \\d+)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in _ESCAPES:
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class LongString:
    value: str
    first_line: int  # lines between the opening quotes and the value's first line
    indent: int  # columns removed from each line by dedenting


def long_string(raw: str) -> LongString:
    """A triple-quoted string is dedented and its surrounding blank lines dropped."""
    content = raw[3:-3]
    lines = content.split("\n")
    skipped = 0
    while lines and not lines[0].strip():
        lines.pop(0)
        skipped += 1
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return LongString("", 0, 0)
    body = "\n".join(lines)
    dedented = textwrap.dedent(body)
    indent = len(lines[0]) - len(dedented.split("\n")[0])
    return LongString(dedented.rstrip(), skipped, indent)


def string_value(raw: str) -> str:
    if raw.startswith('"""'):
        return long_string(raw).value
    return unescape(raw[1:-1])


def quote(value: str) -> str:
    """The canonical short-string spelling of a value (used where no raw spelling exists)."""
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body.replace(chr(9), chr(92) + "t")}"'
