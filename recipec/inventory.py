"""`recipec models` and `--version`: recipes, GGUF files or folders in; what models and runtime
they name out (model rows with the full sha256, version lines). Nothing is loaded."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from recipec.engine import ModelError, ModelInfo, model_info
from recipec.program import Program

HEADER = ("model", "file", "size", "quant", "context", "vocab", "template", "check", "sha256")


@dataclass(frozen=True)
class Entry:
    """One model named by a path: its header facts, or why they could not be read."""

    name: str
    path: Path
    expected: str | None  # the sha256 a recipe wrote, None for a bare file
    info: ModelInfo | None = None
    error: str | None = None
    hint: str | None = None

    @property
    def verdict(self) -> str:
        if self.info is None:
            return "error"
        if self.expected is None:
            return "unchecked"
        return "ok" if self.info.sha256 == self.expected.lower() else "MISMATCH"

    @property
    def failed(self) -> bool:
        return self.verdict in ("error", "MISMATCH")


def targets(
    paths: Iterable[Path], load: Callable[[Path], Program]
) -> list[tuple[str, Path, str | None]]:
    """(name, file, expected sha256) for every model a path names; a recipe is read with `load`
    (which raises RecipeError for one that does not check)."""
    out: list[tuple[str, Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            out += [(f.stem, f, None) for f in sorted(path.glob("*.gguf")) if f.is_file()]
        elif path.suffix == ".recipe":
            program = load(path)
            out += [(m.name, Path(m.path), m.sha256) for m in program.models.values()]
        else:
            out.append((path.stem, path, None))
    return out


def inspect(name: str, path: Path, expected: str | None) -> Entry:
    """Read one model's header and hash it; a problem becomes the entry's error."""
    try:
        return Entry(name, path, expected, model_info(path, with_hash=True))
    except ModelError as exc:
        return Entry(name, path, expected, error=exc.message, hint=exc.hint or None)
    except OSError as exc:
        return Entry(name, path, expected, error=f"cannot read {path}: {exc.strerror or exc}")


def problems(entries: list[Entry]) -> list[tuple[str, str | None]]:
    """(message, hint) for each entry that cannot be used as written."""
    out: list[tuple[str, str | None]] = []
    for e in entries:
        if e.error:
            out.append((e.error, e.hint))
        elif e.verdict == "MISMATCH" and e.info:
            out.append(
                (
                    f"model '{e.name}': {e.path} has sha256 {e.info.sha256}, "
                    f"but the recipe says {e.expected}",
                    "fetch the file again, or write its sha256 in the recipe if you switched",
                )
            )
    return out


def table(entries: list[Entry]) -> list[str]:
    """The aligned table `recipec models` prints; the sha256 is whole, to paste into a recipe."""
    rows = [HEADER] + [_row(e) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _row(e: Entry) -> tuple[str, ...]:
    if e.info is None:
        return (e.name, str(e.path), "-", "-", "-", "-", "-", "error", "-")
    info = e.info
    return (
        e.name,
        str(e.path),
        f"{info.size_bytes / 2**20:.1f} MiB",
        info.quantization,
        str(info.context_length or "-"),
        str(info.vocab_size or "-"),
        info.chat_template_name,
        e.verdict,
        info.sha256 or "-",
    )


def runtime_versions() -> list[tuple[str, str]]:
    """(component, version) for recipec and the llama.cpp it runs on, read without a model."""
    import recipec

    return [
        ("recipec", recipec.__version__),
        ("llama-cpp-python", _distribution("llama_cpp_python")),
        ("llama.cpp", _llama_cpp()),
    ]


def _distribution(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _llama_cpp() -> str:
    """The bundled library's own version, and ggml's version and commit where readable."""
    import ctypes

    try:
        import llama_cpp
        from llama_cpp import _ggml
    except Exception as exc:  # a broken native install must not break `--version`
        return f"cannot be loaded ({type(exc).__name__}: {exc})"
    found: dict[str, str] = {}
    # An older binding lacks llama_version(): say what can be read.
    with contextlib.suppress(Exception):
        found["llama"] = llama_cpp.llama_version().decode()
    for key, symbol in (("ggml", "ggml_version"), ("commit", "ggml_commit")):
        try:
            fn = getattr(_ggml.libggml, symbol)
            fn.restype = ctypes.c_char_p
            found[key] = fn().decode()
        except Exception:  # ggml builds before mid-2025 lack these symbols
            continue
    if not found:
        return "version not readable from the bundled library"
    ggml = ", ".join(
        f"{label} {found[key]}"
        for key, label in (("ggml", "ggml"), ("commit", "commit"))
        if key in found
    )
    head = found.get("llama", "version unknown")
    return f"{head} ({ggml})" if ggml else head
