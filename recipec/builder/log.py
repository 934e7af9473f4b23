"""Build progress on standard error: one updating line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time


class Log:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def info(self, text: str) -> None:
        self._end_line()
        print(text, file=sys.stderr, flush=True)

    def progress(self, done: int, total: int, tokens: int, seconds: float, rejected: int) -> None:
        rate = tokens / seconds if seconds > 0 else 0.0
        eta = (total - done) * seconds / done if done else 0.0
        text = f"  {done}/{total} records, {rate:.0f} tok/s, ETA {eta:.0f}s, {rejected} rejected"
        now = time.monotonic()
        if self.tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
            self.last = -1
        elif done == total or now - self.last > 10:
            print(text, file=sys.stderr, flush=True)
            self.last = now

    def _end_line(self) -> None:
        if self.tty and self.last == -1:
            print(file=sys.stderr)
            self.last = 0.0
