"""A staged bundle folder (wheels already in wheels/) in; models, recipes, INSTALL, MANIFEST.json
added and one deterministic tar archive out. Run by `make bundle`; see docs/offline.md."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "MANIFEST.json"
CHUNK = 1 << 20

INSTALL = """\
recipec offline bundle
======================

Everything needed to install and run recipec with no network on {platform}, Python {python}:
wheels for recipec and every runtime dependency (llama-cpp-python compiled, not its source,
for any x86-64 CPU with AVX2, FMA, F16C and BMI2: Intel Haswell / AMD Excavator or newer), the
default teacher model with its sha256, and the shipped recipes with their data.

1. Before unpacking, check the copy against the hash file that travels beside the archive:
       sha256sum -c {archive}.sha256
   then unpack it and work inside the folder it holds:
       tar -xf {archive} && cd recipec-bundle
2. Install into a fresh virtual environment, with no network:
       python3 -m venv .venv
       .venv/bin/pip install --no-index --find-links wheels recipec
3. Verify the bundle and this machine:
       .venv/bin/recipec doctor models --bundle ../{archive}
4. Build a shipped recipe:
       .venv/bin/recipec build recipes/counseling.recipe --out out/counseling

The machine needs the system libraries the wheel was linked against: glibc at least the
version of the machine that made the bundle, libstdc++, libgcc_s and libgomp (OpenMP; on
Debian and Ubuntu the package libgomp1). `recipec doctor` says when the CPU lacks a feature
the wheel needs (it would otherwise die with SIGILL).
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def add_model(stage: Path, model: Path, expected: str) -> None:
    """The GGUF and its `.sha256` sidecar (the form `sha256sum -c` and `recipec doctor` read)."""
    actual = sha256(model)
    if actual != expected:
        sys.exit(f"error: {model} has sha256 {actual}, expected {expected}")
    models = stage / "models"
    models.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, models / model.name)
    (models / f"{model.name}.sha256").write_text(f"{expected}  {model.name}\n")


def add_recipes(stage: Path) -> None:
    shutil.copytree(
        ROOT / "recipes", stage / "recipes", ignore=shutil.ignore_patterns("out", "*.tmp")
    )


def check_llama_wheel(stage: Path, built: Path) -> None:
    """The bundle must carry the wheel compiled with portable flags, byte for byte."""
    ours = sorted(built.glob("llama_cpp_python-*.whl"))
    staged = sorted((stage / "wheels").glob("llama_cpp_python-*.whl"))
    if len(ours) != 1 or [w.name for w in staged] != [ours[0].name]:
        sys.exit(f"error: expected exactly the wheel in {built} in the bundle, found {staged}")
    if sha256(ours[0]) != sha256(staged[0]):
        sys.exit(f"error: {staged[0]} is not the portable wheel built in {built}")


def write_manifest(stage: Path) -> None:
    files = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != MANIFEST)
    entries = [
        {"path": p.relative_to(stage).as_posix(), "size": p.stat().st_size, "sha256": sha256(p)}
        for p in files
    ]
    text = json.dumps({"version": 1, "files": entries}, indent=1, sort_keys=True)
    (stage / MANIFEST).write_text(text + "\n")


def write_archive(stage: Path, out: Path) -> None:
    """Sorted members, fixed times and owners: the same inputs give the same archive bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(stage.rglob("*")):
            if path.is_file():
                info = archive.gettarinfo(path, f"{stage.name}/{path.relative_to(stage)}")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o644
                with open(path, "rb") as f:
                    archive.addfile(info, f)
    part.replace(out)
    out.with_name(out.name + ".sha256").write_text(f"{sha256(out)}  {out.name}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--llama-wheels", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    check_llama_wheel(args.stage, args.llama_wheels)
    add_model(args.stage, args.model, args.sha256)
    add_recipes(args.stage)
    platform_tag = next((args.stage / "wheels").glob("llama_cpp_python-*.whl")).stem.split("-")[-1]
    python = ".".join(map(str, sys.version_info[:2]))
    text = INSTALL.format(platform=platform_tag, python=python, archive=args.out.name)
    (args.stage / "INSTALL").write_text(text)
    write_manifest(args.stage)
    write_archive(args.stage, args.out)
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.0f} MiB) and {args.out.name}.sha256")


if __name__ == "__main__":
    main()
