"""Export formats: each format's name and what it needs of a record; the one definition the
checker (which names it accepts, what it refuses at compile time) and the writers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Needs = Literal["any", "single_turn", "preference"]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    needs: Needs  # any record; one user turn only; a preference record (chosen + rejected)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("openai_chat", "any"),
        ExportFormat("trl_conversational", "any"),
        ExportFormat("trl_prompt_completion", "any"),
        ExportFormat("sharegpt", "any"),
        ExportFormat("alpaca", "single_turn"),
        ExportFormat("dpo", "preference"),
    )
}
