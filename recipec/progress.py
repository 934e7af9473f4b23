"""Build progress: attempts and messages in, a live status line (rich) on a terminal or plain
periodic lines otherwise, then an end summary out, all on standard error.

The status counts accepted records of those wanted, attempts, rejections by reason, the
throughput of new work only (generations reused from the journal cost no time and count no
tokens) and an ETA that counts retries: remaining records x attempts per accepted record x
seconds per new attempt. Messages are printed above the live line, never glued to it.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

Level = Literal["info", "warning", "error", "detail"]
STYLES: dict[str, str] = {"warning": "yellow", "error": "bold red", "detail": "dim"}
PLAIN_INTERVAL = 10.0
SHOWN_REASONS = 4


@dataclass(frozen=True)
class Summary:
    """What a finished (or stopped) build tells the user at the end."""

    outdir: Path
    status: str
    elapsed: float
    counts: Mapping[str, int] = field(default_factory=dict)
    splits: Mapping[str, int] = field(default_factory=dict)
    generated: int = 0
    reused: int = 0
    rejections: Mapping[str, int] = field(default_factory=dict)
    report: Path | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """The numbers on the status line at one moment."""

    mix: str
    wanted: int
    accepted: int
    attempts: int
    rejections: tuple[tuple[str, int], ...]
    new_attempts: int
    new_tokens: int
    new_seconds: float

    @property
    def tokens_per_second(self) -> float | None:
        return self.new_tokens / self.new_seconds if self.new_seconds > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left: remaining records x attempts per accepted x seconds per new attempt."""
        remaining = max(0, self.wanted - self.accepted)
        if remaining == 0:
            return 0.0
        if not self.accepted or not self.new_attempts:
            return None
        per_record = self.attempts / self.accepted
        return remaining * per_record * self.new_seconds / self.new_attempts


def status_line(snap: Snapshot) -> str:
    rate = snap.tokens_per_second
    parts = [
        f"{snap.mix}: {snap.accepted}/{snap.wanted} accepted",
        f"{snap.attempts} attempts",
        "rejected: " + (_reasons(snap.rejections) or "none"),
        f"{rate:.0f} tok/s" if rate is not None else "- tok/s",
        f"ETA {clock(snap.eta)}",
    ]
    return ", ".join(parts)


def _reasons(ranked: tuple[tuple[str, int], ...]) -> str:
    shown = [f"{reason} {n}" for reason, n in ranked[:SHOWN_REASONS]]
    rest = sum(n for _, n in ranked[SHOWN_REASONS:])
    return ", ".join(shown + ([f"other {rest}"] if rest else []))


def clock(seconds: float | None) -> str:
    """A duration for a status line: 45s, 3m07s, 2h05m; '?' when unknown."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def make_console(stream: IO[str], color: bool | None) -> Console:
    """A rich console on `stream`: colour auto (TTY, NO_COLOR, FORCE_COLOR), forced, or off.
    Live redrawing only where `stream` is a terminal, whatever the colour."""
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    return Console(
        file=stream,
        force_terminal=True if color else None,
        no_color=True if color is False else None,
        force_interactive=interactive,
        highlight=False,
        markup=False,
        emoji=False,
    )


class Progress:
    """The build's display. Use as a context manager so the live line is always closed."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        quiet: bool = False,
        verbose: bool = False,
        color: bool | None = None,
        console: Console | None = None,
        interval: float = PLAIN_INTERVAL,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console or make_console(stream or sys.stderr, color)
        self.quiet, self.verbose, self.interval, self.now = quiet, verbose, interval, now
        self.live: Live | None = None
        self._reset("", 0)

    def _reset(self, mix: str, wanted: int) -> None:
        self.mix, self.wanted = mix, wanted
        self.accepted = self.attempts = self.new_attempts = self.new_tokens = 0
        self.new_seconds = 0.0
        self.rejections: Counter[str] = Counter()
        self.started = self.last = self.printed = self.now()

    # -- the build calls these --------------------------------------------------------------

    def start(self, mix: str, outdir: Path, wanted: int, jobs: int) -> None:
        self._stop_live()
        self._reset(mix, wanted)
        self.message(f"building mix '{mix}' -> {outdir}: {wanted} records wanted, {jobs} jobs")
        if not self.quiet and self.console.is_interactive:
            self.live = Live(
                get_renderable=self._renderable,
                console=self.console,
                auto_refresh=True,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.live.start()

    def attempt(
        self,
        accepted: bool,
        reason: str | None = None,
        new_tokens: int = 0,
        reused: bool = False,
        job: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """One attempt at a record; `reused` when it came from the journal (no time, no tokens).

        `seconds` is the attempt's own generation time when known; otherwise the time since the
        previous attempt (which then also holds model loading and filtering).
        """
        now = self.now()
        self.attempts += 1
        if not reused:
            self.new_attempts += 1
            self.new_tokens += new_tokens
            self.new_seconds += (now - self.last) if seconds is None else seconds
        self.last = now
        if accepted:
            self.accepted += 1
        else:
            self.rejections[reason or "unknown"] += 1
            if job is not None:
                self.message(f"{job}: rejected ({reason or 'unknown'})", "detail")
        self._tick(now)

    def message(self, text: str, level: Level = "info") -> None:
        """A line of its own above the status line; info is hidden by quiet, detail needs
        verbose, warnings and errors always show."""
        if (level == "info" and self.quiet) or (level == "detail" and not self.verbose):
            return
        prefix = {"warning": "warning: ", "error": "error: "}.get(level, "")
        self.console.print(Text(prefix + text, style=STYLES.get(level, "")), soft_wrap=True)

    def finish(self, summary: Summary) -> None:
        self._stop_live()
        if not self.quiet:
            for line, style in summary_lines(summary):
                self.console.print(Text(line, style=style), soft_wrap=True)
        else:
            for warning in summary.warnings:
                self.message(warning, "warning")

    # -- display ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        ranked = tuple(sorted(self.rejections.items(), key=lambda item: (-item[1], item[0])))
        return Snapshot(
            self.mix,
            self.wanted,
            self.accepted,
            self.attempts,
            ranked,
            self.new_attempts,
            self.new_tokens,
            self.new_seconds,
        )

    def _renderable(self) -> Group:
        bar = ProgressBar(total=max(self.wanted, 1), completed=self.accepted, width=24)
        grid = Table.grid(padding=(0, 1))
        grid.add_row(bar, Text(status_line(self.snapshot())))
        return Group(grid)

    def _tick(self, now: float) -> None:
        if self.quiet or self.live is not None:
            return
        done = self.accepted >= self.wanted
        if now - self.printed >= self.interval or done:
            self.console.print(Text("  " + status_line(self.snapshot())), soft_wrap=True)
            self.printed = now if not done else float("inf")

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def close(self) -> None:
        """Stop the live line (if any), so what is printed next starts on a line of its own."""
        self._stop_live()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop_live()


def summary_lines(summary: Summary) -> list[tuple[str, str]]:
    """The end summary as (line, style) pairs: a headline, then labelled lines, then warnings."""
    style = "bold green" if summary.status == "complete" else "bold yellow"
    if summary.status == "failed":
        style = "bold red"
    total = sum(summary.counts.values())
    lines = [
        (
            f"{summary.status}: {total} records in {clock(summary.elapsed)} -> {summary.outdir}",
            style,
        )
    ]
    rows = [
        ("records", _pairs(summary.counts)),
        ("splits", _pairs(summary.splits)),
        ("work", f"{summary.generated} generated, {summary.reused} reused from the journal"),
        ("rejected", _pairs(summary.rejections) or "none"),
        ("report", str(summary.report) if summary.report else ""),
    ]
    lines += [(f"  {label:<10}{value}", "") for label, value in rows if value]
    if summary.warnings:
        lines.append((f"  warnings ({len(summary.warnings)}):", "yellow"))
        lines += [(f"    - {warning}", "yellow") for warning in summary.warnings]
    return lines


def _pairs(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())
