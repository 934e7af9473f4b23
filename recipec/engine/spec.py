"""Model and sampling settings in, nothing out: the frozen inputs of every engine call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    """Where a teacher lives and how to run it; `threads=None` means one per usable core."""

    name: str
    path: Path
    sha256: str | None
    context: int = 2048
    threads: int | None = None
    gpu_layers: int = 0
    chat_template: str | None = None
    batch: int = 512


@dataclass(frozen=True)
class Sampling:
    """Decoding settings; `temperature=0` is greedy, `top_k=0` and `min_p=0` are off."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    max_tokens: int = 512


def default_threads() -> int:
    """RECIPEC_THREADS if set, else the number of cores this process may run on."""
    configured = os.environ.get("RECIPEC_THREADS", "").strip()
    if configured:
        return max(1, int(configured))
    return len(os.sched_getaffinity(0))
