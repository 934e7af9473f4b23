"""Progress: the status numbers (new work only, retries in the ETA), a live line on a terminal
read back through a real terminal emulator (pyte), plain lines elsewhere, levels and colour."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyte
import pytest
from rich.console import Console

from recipec.progress import Progress, Snapshot, Summary, clock, make_console, status_line

SGR = re.compile(r"\x1b\[[0-9;]*m")
ESCAPE = re.compile(r"\x1b\[")
SUMMARY = Summary(
    outdir=Path("out/counseling"),
    status="short",
    elapsed=187.0,
    counts={"talk": 18, "real_talk": 2},
    splits={"train": 16, "test": 4},
    generated=40,
    reused=12,
    rejections={"judge": 14, "schema": 5},
    report=Path("out/counseling/report.html"),
    warnings=("The build fell short: 20 of 24 records wanted.",),
)


class TTY(io.StringIO):
    """A stream that says it is a terminal, as sys.stderr does in a shell."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def terminal(output: str, width: int = 120, rows: int = 60) -> list[str]:
    """What a person sees after `output` reaches a terminal: the screen, line by line."""
    screen = pyte.Screen(width, rows)
    screen.set_mode(pyte.modes.LNM)  # "\n" moves to the start of the next line, as a tty does
    pyte.Stream(screen).feed(output)
    return [line.rstrip() for line in screen.display if line.strip()]


def fake_tty(width: int = 120) -> tuple[io.StringIO, Console]:
    buffer = io.StringIO()
    return buffer, Console(file=buffer, force_terminal=True, width=width, color_system="standard")


def test_throughput_counts_new_work_only():
    now = Clock()
    progress = Progress(console=Console(file=io.StringIO()), now=now)
    progress.start("main", Path("out"), wanted=20, jobs=20)
    for _ in range(10):  # a resume replays the journal: instant, its tokens already counted
        now.t += 0.001
        progress.attempt(True, new_tokens=0, reused=True)
    for _ in range(2):
        now.t += 2.0
        progress.attempt(True, new_tokens=100)
    snap = progress.snapshot()
    assert snap.tokens_per_second == pytest.approx(50.0)
    assert (snap.accepted, snap.attempts, snap.new_attempts) == (12, 12, 2)


def test_a_reused_attempt_never_adds_tokens_or_time():
    now = Clock()
    progress = Progress(console=Console(file=io.StringIO()), now=now)
    progress.start("main", Path("out"), wanted=5, jobs=5)
    now.t += 30
    progress.attempt(True, new_tokens=16322, reused=True)
    assert progress.snapshot().tokens_per_second is None


def test_eta_counts_retries():
    now = Clock()
    progress = Progress(console=Console(file=io.StringIO()), now=now)
    progress.start("main", Path("out"), wanted=10, jobs=10)
    for i in range(8):  # every other attempt rejected: 2 attempts per record, 1 s each
        now.t += 1.0
        progress.attempt(i % 2 == 1, None if i % 2 else "judge", new_tokens=10)
    snap = progress.snapshot()
    assert (snap.accepted, snap.attempts) == (4, 8)
    assert snap.eta == pytest.approx(6 * 2 * 1.0)
    assert snap.rejections == (("judge", 4),)


def test_eta_from_the_generation_seconds_given():
    now = Clock()
    progress = Progress(console=Console(file=io.StringIO()), now=now)
    progress.start("main", Path("out"), wanted=3, jobs=3)
    now.t += 60  # model loading before the first attempt
    progress.attempt(True, new_tokens=30, seconds=1.5)
    assert progress.snapshot().eta == pytest.approx(2 * 1 * 1.5)
    assert progress.snapshot().tokens_per_second == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("snap", "eta"),
    [
        (Snapshot("m", 5, 0, 0, (), 0, 0, 0.0), None),  # nothing yet
        (Snapshot("m", 5, 0, 6, (("judge", 6),), 6, 60, 6.0), None),  # nothing accepted yet
        (Snapshot("m", 5, 5, 9, (), 9, 90, 9.0), 0.0),  # done
    ],
)
def test_eta_edges(snap, eta):
    assert snap.eta == eta


def test_status_line():
    snap = Snapshot("main", 20, 6, 99, (("judge", 89), ("schema", 4)), 99, 4950, 99.0)
    assert status_line(snap) == (
        "main: 6/20 accepted, 99 attempts, rejected: judge 89, schema 4, 50 tok/s, ETA 3m51s"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (0.4, "0s"), (59.6, "1m00s"), (187, "3m07s"), (7500, "2h05m")],
)
def test_clock(seconds, text):
    assert clock(seconds) == text


def test_on_a_terminal_messages_get_their_own_lines():
    buffer, console = fake_tty()
    now = Clock()
    with Progress(console=console, now=now) as progress:
        progress.start("main", Path("out"), wanted=4, jobs=4)
        for i in range(6):
            now.t += 1
            progress.attempt(i % 3 != 2, "schema" if i % 3 == 2 else None, new_tokens=20)
            if i == 1:
                progress.message("error: something went wrong [undefined-name]", "error")
            if i == 3:
                progress.message("resuming: 3 generations reused")
        progress.finish(SUMMARY)
    raw = buffer.getvalue()
    assert "\x1b[2K" in raw or "\x1b[1A" in raw  # the live line really was redrawn
    screen = terminal(raw)
    assert "error: error: something went wrong [undefined-name]" in screen
    assert "resuming: 3 generations reused" in screen
    # The live line is gone at the end: no status text, no residue of a longer line.
    assert not [line for line in screen if "accepted," in line]
    assert screen[0] == "building mix 'main' -> out: 4 records wanted, 4 jobs"
    assert screen[-1] == "    - The build fell short: 20 of 24 records wanted."


def test_on_a_terminal_the_live_line_shows_the_status():
    buffer, console = fake_tty()
    now = Clock()
    progress = Progress(console=console, now=now)
    progress.start("main", Path("out"), wanted=4, jobs=4)
    now.t += 2
    progress.attempt(True, new_tokens=40)
    progress.live.refresh()  # what the refresh thread draws
    screen = terminal(buffer.getvalue())
    assert any(
        line.endswith("main: 1/4 accepted, 1 attempts, rejected: none, 20 tok/s, ETA 6s")
        for line in screen
    )
    progress.finish(SUMMARY)


def test_plain_lines_when_not_a_terminal():
    buffer = io.StringIO()
    now = Clock()
    with Progress(stream=buffer, now=now, interval=10) as progress:
        progress.start("main", Path("out"), wanted=5, jobs=5)
        for _ in range(5):
            now.t += 4
            progress.attempt(True, new_tokens=8)
            progress.message("a message")
        progress.finish(SUMMARY)
    out = buffer.getvalue()
    assert not ESCAPE.search(out) and "\r" not in out
    lines = out.splitlines()
    status = [line for line in lines if "accepted," in line]
    # One line after 12 s (10 s passed), then the last one when all are accepted.
    assert status == [
        "  main: 3/5 accepted, 3 attempts, rejected: none, 2 tok/s, ETA 8s",
        "  main: 5/5 accepted, 5 attempts, rejected: none, 2 tok/s, ETA 0s",
    ]
    assert lines.count("a message") == 5


def test_the_end_summary_reads_well():
    buffer = io.StringIO()
    Progress(stream=buffer).finish(SUMMARY)
    assert buffer.getvalue().splitlines() == [
        "short: 20 records in 3m07s -> out/counseling",
        "  records   talk 18, real_talk 2",
        "  splits    train 16, test 4",
        "  work      40 generated, 12 reused from the journal",
        "  rejected  judge 14, schema 5",
        "  report    out/counseling/report.html",
        "  warnings (1):",
        "    - The build fell short: 20 of 24 records wanted.",
    ]


def test_quiet_shows_only_warnings_and_errors():
    buffer = io.StringIO()
    now = Clock()
    with Progress(stream=buffer, quiet=True, now=now, interval=0) as progress:
        progress.start("main", Path("out"), wanted=2, jobs=2)
        now.t += 1
        progress.attempt(False, "schema", job="main/0001")
        progress.message("hidden")
        progress.message("the judge is slow", "warning")
        progress.message("out of space", "error")
        progress.finish(SUMMARY)
    assert buffer.getvalue().splitlines() == [
        "warning: the judge is slow",
        "error: out of space",
        "warning: The build fell short: 20 of 24 records wanted.",
    ]


def test_verbose_shows_each_rejection():
    buffer = io.StringIO()
    plain = Progress(stream=buffer)
    loud = Progress(stream=buffer, verbose=True)
    for progress in (plain, loud):
        progress.start("main", Path("out"), wanted=2, jobs=2)
        progress.attempt(False, "judge", job="main/0001")
    assert buffer.getvalue().count("main/0001: rejected (judge)") == 1


def test_colour_on_a_terminal_and_never_with_no_color(monkeypatch):
    buffer, console = fake_tty()
    Progress(console=console).message("careful", "warning")
    assert SGR.search(buffer.getvalue())
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = TTY()
    Progress(console=make_console(tty, color=None)).message("careful", "warning")
    assert SGR.search(tty.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    tty = TTY()
    Progress(console=make_console(tty, color=None)).message("careful", "warning")
    assert tty.getvalue() == "warning: careful\n"


def test_color_switches():
    off = io.StringIO()
    Progress(stream=off, color=False).finish(SUMMARY)
    assert not ESCAPE.search(off.getvalue())
    on = io.StringIO()
    Progress(stream=on, color=True).finish(SUMMARY)
    assert SGR.search(on.getvalue())
    assert "\x1b[?25l" not in on.getvalue()  # colour forced, but a pipe gets no live line
