"""Output folders: one owner per folder, a lock held by one build at a time, a write phase that a
kill at any moment leaves as the old build, the new build or no manifest, and full-disk errors
that name the file. Folder states are checked with plain file reads, not with recipec.outdir."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from recipec.diagnostics import BuildFailed
from recipec.outdir import OutputFolder, Owner, os_failure
from tests.outdir_child import files, manifest, owner
from tests.small_disk import small_disk

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).with_name("outdir_child.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def commit(folder: Path, build: str, **options: object) -> None:
    with OutputFolder(folder, owner(build), **options) as out:  # type: ignore[arg-type]
        out.commit(files(build), manifest(build))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder` (the lock's pid aside) and its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "lock"
    }


def temporaries(folder: Path) -> list[str]:
    return [str(path) for path in folder.rglob("*.tmp")]


def state(folder: Path) -> str:
    """What the folder holds, checked independently: `none` (no manifest), or `BUILD:STATUS`
    once every file the manifest vouches for is byte for byte that build's and no split file
    of another build lies beside it."""
    path = folder / "manifest.json"
    if not path.exists():
        return "none"
    body = json.loads(path.read_bytes())
    build, status = body["build"], body["status"]
    splits = {p.name for p in folder.iterdir() if p.suffix == ".jsonl" and p.is_file()}
    if status == "failed":
        assert splits == set(), f"a failed manifest beside {splits}"
        assert not (folder / ".recipec" / "examples.jsonl").exists()
        return f"{build}:{status}"
    expected = files(build)
    for name, data in expected.items():
        assert (folder / name).read_bytes() == data, f"{name} differs from build {build}"
    assert splits == {n for n in expected if "/" not in n and n.endswith(".jsonl")}
    for split, count in body["splits"].items():
        assert (folder / f"{split}.jsonl").read_bytes().count(b"\n") == count
    return f"{build}:{status}"


def child(args: dict[str, object], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=ENV,
    )


@pytest.fixture(scope="module")
def built_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template") / "out"
    commit(folder, "A")
    assert state(folder) == "A:complete"
    return folder


@pytest.fixture
def out(built_a: Path, tmp_path: Path) -> Path:
    """A folder holding build A (recipe 'support', mix 'main'), complete."""
    folder = tmp_path / "out"
    shutil.copytree(built_a, folder)
    return folder


# Ownership ------------------------------------------------------------------------------------


def test_a_new_folder_is_created_and_claimed(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    with OutputFolder(folder, owner("A")) as held:
        assert held.journal_path == folder / ".recipec" / "journal.jsonl"
        record = json.loads((folder / ".recipec" / "owner.json").read_bytes())
        assert record["owner"]["recipe"] == "support" and record["files"] == []
        assert (folder / ".recipec" / "lock").read_text().strip() == str(os.getpid())
    assert (folder / ".recipec" / "lock").read_text() == ""  # released


def test_same_recipe_and_mix_with_a_new_fingerprint_replaces_the_build(out: Path) -> None:
    commit(out, "B")
    assert state(out) == "B:complete"
    assert not (out / "eval.jsonl").exists()  # A's split that B does not write
    record = json.loads((out / ".recipec" / "owner.json").read_bytes())
    assert record["owner"]["fingerprint"] == "fingerprint-B"
    assert sorted(record["files"]) == sorted(files("B"))


@pytest.mark.parametrize("other", [{"recipe": "counseling"}, {"mix": "eval_mix"}])
def test_another_recipe_or_mix_is_refused_and_nothing_changes(
    out: Path, other: dict[str, str]
) -> None:
    before = snapshot(out)
    intruder = Owner(
        other.get("recipe", "support"), "recipes/x.recipe", other.get("mix", "main"), "f"
    )
    with pytest.raises(BuildFailed) as failure:
        OutputFolder(out, intruder).__enter__()
    message = failure.value.message
    assert "recipe 'support' (recipes/support.recipe), mix 'main'" in message
    assert intruder.describe() in message and str(out) in message
    assert "--replace" in failure.value.hint
    assert snapshot(out) == before


def test_replace_hands_the_folder_to_another_recipe(out: Path) -> None:
    other = Owner("counseling", "recipes/counseling.recipe", "main", "f")
    with OutputFolder(out, other, replace=True) as held:
        assert state(out) == "A:complete"  # nothing is deleted before the new build commits
        held.commit(files("B"), manifest("B"))
    assert state(out) == "B:complete" and not (out / "eval.jsonl").exists()
    record = json.loads((out / ".recipec" / "owner.json").read_bytes())
    assert record["owner"]["recipe"] == "counseling"
    with pytest.raises(BuildFailed, match="holds the build of recipe 'counseling'"):
        OutputFolder(out, owner("A")).__enter__()


def test_a_folder_recipec_did_not_write_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(BuildFailed) as failure:
        OutputFolder(folder, owner("A")).__enter__()
    assert "not written by recipec (notes.txt)" in failure.value.message
    assert "--replace" in failure.value.hint
    assert sorted(os.listdir(folder)) == ["notes.txt"]
    commit(folder, "A", replace=True)
    assert state(folder) == "A:complete"
    assert (folder / "notes.txt").read_text() == "my notes"  # replace never deletes others' files


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    commit(tmp_path, "A")
    assert state(tmp_path) == "A:complete"


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BuildFailed, match="is not a folder"):
        OutputFolder(tmp_path / "f", owner("A")).__enter__()


def test_a_nul_byte_in_the_path_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="has a NUL byte"):
        OutputFolder(tmp_path / "a\0b", owner("A")).__enter__()


def test_a_limited_build_never_replaces_a_complete_one_without_replace(out: Path) -> None:
    before = snapshot(out)
    with pytest.raises(BuildFailed) as failure:
        OutputFolder(out, owner("B"), limited=True).__enter__()
    assert "holds a complete build" in failure.value.message
    assert "--replace" in failure.value.hint
    assert snapshot(out) == before
    with OutputFolder(out, owner("B"), limited=True, replace=True) as held:
        held.commit(files("B"), manifest("B", "limited"))
    assert state(out) == "B:limited"
    # A limited build may follow a limited or failed one.
    with OutputFolder(out, owner("B"), limited=True) as held:
        held.record_failure(manifest("B", "failed"))
    with OutputFolder(out, owner("B"), limited=True) as held:
        held.commit(files("B"), manifest("B", "limited"))
    assert state(out) == "B:limited"


def test_a_failed_build_leaves_no_file_of_the_earlier_one(out: Path) -> None:
    with OutputFolder(out, owner("B")) as held:
        held.record_failure(manifest("B", "failed"))
    assert state(out) == "B:failed"
    assert sorted(os.listdir(out)) == [".recipec", "manifest.json"]
    assert sorted(os.listdir(out / ".recipec")) == ["lock", "owner.json"]


def test_a_folder_from_before_owner_records_is_adopted(out: Path) -> None:
    (out / ".recipec" / "owner.json").unlink()
    legacy = json.loads((out / "manifest.json").read_bytes())
    legacy.update(recipe="support", file="recipes/support.recipe", mix="main", fingerprint="0")
    (out / "manifest.json").write_text(json.dumps(legacy))
    with pytest.raises(BuildFailed, match="holds the build of recipe 'support'"):
        OutputFolder(out, Owner("other", "o.recipe", "main", "f")).__enter__()
    commit(out, "B")
    assert state(out) == "B:complete" and not (out / "eval.jsonl").exists()


def test_a_record_naming_files_elsewhere_is_not_trusted(out: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    record = out / ".recipec" / "owner.json"
    body = json.loads(record.read_bytes())
    body["files"].append("../victim.txt")
    record.write_text(json.dumps(body))
    with pytest.raises(BuildFailed, match="not an owner record recipec can read"):
        OutputFolder(out, owner("B")).__enter__()
    with OutputFolder(out, owner("B"), replace=True) as held:
        held.record_failure(manifest("B", "failed"))
    assert victim.read_text() == "keep me"


def test_stale_temporaries_are_removed_at_start(out: Path) -> None:
    stale = [out / ".train.jsonl.a1b2c3d4.tmp", out / ".recipec" / ".owner.json.zz_9yy8x.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    (out / "notes.tmp").write_text("not ours")
    with OutputFolder(out, owner("A")):
        assert not any(path.exists() for path in stale)
    assert (out / "notes.tmp").exists()


@pytest.mark.parametrize(
    "name", ["manifest.json", ".recipec/journal.jsonl", ".recipec/lock", "../x", "a/b", ""]
)
def test_reserved_or_escaping_names_cannot_be_committed(out: Path, name: str) -> None:
    with OutputFolder(out, owner("A")) as held, pytest.raises(ValueError):
        held.commit({name: b"x"}, manifest("A"))
    assert state(out) == "A:complete"


# The lock -------------------------------------------------------------------------------------


@pytest.fixture
def holder(out: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `out` for its build until its standard input closes."""
    args = {"folder": str(out), "build": "A", "action": "hold"}
    with subprocess.Popen(
        [sys.executable, str(CHILD), json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
        proc.kill()


def test_a_second_build_is_refused_naming_the_holder(
    out: Path, holder: subprocess.Popen[str]
) -> None:
    second = child({"folder": str(out), "build": "A", "action": "commit"})
    assert second.returncode == 1
    assert f"{out} is in use by another build (pid {holder.pid})" in second.stdout
    assert "wait for that build to finish" in second.stdout
    assert state(out) == "A:complete"
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(30) == 0
    again = child({"folder": str(out), "build": "B", "action": "commit"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert state(out) == "B:complete"


def test_a_killed_holder_leaves_no_stale_lock(out: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(BuildFailed, match=f"pid {holder.pid}"):
        OutputFolder(out, owner("A")).__enter__()
    holder.kill()
    holder.wait()
    commit(out, "B")
    assert state(out) == "B:complete"


def test_the_lock_holds_within_one_process_too(out: Path) -> None:
    with OutputFolder(out, owner("A")), pytest.raises(BuildFailed, match="in use"):
        OutputFolder(out, owner("A")).__enter__()


# Kills during the write phase -----------------------------------------------------------------


def calls(action: str, tmp_path: Path, built_a: Path) -> list[str]:
    """The file-system calls of one write phase, in order (a dry run in a child)."""
    folder = tmp_path / "count"
    shutil.copytree(built_a, folder)
    result = child({"folder": str(folder), "build": "B", "action": action, "count": True})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[1:]


def kill_at(kill: dict[str, float], action: str, tmp_path: Path, built_a: Path) -> str:
    """Kill a child at `kill` during its write phase; return what it left, then finish it."""
    folder = tmp_path / f"k{random.random()}"
    shutil.copytree(built_a, folder)
    result = child({"folder": str(folder), "build": "B", "action": action, "kill": kill})
    assert result.returncode == -9, result.stdout + result.stderr
    left = state(folder)
    stale = bool(temporaries(folder))
    # The rerun: the journal would give the same records, so it commits B again.
    commit(folder, "B")
    assert state(folder) == "B:complete"
    assert not temporaries(folder)
    record = json.loads((folder / ".recipec" / "owner.json").read_bytes())
    assert sorted(record["files"]) == sorted(files("B"))
    shutil.rmtree(folder)
    return left + (" +tmp" if stale else "")


def test_a_kill_at_every_call_of_commit_leaves_the_old_build_the_new_or_none(
    tmp_path: Path, built_a: Path
) -> None:
    sequence = calls("commit", tmp_path, built_a)
    assert {"open", "os.rename", "os.remove"} <= set(sequence)
    outcomes = Counter(
        kill_at({"event": k}, "commit", tmp_path, built_a) for k in range(1, len(sequence) + 1)
    )
    # Every phase was hit: staging (old build whole, temporaries left), after the old manifest
    # went (none), and the last fsync after the new manifest's rename (new build whole).
    assert set(outcomes) == {
        "A:complete",
        "A:complete +tmp",
        "none +tmp",
        "none",
        "B:complete",
    }, outcomes
    assert outcomes["none"] + outcomes["none +tmp"] >= 5, outcomes


def test_kills_at_random_moments_of_commit(tmp_path: Path, built_a: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    # The write phase takes a few tens of milliseconds (with the child's start before it).
    outcomes = Counter(
        kill_at({"after": rng.uniform(0, 0.25)}, "commit", tmp_path, built_a) for _ in range(12)
    )
    assert set(outcomes) <= {"A:complete", "A:complete +tmp", "none", "none +tmp", "B:complete"}, (
        seed,
        outcomes,
    )


def test_a_kill_at_any_call_of_a_failure_record(tmp_path: Path, built_a: Path) -> None:
    sequence = calls("fail", tmp_path, built_a)
    outcomes = Counter(
        kill_at({"event": k}, "fail", tmp_path, built_a) for k in range(1, len(sequence) + 1)
    )
    # `B:failed` is checked by state(): no split file of A (or any) beside the failed manifest.
    assert set(outcomes) == {"A:complete", "none", "none +tmp", "B:failed"}, outcomes


# A full disk ----------------------------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small", "256k") as mount:
        yield mount


def test_a_full_disk_names_the_file_and_the_fix(disk: Path) -> None:
    folder = disk / "out"
    with OutputFolder(folder, owner("B")) as held:
        held.commit({"small.jsonl": b"{}\n"}, b'{"status": "complete"}\n')
    before = snapshot(folder)
    with OutputFolder(folder, owner("B")) as held, pytest.raises(BuildFailed) as failure:
        held.commit(files("B"), manifest("B"))
    message = failure.value.message
    assert message.startswith(f"cannot write {folder}/")
    assert message.endswith(": no space left on the device")
    assert "free some space" in failure.value.hint and "--out" in failure.value.hint
    # Nothing changed: the temporaries went with the failure, the earlier build is whole.
    assert snapshot(folder) == before and not temporaries(folder)


def test_a_full_disk_when_the_folder_is_claimed(disk: Path) -> None:
    fill(disk / "filler")
    with pytest.raises(BuildFailed) as failure:
        OutputFolder(disk / "out", owner("A")).__enter__()
    assert failure.value.message.startswith(f"cannot use {disk}/out/.recipec/")
    assert failure.value.message.endswith(": no space left on the device")
    (disk / "filler").unlink()
    with OutputFolder(disk / "out", owner("A")):  # the failed attempt left no lock held
        pass


def test_a_full_disk_without_a_file_name_is_named_by_its_folder(tmp_path: Path) -> None:
    # write() fails without a file name; the output folder is named instead.
    failure = os_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), tmp_path)
    assert failure.message == f"cannot write {tmp_path}: no space left on the device"
    assert ": :" not in failure.message and failure.hint


def fill(path: Path) -> None:
    with path.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"x" * 4096)


@pytest.mark.model
def test_a_build_on_a_full_disk_says_which_file_and_what_to_do(
    tmp_path: Path, teacher_path: Path
) -> None:
    with small_disk(tmp_path / "small", "64k") as mount:
        fill(mount / "filler")  # the first file the build writes finds the disk full
        out = mount / "out"
        recipe = ROOT / "tests" / "cases" / "build" / "tiny.recipe"
        result = subprocess.run(
            [sys.executable, "-m", "recipec.cli", "build", str(recipe), "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=ENV,
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "error: :" not in result.stderr
    named = rf"error: cannot [a-z ]+ {re.escape(str(out))}/\S+: no space left on the device"
    assert re.search(named, result.stderr), result.stderr
    assert "hint: free some space" in result.stderr
