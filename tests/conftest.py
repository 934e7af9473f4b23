"""Shared fixtures: the real default teacher, and paths to the test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recipec.source import ALLOW_ENV

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEACHER = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_TEACHER_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# The case recipes of every stage share the data under tests/cases/check/data, outside their own
# folders: the suite allows tests/cases explicitly, as a user would (subprocesses inherit it).
# Tests of confinement itself remove it with monkeypatch.delenv.
os.environ.setdefault(ALLOW_ENV, str(ROOT / "tests" / "cases"))
# Every recipec command the suite runs (builds on the real teacher included) refuses to open a
# socket: a build that reached for the network would fail its test.
os.environ["RECIPEC_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def teacher_path() -> Path:
    """The real default teacher; a missing model is a failure, never a skip."""
    if not DEFAULT_TEACHER.is_file():
        pytest.fail(f"{DEFAULT_TEACHER} is missing: run `make model` first")
    return DEFAULT_TEACHER
