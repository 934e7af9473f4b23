"""The CLI on good and bad input: exit codes, messages, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from recipec.cli import main, use_color
from recipec.diagnostics import Diagnostic, as_github, render
from recipec.scaffold import shipped
from recipec.source import Span

ROOT = Path(__file__).parent.parent
GOOD = ROOT / "recipes" / "counseling.recipe"


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recipec.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_check_clean_exits_0() -> None:
    result = run("check", GOOD)
    assert result.returncode == 0, result.stderr
    assert "no errors" in result.stdout


def test_check_reports_every_error_with_location_and_exits_1() -> None:
    path = ROOT / "tests" / "cases" / "check" / "mixes.recipe"
    result = run("check", path)
    assert result.returncode == 1
    no_traceback(result)
    assert f"{path}:30:3: error: take 5 from 'real'" in result.stderr
    assert "    ^~~~" in result.stderr
    assert "7 errors found" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("check").returncode == 2
    assert run("check", "no-such-file.recipe").returncode == 2
    assert run("frobnicate").returncode == 2


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\xff" * 100,
        "garbage ☃ {{{ ]]] \n".encode() * 500_000,
        b"\xff\xfe not utf8",
        b"recipe x { seed = }",
    ],
    ids=["binary", "10MB-garbage", "bad-utf8", "syntax"],
)
def test_bad_files_get_a_message_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.recipe"
    path.write_bytes(content)
    result = run("check", path)
    assert result.returncode == 1
    no_traceback(result)
    assert "error:" in result.stderr


def test_empty_recipe_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "empty.recipe"
    path.write_text("")
    assert run("check", path).returncode == 0


def test_fmt_check_and_diff_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ugly.recipe"
    ugly = "recipe  x {seed=1}\n"
    path.write_text(ugly)
    assert run("fmt", "--check", path).returncode == 1
    diff = run("fmt", "--diff", path)
    assert diff.returncode == 0 and "+  seed = 1" in diff.stdout
    assert path.read_text() == ugly
    assert run("fmt", path).returncode == 0
    assert path.read_text() == "recipe x {\n  seed = 1\n}\n"
    assert run("fmt", "--check", path).returncode == 0


def test_include_splices_declarations(tmp_path: Path) -> None:
    (tmp_path / "common.recipe").write_text("persona p {\n  age = int(1..3)\n}\n")
    main = tmp_path / "main.recipe"
    main.write_text('include "common.recipe"\ninclude "missing.recipe"\n')
    result = run("check", main)
    assert result.returncode == 1
    assert "main.recipe:2:1: error: included file 'missing.recipe' not found" in result.stderr
    main.write_text('include "common.recipe"\n')
    assert run("check", main).returncode == 0


def test_plan_summary_and_json() -> None:
    summary = run("plan", GOOD)
    assert summary.returncode == 0, summary.stderr
    assert "take counseling_turn" in summary.stdout and "quota" in summary.stdout
    full = run("plan", "--json", GOOD)
    assert full.returncode == 0 and full.stdout.startswith('{"header":')


# ---- CLI habits: -q/-v, --color, output formats, folders, versions, models, init --------------

CASCADE = ROOT / "tests" / "cases" / "check" / "cascade.recipe"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NO_ENV = {"NO_COLOR": None, "FORCE_COLOR": None}


def cli(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    """In-process run; stdout and stderr apart. Colour variables are cleared unless given."""
    return CliRunner().invoke(main, [str(a) for a in args], env={**NO_ENV, **(env or {})})


def test_plain_rendering_is_the_gcc_form_byte_for_byte() -> None:
    diag = Diagnostic(
        "undefined-name",
        "unknown persona 'studnet'",
        Span("r.recipe", 2, 13, 2, 20),
        "did you mean 'student'?",
    )
    lines = {"r.recipe": ["task t {", "  persona = studnet"]}
    assert render(diag, lines) == (
        "r.recipe:2:13: error: unknown persona 'studnet'  [undefined-name]\n"
        "      persona = studnet\n"
        "                ^~~~~~~\n"
        "    hint: did you mean 'student'?"
    )


def test_colour_is_off_by_default_and_changes_nothing_but_escapes() -> None:
    plain = cli("check", CASCADE)
    never = cli("--color", "never", "check", CASCADE)
    always = cli("check", "--color", "always", CASCADE)
    assert plain.exit_code == never.exit_code == always.exit_code == 1
    assert not ANSI.search(plain.stderr) and plain.stderr == never.stderr
    assert ANSI.search(always.stderr)
    assert click.unstyle(always.stderr) == plain.stderr


@pytest.mark.parametrize(
    ("choice", "env", "tty", "expected"),
    [
        ("auto", {}, False, False),
        ("auto", {}, True, True),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"FORCE_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": "0"}, False, False),
        ("auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),
        ("auto", {"TERM": "dumb"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_colour_choice(choice: str, env: dict[str, str], tty: bool, expected: bool) -> None:
    assert use_color(choice, env, tty) is expected


def test_no_color_and_force_color_reach_the_output() -> None:
    assert ANSI.search(cli("check", CASCADE, env={"FORCE_COLOR": "1"}).stderr)
    assert not ANSI.search(cli("check", CASCADE, env={"NO_COLOR": "1", "FORCE_COLOR": "1"}).stderr)
    assert ANSI.search(cli("--color", "always", "check", CASCADE, env={"NO_COLOR": "1"}).stderr)


def test_quiet_prints_only_errors_and_verbose_says_more() -> None:
    clean = cli("-q", "check", GOOD)
    assert clean.exit_code == 0 and clean.stdout == "" and clean.stderr == ""
    errors = cli("check", "-q", CASCADE)
    assert errors.exit_code == 1 and "error:" in errors.stderr
    assert "errors found" not in errors.stderr
    verbose = cli("check", "-v", GOOD)
    assert verbose.exit_code == 0 and f"checked {GOOD}: no errors" in verbose.stderr
    both = cli("-q", "check", "-v", GOOD)
    assert both.exit_code == 2 and "cannot be used together" in both.stderr


def test_check_json_lists_every_diagnostic_with_its_span() -> None:
    result = cli("check", "--output-format", "json", CASCADE)
    assert result.exit_code == 1 and result.stderr == ""
    found = json.loads(result.stdout)
    keys = {"file", "line", "col", "end_line", "end_col", "code", "severity", "message", "hint"}
    assert all(set(d) == keys for d in found)
    assert [(d["line"], d["code"]) for d in found] == [
        (22, "undefined-name"),
        (25, "undefined-name"),
        (27, "mix"),
        (28, "range"),
    ]
    first = found[0]
    assert (first["file"], first["col"], first["end_line"], first["end_col"]) == (
        str(CASCADE),
        26,
        22,
        38,
    )
    assert first["severity"] == "error" and first["hint"] == "did you mean 'level'?"
    clean = cli("check", "--output-format", "json", GOOD)
    assert clean.exit_code == 0 and json.loads(clean.stdout) == []


def test_check_github_annotations() -> None:
    result = cli("check", "--output-format", "github", CASCADE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0] == (
        f"::error file={CASCADE},line=22,col=26,endLine=22,endColumn=38,"
        "title=recipec [undefined-name]::persona 'student' has no attribute 'levl'"
        "%0Ahint: did you mean 'level'?"
    )
    # '%' and newlines in a message are escaped, so one annotation stays one line.
    assert lines[3].endswith("not 80%0Ahint: write 0.8 for 80%25")


def test_github_escapes_properties() -> None:
    diag = Diagnostic("syntax", "a\r\nb", Span("dir,x/a:b.recipe", 1, 2, 1, 3))
    assert as_github(diag) == (
        "::error file=dir%2Cx/a%3Ab.recipe,line=1,col=2,endLine=1,endColumn=3,"
        "title=recipec [syntax]::a%0D%0Ab"
    )


def test_check_and_fmt_take_folders(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "two.recipe").write_text("recipe  two {seed=2}\n")
    (tmp_path / "one.recipe").write_text("recipe one {\n  seed = 1\n}\n")
    (tmp_path / ".hidden" / "skip.recipe").write_text("this is not a recipe")
    (tmp_path / "notes.txt").write_text("not a recipe either")
    checked = cli("-v", "check", tmp_path)
    assert checked.exit_code == 0, checked.output
    assert "2 recipes checked" in checked.stdout
    order = re.findall(r"checked (\S+):", checked.stderr)
    assert order == [str(tmp_path / "b" / "two.recipe"), str(tmp_path / "one.recipe")]
    assert cli("fmt", "--check", tmp_path).exit_code == 1
    formatted = cli("fmt", tmp_path)
    assert formatted.exit_code == 0 and "1 file(s) reformatted, 1 unchanged" in formatted.stderr
    assert (tmp_path / "b" / "two.recipe").read_text() == "recipe two {\n  seed = 2\n}\n"
    assert cli("fmt", "--check", tmp_path).exit_code == 0
    assert f"unchanged {tmp_path / 'one.recipe'}" in cli("fmt", "-v", tmp_path).stderr
    quiet = cli("fmt", "-q", tmp_path)
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""
    (tmp_path / "b" / "bad.recipe").write_text("mix m { split train 80% }\n")
    bad = cli("check", tmp_path)
    assert bad.exit_code == 1 and "split ratios are fractions: write 0.8, not 80%" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = cli("check", empty)
    assert nothing.exit_code == 2 and "no .recipe files under" in nothing.stderr


def test_version_names_recipec_llama_cpp_python_and_llama_cpp() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "recipec 0.1.0"
    assert lines[1] == f"llama-cpp-python {version('llama_cpp_python')}"
    assert lines[2].startswith("llama.cpp ") and "cannot" not in lines[2]
    # The bundled library's own version and ggml's commit, read from the shared library.
    assert re.fullmatch(r"llama\.cpp \S+ \(ggml [\d.]+, commit \S+\)", lines[2]), lines[2]


def test_models_prints_the_full_sha256(teacher_path: Path) -> None:
    from conftest import DEFAULT_TEACHER_SHA256

    result = cli("models", GOOD)
    assert result.exit_code == 0, result.output
    row = result.stdout.splitlines()[1].split()
    assert row[0] == "teacher" and row[-2:] == ["ok", DEFAULT_TEACHER_SHA256]
    bare = cli("models", teacher_path)
    assert bare.exit_code == 0 and bare.stdout.split()[-1] == DEFAULT_TEACHER_SHA256
    assert "unchecked" in bare.stdout


def test_models_turns_every_error_into_a_message(tmp_path: Path, teacher_path: Path) -> None:
    (tmp_path / "cut.gguf").write_bytes(b"GGUF\x03\x00\x00\x00garbage")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "binary.recipe").write_bytes(b"\x00\x01\x02")
    (tmp_path / "broken.recipe").write_text("model m {")
    wrong = tmp_path / "wrong.recipe"
    wrong.write_text(
        f'model teacher {{\n  file   = "{teacher_path}"\n  sha256 = "{"0" * 64}"\n}}\n'
    )
    cases = {
        "cut.gguf": "is truncated",
        "notes.txt": "is not a GGUF model",
        "binary.recipe": "is a binary file, not a recipe",
        "broken.recipe": "unexpected end of the file",
        "wrong.recipe": "but the recipe says " + "0" * 64,
    }
    for name, message in cases.items():
        result = run("models", tmp_path / name, cwd=tmp_path)
        assert result.returncode == 1, (name, result.stderr)
        no_traceback(result)
        assert message in result.stderr, (name, result.stderr)
    nowhere = run("models", cwd=tmp_path)
    assert nowhere.returncode == 1 and "no models/ folder here" in nowhere.stderr
    no_traceback(nowhere)


def test_report_turns_unreadable_builds_into_messages(tmp_path: Path) -> None:
    assert "holds no build (manifest.json is missing)" in cli("report", tmp_path).stderr
    (tmp_path / ".recipec").mkdir()
    (tmp_path / "manifest.json").write_text('{"splits": 3}')
    (tmp_path / "provenance.jsonl").write_text("{}\n")
    (tmp_path / ".recipec" / "examples.jsonl").write_text("not json\n")
    result = run("report", tmp_path)
    assert result.returncode == 1
    no_traceback(result)
    assert "the build's files cannot be read" in result.stderr and "hint:" in result.stderr


def test_plan_json_writes_nothing_when_planning_fails(tmp_path: Path) -> None:
    # These quotas pass `check` but cannot be allocated; the error comes while jobs are written.
    recipe = tmp_path / "quotas.recipe"
    recipe.write_text(
        QUOTAS.format(model=ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"), encoding="utf-8"
    )
    assert run("check", recipe).returncode == 0
    result = run("plan", "--json", recipe)
    assert result.returncode == 1 and "cannot all be met" in result.stderr
    assert result.stdout == ""


QUOTAS = """model teacher {{
  file   = "{model}"
  sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
}}

persona s {{
  year      = choice("freshman", "senior")
  condition = choice("ADHD", "stress")
  require condition != "ADHD" or year == "freshman"
}}

task t {{
  persona = s
  prompt  = "A {{{{ persona.year }}}} with {{{{ persona.condition }}}} writes in."
  output {{
    a: string
  }}
  format = chat(user = a, assistant = a)
}}

mix m {{
  take t 400
  quota t where persona.year == "freshman" exactly 200
  quota t where persona.condition == "ADHD" at_least 200
  write "out/m" as openai_chat
}}
"""


def test_shell_completion_is_generated_and_completes() -> None:
    runner = CliRunner()
    script = runner.invoke(main, [], prog_name="recipec", env={"_RECIPEC_COMPLETE": "bash_source"})
    assert script.exit_code == 0 and "_recipec_completion" in script.output
    words = runner.invoke(
        main,
        [],
        prog_name="recipec",
        env={"_RECIPEC_COMPLETE": "bash_complete", "COMP_WORDS": "recipec ch", "COMP_CWORD": "1"},
    )
    assert words.output.split() == ["plain,check"]
    shipped_names = runner.invoke(
        main,
        [],
        prog_name="recipec",
        env={
            "_RECIPEC_COMPLETE": "bash_complete",
            "COMP_WORDS": "recipec init --from cy",
            "COMP_CWORD": "3",
        },
    )
    assert shipped_names.output.split() == ["plain,cypher_pairs"]


@pytest.mark.parametrize("name", sorted(shipped()))
def test_init_writes_a_recipe_that_checks_where_written(tmp_path: Path, name: str) -> None:
    work = tmp_path / "project"
    work.mkdir()
    result = run("init", "--from", name, cwd=work)
    assert result.returncode == 0, result.stderr
    written = work / f"{name}.recipe"
    assert written.is_file()
    assert "not for training data" in result.stdout  # every shipped recipe uses the 135M teacher
    checked = run("check", written.name, cwd=work)
    assert checked.returncode == 0, checked.stderr
    # Also from somewhere else: its paths are relative to the recipe, not to where it was made.
    assert run("check", written, cwd=tmp_path).returncode == 0


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mine" / "first.recipe"
    assert run("init", target).returncode == 0
    assert (tmp_path / "mine" / "data" / "real_sessions.jsonl").is_file()
    target.write_text("# my edits\n")
    again = run("init", target)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    no_traceback(again)
    assert target.read_text() == "# my edits\n"
    assert run("init", "--force", target).returncode == 0
    assert target.read_text() != "# my edits\n"
    into = run("init", "--from", "support_dpo", f"{tmp_path / 'new'}/")
    assert into.returncode == 0 and (tmp_path / "new" / "support_dpo.recipe").is_file()
    assert run("init", "--from", "nope").returncode == 2


def _stderr_on_a_terminal(*args: str | Path, env: dict[str, str]) -> str:
    """Run the CLI with standard error on a pseudo-terminal, as a user at a shell sees it."""
    import pty

    leader, follower = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recipec.cli", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**clean, "TERM": "xterm", **env},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait()
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color() -> None:
    assert ANSI.search(_stderr_on_a_terminal("check", CASCADE, env={}))
    assert not ANSI.search(_stderr_on_a_terminal("check", CASCADE, env={"NO_COLOR": "1"}))


def test_init_without_shipped_recipes_is_a_message(tmp_path: Path) -> None:
    from recipec.diagnostics import BuildFailed
    from recipec.scaffold import init_recipe

    with pytest.raises(BuildFailed, match="no shipped recipe named 'nope'"):
        init_recipe("nope", str(tmp_path / "x.recipe"))
    assert not (tmp_path / "x.recipe").exists()
