"""`recipec doctor` on this install as it is, and with problems planted: a wrong hash, a missing
model, an output folder nobody can write, a CPU without the build's features, a bad bundle."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from recipec.cli import main
from recipec.doctor import PROBLEM, Checkup, cpu_features, diagnose, verify_bundle
from recipec.engine import default_threads

SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
ROOT = Path(__file__).resolve().parent.parent


def models_folder(tmp_path: Path, teacher_path: Path, sha256: str) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / teacher_path.name).symlink_to(teacher_path)
    (folder / f"{teacher_path.name}.sha256").write_text(f"{sha256}  {teacher_path.name}\n")
    return folder


def problems(checkup: Checkup) -> list[str]:
    return [f"{f.topic}: {f.text}" for f in checkup.problems]


@pytest.mark.model
def test_healthy_install_has_no_problems(tmp_path: Path, teacher_path: Path) -> None:
    checkup = diagnose((models_folder(tmp_path, teacher_path, SHA256),), tmp_path / "out")
    assert problems(checkup) == [] and checkup.exit_code == 0
    topics = {f.topic: f for f in checkup.findings}
    assert {"python", "recipec", "llama-cpp-python", "llama.cpp", "cpu features"} <= set(topics)
    assert f"recipec will use {default_threads()}" in topics["threads"].text
    assert "sha256 matches" in topics[f"model {tmp_path / 'models' / teacher_path.name}"].text
    assert "GiB free" in topics["disk"].text


@pytest.mark.model
def test_cli_prints_each_finding_and_exits_zero(tmp_path: Path, teacher_path: Path) -> None:
    folder = models_folder(tmp_path, teacher_path, SHA256)
    result = CliRunner().invoke(main, ["doctor", str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "0 problems found"
    assert "llama.cpp system: CPU :" in result.output


@pytest.mark.model
def test_wrong_hash_is_a_problem(tmp_path: Path, teacher_path: Path) -> None:
    folder = models_folder(tmp_path, teacher_path, "0" * 64)
    result = CliRunner().invoke(main, ["doctor", str(folder), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"has sha256 {SHA256}, expected {'0' * 64}" in result.output
    assert result.output.splitlines()[-1] == "1 problem found"


def test_missing_models_are_problems(tmp_path: Path) -> None:
    recipe = tmp_path / "r.recipe"
    recipe.write_text(
        (ROOT / "recipes" / "counseling.recipe")
        .read_text()
        .replace("SmolLM2-135M-Instruct.Q4_1.gguf", "gone.gguf")
    )
    checkup = diagnose((tmp_path / "no-models", recipe), tmp_path / "out")
    found = problems(checkup)
    assert found[0] == f"models {tmp_path / 'no-models'}: not found"
    assert found[1].startswith(f"recipe {recipe}: does not check:") and "gone.gguf" in found[1]
    assert checkup.exit_code == 1


def test_read_only_output_folder_is_a_problem(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # Permission bits do not bind root: plant the output on a filesystem nobody writes to.
        base = Path("/proc")
    else:
        base = tmp_path / "locked"
        base.mkdir()
        base.chmod(0o555)
    checkup = diagnose((), base / "out")
    assert f"output: {base} is not writable, so a build cannot write {base / 'out'}" in problems(
        checkup
    )


def test_a_build_for_missing_cpu_features_is_a_problem() -> None:
    finding = cpu_features({"AVX2", "AVX512"}, {"avx2", "fma"})
    assert finding.status == PROBLEM
    assert "AVX512" in finding.text and "SIGILL" in finding.text and finding.hint
    assert cpu_features({"AVX2"}, {"avx2", "avx512f"}).text.endswith(
        "(and AVX512, which this build does not use)"
    )


def _bundle(tmp_path: Path, files: dict[str, bytes], manifest: dict[str, bytes]) -> Path:
    entries = [
        {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in sorted(manifest.items())
    ]
    members = {**files, "MANIFEST.json": json.dumps({"files": entries}).encode()}
    path = tmp_path / "bundle.tar"
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"recipec-bundle/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


FILES = {
    "INSTALL": b"pip install --no-index --find-links wheels recipec\n",
    "wheels/recipec-0.1.0-py3-none-any.whl": b"recipec",
    f"wheels/llama_cpp_python-0.3.36-py3-none-linux_{platform.machine()}.whl": b"llama",
    "models/m.gguf": b"GGUF",
}


def test_a_whole_bundle_verifies(tmp_path: Path) -> None:
    (finding,) = verify_bundle(_bundle(tmp_path, FILES, FILES))
    assert finding.status == "ok" and "every sha256 matches" in finding.text


def test_a_changed_missing_or_incomplete_bundle_is_a_problem(tmp_path: Path) -> None:
    tampered = {**FILES, "models/m.gguf": b"GGUF but changed"}
    del tampered["INSTALL"]
    texts = [f.text for f in verify_bundle(_bundle(tmp_path, tampered, FILES))]
    assert texts == [
        "INSTALL is in the manifest but not in the archive",
        "models/m.gguf differs from the manifest (size or sha256)",
        "the bundle has no INSTALL",
    ]
    source_only = {k: v for k, v in FILES.items() if "llama" not in k}
    source_only["wheels/llama_cpp_python-0.3.36.tar.gz"] = b"source"
    texts = [f.text for f in verify_bundle(_bundle(tmp_path, source_only, source_only))]
    assert texts == ["the bundle has no compiled llama-cpp-python wheel"]
    (unreadable,) = verify_bundle(tmp_path / "no-such.tar")
    assert unreadable.status == PROBLEM and "cannot be read" in unreadable.text


@pytest.mark.parametrize(
    "body, words",
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n", "dies with SIGILL"),
        (
            "raise OSError('libgomp.so.1: cannot open shared object file')\n",
            "cannot be imported: OSError: libgomp.so.1",
        ),
    ],
)
def test_a_llama_cpp_that_cannot_run_here_is_a_problem(
    body: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in package first on the child's path, as a wheel built for another CPU or a
    # machine without libgomp would behave; the doctor itself must survive and say so.
    (tmp_path / "llama_cpp").mkdir()
    (tmp_path / "llama_cpp" / "__init__.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(ROOT)]))
    result = CliRunner().invoke(main, ["doctor", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "problem llama-cpp-python: " in result.output and words in result.output
    assert "hint: reinstall llama-cpp-python" in result.output
