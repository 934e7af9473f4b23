"""A real build of a shipped recipe in a subprocess: no socket is created (audited in Python,
traced at the system-call level), no hub library is imported, and it succeeds with no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "counseling.recipe"
# Libraries that reach for the network when imported or used: a build must import none.
PHONE_HOME = ("datasets", "huggingface_hub", "requests", "urllib3", "httpx", "aiohttp")

# Runs inside the child: records every socket.* audit event (socket.__new__, connect,
# getaddrinfo, ...) from the first line on, then runs the CLI as a user would.
RUNNER = """
import json, sys
events = []
sys.addaudithook(lambda event, args: event.startswith("socket.") and events.append(event))
from recipec.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exit:
    code = exit.code
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(WATCH))
print(json.dumps({"code": code, "sockets": events, "loaded": loaded}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, RECIPEC_THREADS=os.environ.get("RECIPEC_THREADS", "1"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _build_args(out: Path) -> list[str]:
    return ["build", str(RECIPE), "--out", str(out), "--limit", "2"]


def test_a_build_creates_no_socket_and_imports_no_hub_library(tmp_path: Path) -> None:
    runner = RUNNER.replace("WATCH", repr(PHONE_HOME))
    done = subprocess.run(
        [sys.executable, "-c", runner, *_build_args(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stderr
    assert result["sockets"] == []
    assert result["loaded"] == []
    assert (tmp_path / "out" / "train.jsonl").is_file()


def _unshare() -> list[str] | None:
    """`unshare -rn` (a user namespace makes it work unprivileged), or None where it cannot."""
    tool = shutil.which("unshare")
    if tool is None:
        return None
    for flags in (["-rn"], ["-n"]):
        if subprocess.run([tool, *flags, "true"], capture_output=True).returncode == 0:
            return [tool, *flags]
    return None


def test_a_build_succeeds_with_no_network_and_makes_no_socket_call(tmp_path: Path) -> None:
    unshare = _unshare()
    if unshare is None:
        pytest.skip("unshare is missing or this kernel refuses network namespaces here")
    trace = tmp_path / "strace.log"
    strace = shutil.which("strace")
    # strace, where present, sees native code too (llama.cpp, OpenMP), not just Python's calls.
    traced = [strace, "-f", "-e", "trace=socket,connect", "-o", str(trace)] if strace else []
    cli = [sys.executable, "-m", "recipec.cli", *_build_args(tmp_path / "out")]
    done = subprocess.run(
        [*unshare, *traced, *cli], capture_output=True, text=True, env=_env(), timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "train.jsonl").is_file()
    interfaces = subprocess.run([*unshare, "cat", "/proc/net/dev"], capture_output=True, text=True)
    assert [line.split(":")[0].strip() for line in interfaces.stdout.splitlines()[2:]] == ["lo"]
    if strace:
        calls = [line for line in trace.read_text().splitlines() if "socket(" in line]
        assert calls == []


BUNDLE = os.environ.get("RECIPEC_BUNDLE", "")


@pytest.mark.skipif(not BUNDLE, reason="needs RECIPEC_BUNDLE: `make test-bundle` makes one")
def test_the_bundle_installs_and_builds_with_no_network(tmp_path: Path) -> None:
    from recipec.doctor import verify_bundle

    bundle = Path(BUNDLE).resolve()
    assert [f.status for f in verify_bundle(bundle)] == ["ok"]
    unshare = _unshare()
    if unshare is None:
        pytest.skip("unshare is missing or this kernel refuses network namespaces here")
    with tarfile.open(bundle) as archive:
        archive.extractall(tmp_path, filter="data")
    stage, venv = tmp_path / "recipec-bundle", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RECIPEC_THREADS"] = os.environ.get("RECIPEC_THREADS", "1")

    def offline(*command: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*unshare, *map(str, command)],
            cwd=stage,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    offline(venv / "bin" / "pip", "install", "--no-index", "--find-links", "wheels", "recipec")
    doctor = offline(venv / "bin" / "recipec", "doctor", "models", "--bundle", bundle)
    assert "sha256 matches" in doctor.stdout and "every sha256 matches" in doctor.stdout
    out = tmp_path / "out"
    offline(
        venv / "bin" / "recipec", "build", "recipes/counseling.recipe", "--limit", "2", "--out", out
    )
    assert (out / "train.jsonl").is_file()
    # The build ran the installed copy, not this checkout.
    where = offline(venv / "bin" / "python", "-c", "import recipec; print(recipec.__file__)")
    assert where.stdout.startswith(str(venv))


def test_recipec_offline_turns_any_socket_into_an_error() -> None:
    """The guard every command of the suite runs under (conftest sets RECIPEC_OFFLINE=1): a
    socket opened anywhere in the process fails, with a message."""
    code = (
        "import socket\nfrom recipec.cli import refuse_network\nrefuse_network()\nsocket.socket()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "RECIPEC_OFFLINE=1: something tried to use the network (socket.__new__)" in result.stderr
    assert os.environ.get("RECIPEC_OFFLINE") == "1"  # set for every command the suite runs
