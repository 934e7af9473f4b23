"""`recipec doctor`: this machine, its models, the output folder and a bundle in; Findings out."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import recipec
from recipec.engine import ModelError, ModelSpec, default_threads, verify_model

OK, WARNING, PROBLEM = "ok", "warning", "problem"
MIN_FREE_BYTES = 1 << 30  # a build's journal and splits are small; the disk must not be full
BUSY_SHARE = 0.5  # other processes using more than half the usable cores slow llama.cpp badly
SAMPLE_SECONDS = 0.25
# llama.cpp's names for the CPU features it was compiled for -> the flag /proc/cpuinfo shows.
CPU_FLAGS = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX_VNNI": "avx_vnni",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}
SIDE_HASH = ".sha256"  # models/NAME.gguf.sha256 holds the expected hash of a folder's model


@dataclass(frozen=True)
class Finding:
    """One line of the checkup: what was looked at, how it stands, and what to do."""

    topic: str
    status: str
    text: str
    hint: str = ""


@dataclass(frozen=True)
class Checkup:
    """Every finding, in the order checked; any problem makes the exit code 1."""

    findings: tuple[Finding, ...]

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == PROBLEM)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def diagnose(
    models: Sequence[Path] = (Path("models"),),
    out: Path = Path("out"),
    bundle: Path | None = None,
) -> Checkup:
    """Look at the install, the CPU, the cores, the models and the output folder (and a bundle)."""
    findings = [*versions(), *llama_system(), *cores(), *model_findings(models), *output(out)]
    if bundle is not None:
        findings += verify_bundle(bundle)
    return Checkup(tuple(findings))


def render(checkup: Checkup) -> Iterator[str]:
    """Lines for a terminal: `status  topic: text`, a hint line under what needs one."""
    for f in checkup.findings:
        yield f"{f.status:<8}{f.topic}: {f.text}"
        if f.hint:
            yield f"{'':<8}  hint: {f.hint}"
    count = len(checkup.problems)
    yield f"{count} problem{'s' if count != 1 else ''} found"


def versions() -> list[Finding]:
    return [
        Finding("python", OK, f"{platform.python_version()} ({sys.executable})"),
        Finding("recipec", OK, f"{recipec.__version__} ({Path(recipec.__file__).parent})"),
    ]


# Run in a child process: a llama.cpp built for another CPU dies with SIGILL, which no
# exception handler here could catch, and a missing libgomp fails the import itself.
LLAMA_PROBE = """
import json, llama_cpp
print(json.dumps({
    "python": llama_cpp.__version__,
    "llama": llama_cpp.llama_version().decode(),
    "system": llama_cpp.llama_print_system_info().decode(),
    "gpu": bool(llama_cpp.llama_supports_gpu_offload()),
}))
"""
LLAMA_HINT = (
    "reinstall llama-cpp-python on this machine (`make install`), or from an offline bundle "
    "made for this CPU and system (docs/offline.md)"
)


def llama_system() -> list[Finding]:
    done = subprocess.run(
        [sys.executable, "-c", LLAMA_PROBE], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        return [Finding("llama-cpp-python", PROBLEM, _probe_failure(done), LLAMA_HINT)]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    gpu = "yes" if facts["gpu"] else "no, CPU only"
    return [
        Finding("llama-cpp-python", OK, facts["python"]),
        Finding("llama.cpp", OK, facts["llama"]),
        Finding("llama.cpp system", OK, " ".join(facts["system"].split())),
        Finding("gpu offload (CUDA/Metal)", OK, gpu),
        cpu_features(built_for(facts["system"]), cpu_flags()),
    ]


def _probe_failure(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode == -signal.SIGILL:
        return (
            "importing it dies with SIGILL (illegal instruction): llama.cpp was compiled for "
            "CPU features this CPU lacks"
        )
    if done.returncode < 0:
        return f"importing it dies with signal {signal.Signals(-done.returncode).name}"
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return f"cannot be imported: {last}"


def built_for(system_info: str) -> set[str]:
    """The CPU features llama.cpp reports it was compiled for (`AVX2 = 1`)."""
    parts = (p.split("=") for p in system_info.replace("CPU :", "|").split("|") if "=" in p)
    return {name.strip() for name, value in parts if value.strip() == "1"} & set(CPU_FLAGS)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The flags of the first CPU in /proc/cpuinfo; None where there is no such file."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return None


def cpu_features(built: set[str], flags: set[str] | None) -> Finding:
    if flags is None:
        return Finding("cpu features", WARNING, "no /proc/cpuinfo: cannot compare with the build")
    missing = sorted(name for name in built if CPU_FLAGS[name] not in flags)
    unused = sorted(name for name, flag in CPU_FLAGS.items() if flag in flags and name not in built)
    if missing:
        return Finding(
            "cpu features",
            PROBLEM,
            f"llama.cpp was compiled for {', '.join(missing)}, which this CPU lacks: "
            "it will die with SIGILL (illegal instruction)",
            "reinstall llama-cpp-python built here, or from a portable bundle (docs/offline.md)",
        )
    text = f"built for {', '.join(sorted(built)) or 'no extensions'}; the CPU has them all"
    if unused:
        text += f" (and {', '.join(unused)}, which this build does not use)"
    return Finding("cpu features", OK, text)


def cores() -> list[Finding]:
    usable = len(os.sched_getaffinity(0))
    threads = default_threads()
    configured = os.environ.get("RECIPEC_THREADS", "").strip()
    why = f"RECIPEC_THREADS={configured}" if configured else "one per usable core"
    findings = [
        Finding("threads", OK, f"{usable} usable cores; recipec will use {threads} ({why})")
    ]
    busy = busy_cores()
    load1 = os.getloadavg()[0]
    if busy > BUSY_SHARE * usable or load1 > usable:
        findings.append(
            Finding(
                "cpu load",
                WARNING,
                f"other processes keep {busy:.1f} of {usable} cores busy now "
                f"(load average {load1:.1f} over the last minute); llama.cpp's threads then "
                "wait on each other and a build can run many times slower",
                "wait for them to finish, or set RECIPEC_THREADS (or --threads) to the idle cores",
            )
        )
    else:
        findings.append(Finding("cpu load", OK, f"{busy:.1f} of {usable} cores busy now"))
    return findings


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float:
    """How many cores were busy over `seconds`, from /proc/stat (0 where it is missing)."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None:
        return 0.0
    total = second[0] - first[0]
    idle = second[1] - first[1]
    return (total - idle) / total * (os.cpu_count() or 1) if total > 0 else 0.0


def _cpu_times() -> tuple[int, int] | None:
    """(all jiffies, idle + iowait jiffies) from the first line of /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    return sum(values), values[3] + (values[4] if len(values) > 4 else 0)


def model_findings(paths: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        findings += _recipe_models(path) if path.suffix == ".recipe" else _folder_models(path)
    return findings


def _recipe_models(recipe: Path) -> list[Finding]:
    from recipec.diagnostics import RecipeError

    try:
        program = recipec.check(recipec.parse(recipe))
    except RecipeError as error:
        first = error.diagnostics[0]
        return [Finding(f"recipe {recipe}", PROBLEM, f"does not check: {first.message}")]
    except OSError as error:
        return [Finding(f"recipe {recipe}", PROBLEM, f"cannot be read: {error.strerror}")]
    return [
        _model(ModelSpec(m.name, Path(m.path), m.sha256), f"model '{m.name}'")
        for m in program.models.values()
    ]


def _folder_models(path: Path) -> list[Finding]:
    if not path.exists():
        return [Finding(f"models {path}", PROBLEM, "not found", "run `make model`")]
    files = sorted(path.glob("*.gguf")) if path.is_dir() else [path]
    if not files:
        return [Finding(f"models {path}", WARNING, "no .gguf files here", "run `make model`")]
    return [_model(ModelSpec(f.stem, f, _side_hash(f)), f"model {f}") for f in files]


def _side_hash(model: Path) -> str | None:
    side = model.with_name(model.name + SIDE_HASH)
    try:
        return side.read_text().split()[0]
    except (OSError, IndexError):
        return None


def _model(spec: ModelSpec, topic: str) -> Finding:
    started = time.perf_counter()
    try:
        info = verify_model(spec)
    except ModelError as error:
        return Finding(topic, PROBLEM, error.message, error.hint)
    seconds = time.perf_counter() - started
    hashed = "sha256 matches" if spec.sha256 else "no sha256 to compare with"
    status = OK if spec.sha256 else WARNING
    text = (
        f"{info.architecture} {info.quantization}, {info.size_bytes / 2**20:.1f} MiB, {hashed}, "
        f"verified in {seconds:.2f}s"
    )
    return Finding(topic, status, text)


def output(out: Path) -> list[Finding]:
    """Whether recipec can write under `out` (or where it would be created), and free space."""
    base = _existing(out)
    if not base.is_dir():
        return [Finding("output", PROBLEM, f"{base} is not a folder, so {out} cannot be made")]
    findings = []
    if not _writable(base):
        findings.append(
            Finding(
                "output",
                PROBLEM,
                f"{base} is not writable, so a build cannot write {out}",
                "choose another folder with `--out`, or fix its permissions",
            )
        )
    free = shutil.disk_usage(base).free
    status = OK if free >= MIN_FREE_BYTES else PROBLEM
    hint = "" if status == OK else "free some space or choose another folder with `--out`"
    findings.append(Finding("disk", status, f"{free / 2**30:.1f} GiB free at {base}", hint))
    return findings


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable(folder: Path) -> bool:
    """Try it: permission bits say nothing for root or on a read-only filesystem."""
    probe = folder / f".recipec-doctor-{os.getpid()}"
    try:
        probe.touch(exist_ok=False)
    except OSError:
        return False
    probe.unlink()
    return True


def verify_bundle(path: Path) -> list[Finding]:
    """Every file of an offline bundle against its MANIFEST.json (size and sha256), and the
    pieces an offline install needs: wheels for recipec and llama-cpp-python, a model, INSTALL."""
    try:
        with tarfile.open(path) as archive:
            manifest = _manifest(archive)
            found = _bundle_files(archive)
    except (OSError, tarfile.TarError, ValueError, KeyError) as error:
        return [Finding(f"bundle {path}", PROBLEM, f"cannot be read: {error}", BUNDLE_HINT)]
    findings = _compare(manifest, found) + _required(set(found))
    if not findings:
        size = sum(s for s, _ in found.values())
        text = f"{len(found)} files, {size / 2**20:.1f} MiB, every sha256 matches its manifest"
        findings = [Finding("bundle", OK, text)]
    return [_retopic(f, f"bundle {path}") for f in findings]


BUNDLE_HINT = "make the bundle again (`make bundle`) and copy it once more"
MANIFEST = "MANIFEST.json"


def _manifest(archive: tarfile.TarFile) -> dict[str, tuple[int, str]]:
    member = next(m for m in archive.getmembers() if m.name.endswith("/" + MANIFEST))
    stream = archive.extractfile(member)
    if stream is None:
        raise ValueError(f"{member.name} is not a file")
    entries = json.loads(stream.read())["files"]
    return {e["path"]: (int(e["size"]), str(e["sha256"])) for e in entries}


def _bundle_files(archive: tarfile.TarFile) -> dict[str, tuple[int, str]]:
    """path inside the bundle folder -> (size, sha256), read in chunks."""
    out: dict[str, tuple[int, str]] = {}
    for member in archive.getmembers():
        stream = archive.extractfile(member) if member.isfile() else None
        name = member.name.partition("/")[2]
        if stream is None or name == MANIFEST:
            continue
        digest = hashlib.sha256()
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
        out[name] = (member.size, digest.hexdigest())
    return out


def _compare(
    manifest: dict[str, tuple[int, str]], found: dict[str, tuple[int, str]]
) -> list[Finding]:
    findings = [
        Finding("", PROBLEM, f"{name} is in the manifest but not in the archive", BUNDLE_HINT)
        for name in sorted(manifest.keys() - found.keys())
    ]
    findings += [
        Finding("", PROBLEM, f"{name} is in the archive but not in the manifest", BUNDLE_HINT)
        for name in sorted(found.keys() - manifest.keys())
    ]
    findings += [
        Finding("", PROBLEM, f"{name} differs from the manifest (size or sha256)", BUNDLE_HINT)
        for name in sorted(found.keys() & manifest.keys())
        if found[name] != manifest[name]
    ]
    return findings


def _required(names: set[str]) -> list[Finding]:
    wanted = {
        "recipec wheel": lambda n: n.startswith("wheels/recipec-") and n.endswith(".whl"),
        "compiled llama-cpp-python wheel": _compiled_llama_wheel,
        "GGUF model": lambda n: n.startswith("models/") and n.endswith(".gguf"),
        "INSTALL": lambda n: n == "INSTALL",
    }
    return [
        Finding("", PROBLEM, f"the bundle has no {what}", BUNDLE_HINT)
        for what, test in wanted.items()
        if not any(test(n) for n in names)
    ]


def _compiled_llama_wheel(name: str) -> bool:
    """A llama-cpp-python wheel for this machine's architecture (not its source)."""
    if not (name.startswith("wheels/llama_cpp_python-") and name.endswith(".whl")):
        return False
    return name.removesuffix(".whl").endswith(platform.machine())


def _retopic(finding: Finding, topic: str) -> Finding:
    return Finding(topic, finding.status, finding.text, finding.hint)
