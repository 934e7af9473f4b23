"""Chat messages and a Jinja chat template in, the prompt text the teacher reads out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

# Templates that print today's date would make a build depend on the day it ran.
FIXED_NOW = datetime(2024, 1, 1)
# A chat template comes from a downloaded file: `'x' * 10**9` or `10**(10**10)` must fail fast.
MAX_REPEAT = 1 << 20
MAX_POWER_BITS = 1 << 12


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox with `*` and `**` bounded; intercepting them also stops Jinja from
    folding them at compile time, where `10**(10**10)` would run before any check."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        return super().call_binop(context, operator, left, right)


def _check_power(base: Any, exponent: Any) -> None:
    whole = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if whole and base.bit_length() * exponent > MAX_POWER_BITS:
        raise SecurityError(f"{base} ** {exponent} is too large for a chat template")


def _check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
        if sized and len(seq) * times > MAX_REPEAT:
            raise SecurityError(f"repeating {len(seq)} items {times} times is too long")


class ChatTemplate:
    """A compiled chat template, rendered the way llama-cpp-python and transformers do."""

    def __init__(self, source: str, bos_token: str, eos_token: str) -> None:
        environment = _Sandbox(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[jinja2.ext.loopcontrols],
        )
        environment.filters["tojson"] = _tojson
        self.template = environment.from_string(source)
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt for `messages`, ending where the assistant's answer begins."""
        return self.template.render(
            messages=messages,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            add_generation_prompt=True,
            raise_exception=_raise,
            strftime_now=FIXED_NOW.strftime,
        )


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, **kw: Any) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, **kw)


def _raise(message: str) -> None:
    raise ValueError(message)
