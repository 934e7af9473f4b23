"""Hints that must fit the case: the missing-model hint names `make model` only for the default
teacher."""

from __future__ import annotations

from pathlib import Path

import pytest

import recipec
from recipec.diagnostics import RecipeError

RECIPE = """model teacher {{
  file   = "{file}"
  sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
}}
"""


def _hint(tmp_path: Path, file: str) -> str:
    path = tmp_path / "r.recipe"
    path.write_text(RECIPE.format(file=file))
    with pytest.raises(RecipeError) as caught:
        recipec.check(recipec.parse(path))
    [diag] = caught.value.diagnostics
    assert diag.message == f"model file '{file}' not found"
    return diag.hint or ""


def test_own_gguf_gets_check_the_path(tmp_path: Path) -> None:
    hint = _hint(tmp_path, "weights/qwen2.5-7b-instruct-q4_k_m.gguf")
    assert "make model" not in hint
    assert "check the path" in hint and "put the file there" in hint


def test_default_teacher_gets_make_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run from an empty folder so that the repository's own models/ is not found.
    monkeypatch.chdir(tmp_path)
    assert "make model" in _hint(tmp_path, "nowhere/SmolLM2-135M-Instruct.Q4_1.gguf")
