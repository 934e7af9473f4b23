"""Bad input of every kind ends in a diagnostic, in bounded time and memory: template bombs in
check, plan and build; files outside the recipe's folders; malformed sources; runaway nesting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import recipec
from recipec.checker import context as checker_context
from recipec.diagnostics import RecipeError
from recipec.source import ALLOW_ENV

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SECRET = "s3cr3t-line-that-must-never-be-echoed"
PAD = "# " + "padding " * 1200 + "\n"


def recipe(prompt: str, persona: str = "age = int(18..25)", extra: str = "") -> str:
    return f"""
model teacher {{
  file   = "{MODEL}"
  sha256 = "{SHA}"
}}

persona student {{
  {persona}
}}

task t {{
  persona = student
  prompt  = "{prompt}"
  output {{
    text: string(1..20)
  }}
  format = chat(user = text, assistant = text)
}}
{extra}
mix m {{
  take t 3
  write "out" as openai_chat
}}
"""


def cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> tuple[int, str, float]:
    """Run the CLI in a subprocess; a hang fails the test instead of stalling the suite."""
    env = {**os.environ, "RECIPEC_THREADS": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "recipec.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def diagnostics(path: Path, allow: tuple[Path, ...] = ()) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(path, allow=allow), allow=allow)
    return [(d.code, d.message) for d in info.value.diagnostics]


# ---- template bombs -----------------------------------------------------------------------

BOMBS = {
    "power": "{{ (10 ** (10 ** 10)) > 1 }}",
    "repeat": "{{ ('x' * 10 ** 9) | length }}",
    "nested-range": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "output": "{% for i in range(99999) %}{{ loop.index }} and more text{% endfor %}",
    "lipsum": "{{ lipsum(n = 1000000) }}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "caller-doubling": "{% macro a() %}{{ caller() }}{{ caller() }}{% endmacro %}"
    + "{% call a() %}" * 40
    + "x"
    + "{% endcall %}" * 40,
    "center": "{{ 'x' | center(1000000000) }}",
    "format": "{{ '{:>999999999}'.format(1) }}",
    "replace": "{{ ('x' * 100000) | replace('x', 'x' * 100000) }}",
    "join": "{{ range(100000) | join('x' * 1000) }}",
    "escape": "{{ task.__class__.__mro__ }}",
    "include": "{% include 'secrets.txt' %}",
    "overflow": "{{ 2.0 ** 100000 }}",
    "nested-if": "{% if 1 %}" * 150 + "{% endif %}" * 150,
    "nested-parens": "{{ " + "(" * 400 + "1" + ")" * 400 + " }}",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_template_bomb_is_a_check_diagnostic(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bomb.recipe"
    path.write_text(recipe(BOMBS[name]))
    started = time.monotonic()
    found = diagnostics(path)
    assert time.monotonic() - started < 10
    assert [code for code, _ in found] == ["template"] * len(found) and found, found


@pytest.mark.parametrize("command", ["check", "plan", "build"])
def test_template_bomb_fails_every_command_quickly(command: str, tmp_path: Path) -> None:
    path = tmp_path / "bomb.recipe"
    path.write_text(recipe(BOMBS["power"]))
    extra = ("--out", str(tmp_path / "out")) if command == "build" else ()
    rc, output, seconds = cli(command, str(path), *extra)
    assert rc == 1, output
    assert "Traceback" not in output
    assert "bomb.recipe:" in output and "power has more than 4096 bits" in output
    assert seconds < 30
    assert not (tmp_path / "out").exists()  # the build stopped before anything was written


def test_bomb_only_some_personas_reach_is_reported_by_plan(tmp_path: Path) -> None:
    """check renders each template once; a bomb behind a rarer persona is plan's to find."""
    path = tmp_path / "rare.recipe"
    for age in range(18, 26):
        path.write_text(
            recipe(f"{{% if persona.age != {age} %}}{{{{ 'x' * 10 ** 9 }}}}{{% endif %}}")
        )
        try:
            recipec.check(recipec.parse(path))
        except RecipeError:
            continue
        break
    else:
        pytest.fail("every variant was caught by check: the test needs another template")
    rc, output, seconds = cli("plan", str(path), "--json", timeout=120)
    assert rc == 1 and "Traceback" not in output
    assert "the repetition grows past 1,000,000" in output
    assert seconds < 60


def test_template_limits_leave_ordinary_prompts_alone(tmp_path: Path) -> None:
    prompt = (
        "{% for i in range(3) %}{{ i }}: {{ persona.age * 2 }} {{ 'ab' * 3 }} "
        "{{ '%05d' % persona.age }} {{ '{:>6}'.format(task) }} {{ ('x' ~ 'y') | center(8) }}"
        "{{ '* item %s' % task }} {{ '**{}**'.format(task) }} {{ '%5.1f%%'|format(2.5) }}"
        "{% endfor %}"
    )
    path = tmp_path / "fine.recipe"
    path.write_text(recipe(prompt))
    plan = recipec.plan(recipec.check(recipec.parse(path)))
    content = next(plan.jobs()).messages[-1]["content"]
    assert content.startswith("0: ") and "ababab" in content and "   xy   " in content
    assert "* item t" in content and "**t**" in content and "  2.5%" in content


# ---- confined paths -----------------------------------------------------------------------


@pytest.fixture
def confined(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """A recipe folder, and a folder beside it holding a secret."""
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    folder, outside = tmp_path / "recipes", tmp_path / "private"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.jsonl").write_text(f'{{"message": "{SECRET}"}}\n{SECRET}\n')
    (outside / "names.txt").write_text(SECRET + "\n")
    return folder, outside


def source_recipe(file: str, fields: str = "{ message: string }") -> str:
    return f'source s {{\n  file = "{file}"\n  fields = {fields}\n}}\n'


@pytest.mark.parametrize(
    "statement",
    [
        'source s {{ file = "{secret}" fields = {{ message: string }} }}',
        'persona p {{ name = lines("{names}") }}',
        'persona p {{ name = column("{secret}", "message") }}',
        'include "{secret}"',
    ],
)
def test_files_outside_the_recipe_folder_are_refused_unechoed(
    statement: str, confined: tuple[Path, Path]
) -> None:
    folder, outside = confined
    path = folder / "r.recipe"
    path.write_text(
        statement.format(secret=outside / "secret.jsonl", names=outside / "names.txt") + "\n"
    )
    found = diagnostics(path)
    assert [code for code, _ in found] == ["confined"], found
    assert "outside the folders this recipe may read" in found[0][1]
    rc, output, _ = cli("check", str(path))
    assert rc == 1 and SECRET not in output and "Traceback" not in output


def test_a_symlink_cannot_lead_out_of_the_folder(confined: tuple[Path, Path]) -> None:
    folder, outside = confined
    (folder / "data.jsonl").symlink_to(outside / "secret.jsonl")
    path = folder / "r.recipe"
    path.write_text(source_recipe("data.jsonl"))
    assert [code for code, _ in diagnostics(path)] == ["confined"]


def test_allowed_folders_by_parameter_and_environment(
    confined: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, outside = confined
    path = folder / "r.recipe"
    path.write_text(source_recipe(str(outside / "secret.jsonl"), "{ message: string }"))
    # Allowed, the file is read: its second line is not JSON, which is now reported.
    for allow in [(outside,), ()]:
        if not allow:
            monkeypatch.setenv(ALLOW_ENV, f"/nonexistent{os.pathsep}{outside}")
        found = diagnostics(path, allow)
        assert [code for code, _ in found] == ["data"], found


def test_the_cli_allows_a_folder_with_allow_dir(confined: tuple[Path, Path]) -> None:
    folder, outside = confined
    path = folder / "r.recipe"
    path.write_text('persona p {\n  name = lines("../private/names.txt")\n}\n')
    rc, output, _ = cli("check", str(path))
    assert rc == 1 and "[confined]" in output
    rc, output, _ = cli("check", "--allow-dir", str(outside), str(path))
    assert rc == 0, output


def test_devices_pipes_and_folders_are_refused(
    confined: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = confined
    os.mkfifo(folder / "pipe.txt")
    (folder / "dir.txt").mkdir()
    path = folder / "r.recipe"
    path.write_text(
        'persona p {\n  a = lines("pipe.txt")\n  b = lines("dir.txt")\n'
        '  c = lines("/dev/zero")\n}\n'
    )
    monkeypatch.setenv(ALLOW_ENV, "/dev")
    started = time.monotonic()
    found = diagnostics(path)
    assert time.monotonic() - started < 5
    assert sorted(m for _, m in found) == [
        "'/dev/zero' is not a regular file",
        f"'{folder / 'dir.txt'}' is not a regular file",
        f"'{folder / 'pipe.txt'}' is not a regular file",
    ]
    rc, output, seconds = cli("check", "/dev/zero", timeout=30)
    assert rc == 1 and "is not a regular file" in output and seconds < 20


def test_files_above_the_size_limit_are_refused(
    confined: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = confined
    (folder / "big.jsonl").write_text('{"message": "hello"}\n' * 100)
    path = folder / "r.recipe"
    path.write_text(source_recipe("big.jsonl"))
    monkeypatch.setattr(checker_context, "MAX_DATA_BYTES", 1000)
    found = diagnostics(path)
    assert found == [("file", f"'{folder / 'big.jsonl'}' is 2,100 bytes, above the limit of 1,000")]


def test_shipped_recipes_still_find_their_model_and_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models are found by sha256-verified lookup, not confined: `../models/` keeps working."""
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    for path in sorted((ROOT / "recipes").glob("*.recipe")):
        recipec.check(recipec.parse(path))


# ---- strict sources -----------------------------------------------------------------------

STRAY_COMMA = (
    "message,reply,condition\n"
    '"I cannot sleep","Try a wind-down routine",insomnia\n'
    'I miss home, a lot,"Call home every week",homesickness\n'
    '"Exams next week","Plan short sessions",exam stress\n'
)


def test_a_csv_row_with_a_stray_comma_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(STRAY_COMMA)
    path = tmp_path / "r.recipe"
    path.write_text(source_recipe("s.csv", "{ message: string, reply: string, condition: string }"))
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(path))
    (d,) = info.value.diagnostics
    assert (d.code, Path(d.span.file).name, d.span.line) == ("data", "s.csv", 3)
    assert d.message.startswith("the row has 4 cells, the header has 3")


def test_on_error_skip_counts_the_row_and_never_shifts_values(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(STRAY_COMMA)
    path = tmp_path / "r.recipe"
    path.write_text(
        'source s {\n  file = "s.csv"\n  fields = { message: string, reply: string, '
        'condition: string }\n  on_error = "skip"\n}\n'
    )
    src = recipec.check(recipec.parse(path)).sources["s"]
    assert [r["condition"] for r in src.rows] == ["insomnia", "exam stress"]
    assert src.lines == (2, 4)
    assert [line for line, _ in src.skipped] == [3]


@pytest.mark.parametrize(
    ("content", "fields", "message"),
    [
        ("a,b\n1,2,3\n", "{ a: int, b: int }", "the row has 3 cells, the header has 2"),
        ("a,b\n1\n", "{ a: int, b?: int }", "the row has 1 cells, the header has 2"),
        ("a,a\n1,2\n", "{ a: int }", "the CSV header names column 'a' twice"),
        ("a,b\n1,2\n", "{ a: int, c: int }", "the CSV header has no column 'c'"),
        ("a\nnan\n", "{ a: float }", "field 'a' must be float"),
        ("a\n" + "9" * 5000 + "\n", "{ a: int }", "field 'a' must be int"),
    ],
)
def test_malformed_csv_sources(content: str, fields: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(content)
    path = tmp_path / "r.recipe"
    path.write_text(source_recipe("s.csv", fields))
    found = diagnostics(path)
    assert len(found) == 1 and found[0][0] == "data" and found[0][1].startswith(message), found


def test_jsonl_rows_of_the_wrong_shape(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text(
        '{"message": "ok"}\n[1, 2]\n{"message": 3}\n{"message": NaN}\n"text"\n'
    )
    path = tmp_path / "r.recipe"
    path.write_text(source_recipe("s.jsonl"))
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(path))
    assert [d.span.line for d in info.value.diagnostics] == [2, 3, 4, 5]


# ---- no traceback from any input ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (source_recipe("x" * 300 + ".jsonl"), "file"),
        # A NUL byte past the first 8 KiB (where it would make the file binary, not text).
        (PAD + source_recipe("a\x00b.jsonl"), "file"),
        ('include "' + "y" * 300 + '.recipe"\n', "file"),
        (f'model m {{\n  file = "/{"m" * 300}"\n  sha256 = "{SHA}"\n}}\n', "file"),
        (PAD + 'mix m {\n  take t 1\n  write "o\x00ut" as openai_chat\n}\n', "type"),
        ("recipe r {\n  seed = 1e999\n}\n", "range"),
        ("mix m {\n  total = 10\n  take t 1e300%\n}\n", "range"),
        (
            "persona p {\n  a = 1\n  b = "
            + "if a == 1 then " * 460
            + "1"
            + " else 2" * 460
            + "\n}\n",
            "nesting",
        ),
        ("persona p {\n  a = 1\n  require " + "not " * 3000 + "a == 1\n}\n", "nesting"),
    ],
    ids=[
        "long-path",
        "nul-path",
        "long-include",
        "long-model",
        "nul-write",
        "1e999",
        "huge-percent",
        "if-460",
        "not-3000",
    ],
)
def test_no_traceback(text: str, code: str, tmp_path: Path) -> None:
    path = tmp_path / "r.recipe"
    path.write_text(text)
    found = diagnostics(path)
    assert code in [c for c, _ in found], found
    rc, output, _ = cli("check", str(path))
    assert rc == 1 and "Traceback" not in output


def test_fmt_of_deep_nesting_is_a_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "r.recipe"
    path.write_text("persona p {\n  a = " + "[" * 250 + "1" + "]" * 250 + "\n}\n")
    rc, output, _ = cli("fmt", "--check", str(path))
    assert rc == 1 and "nesting deeper than 100 levels" in output and "Traceback" not in output


def test_row_errors_are_capped_per_source(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text("not json\n" * 50)
    path = tmp_path / "r.recipe"
    path.write_text(source_recipe("s.jsonl"))
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(path))
    found = [(d.span.line, d.message) for d in info.value.diagnostics]
    assert len(found) == 21 and found[-1] == (21, "30 more malformed rows from here on, not shown")


def test_a_database_path_the_system_refuses_is_a_diagnostic(tmp_path: Path) -> None:
    """Found by the recipe fuzz: a database `schema` path over 255 bytes raised OSError."""
    recipe = tmp_path / "r.recipe"
    text = (ROOT / "recipes" / "text_to_sql.recipe").read_text()
    start = text.index('schema  = "') + len('schema  = "')
    end = text.index('"', start)
    recipe.write_text(text[:start] + "/" + "m" * 300 + text[end:])
    with pytest.raises(RecipeError) as info:
        recipec.check(recipec.parse(recipe))
    assert any(d.code == "file" and "schema" in d.message for d in info.value.diagnostics)
