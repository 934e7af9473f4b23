"""A build's write phase in a child process, for tests/test_outdir.py: it opens an output folder,
then holds it, commits a build or records a failure, and can SIGKILL itself at a chosen moment.

    python tests/outdir_child.py '{"folder": ..., "build": "B", "action": "commit", ...}'

`kill`: {"event": K} dies just before the K-th file-system call (open, rename, unlink, chmod,
...) of the write phase, counted with an audit hook; {"after": SECONDS} dies after a delay;
`count: true` prints the write phase's calls instead, one per line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from recipec.diagnostics import BuildFailed
from recipec.outdir import OutputFolder, Owner

SIZES = {
    # build -> file -> lines; B writes no `eval` split, so A's must go when B commits.
    "A": {
        "train.jsonl": 3000,
        "test.jsonl": 800,
        "eval.jsonl": 700,
        "provenance.jsonl": 4500,
        ".recipec/examples.jsonl": 4500,
        "report.md": 40,
    },
    "B": {
        "train.jsonl": 2600,
        "test.jsonl": 1400,
        "provenance.jsonl": 4000,
        ".recipec/examples.jsonl": 4000,
        "report.md": 30,
    },
}
SPLITS = ("train", "test", "eval")


def owner(build: str, recipe: str = "support", mix: str = "main") -> Owner:
    return Owner(recipe, f"recipes/{recipe}.recipe", mix, f"fingerprint-{build}")


def files(build: str) -> dict[str, bytes]:
    """The bytes of each file of a build: distinct per build, file and line."""
    return {
        name: b"".join(
            json.dumps({"build": build, "file": name, "line": i, "pad": "x" * 200}).encode() + b"\n"
            for i in range(lines)
        )
        for name, lines in SIZES[build].items()
    }


def manifest(build: str, status: str = "complete") -> bytes:
    splits = {
        name.removesuffix(".jsonl"): lines
        for name, lines in SIZES[build].items()
        if name.removesuffix(".jsonl") in SPLITS
    }
    body = {"build": build, "status": status, "splits": {} if status == "failed" else splits}
    return json.dumps(body, sort_keys=True).encode() + b"\n"


class Killer:
    """Counts the write phase's file-system calls; SIGKILLs this process at the chosen one."""

    def __init__(self, at: int | None) -> None:
        self.at, self.armed, self.calls = at, False, []  # type: ignore[var-annotated]

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed or not (event == "open" or event.startswith("os.")):
            return
        self.calls.append(event)
        if self.at is not None and len(self.calls) == self.at:
            self.armed = False  # os.kill is audited too
            os.kill(os.getpid(), signal.SIGKILL)


def after(seconds: float) -> None:
    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    args = json.loads(sys.argv[1])
    kill = args.get("kill", {})
    killer = Killer(kill.get("event"))
    sys.addaudithook(killer)
    folder = OutputFolder(
        Path(args["folder"]),
        owner(args["build"], args.get("recipe", "support"), args.get("mix", "main")),
        replace=args.get("replace", False),
    )
    try:
        with folder:
            print("held", flush=True)
            if args["action"] == "hold":
                sys.stdin.readline()
                return
            data = files(args["build"])
            if "after" in kill:
                threading.Thread(target=after, args=(kill["after"],), daemon=True).start()
            killer.armed = True
            if args["action"] == "commit":
                folder.commit(data, manifest(args["build"]))
            else:
                folder.record_failure(manifest(args["build"], "failed"))
            killer.armed = False
            if args.get("count"):
                print("\n".join(killer.calls))
            if kill:
                time.sleep(30)  # a kill timed after the commit lands here
    except BuildFailed as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", flush=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
