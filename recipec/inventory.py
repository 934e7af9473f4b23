"""`recipec models`: recipes, GGUF files or folders in; a table of the models they name out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from recipec.diagnostics import RecipeError
from recipec.engine import ModelError, model_info

HEADER = ("model", "file", "size", "quant", "context", "vocab", "template", "sha256")


def _targets(paths: Iterable[Path]) -> list[tuple[str, Path, str | None]]:
    """(name, file, expected sha256) for every model a path names."""
    import recipec

    out: list[tuple[str, Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            out += [(f.stem, f, None) for f in sorted(path.glob("*.gguf"))]
        elif path.suffix == ".recipe":
            program = recipec.check(recipec.parse(path))
            out += [(m.name, Path(m.path), m.sha256) for m in program.models.values()]
        else:
            out.append((path.stem, path, None))
    return out


def list_models(paths: Iterable[Path], echo: Callable[[str], None]) -> int:
    try:
        targets = _targets(paths)
    except RecipeError as exc:
        for d in exc.diagnostics:
            echo(f"{d.span}: error: {d.message}  [{d.code}]")
        return 1
    rows, status = [HEADER], 0
    for name, path, expected in targets:
        try:
            info = model_info(path, with_hash=True)
        except ModelError as exc:
            rows.append((name, str(path), "-", "-", "-", "-", "-", f"error: {exc.message}"))
            status = 1
            continue
        verdict = (
            "unchecked" if expected is None else ("ok" if info.sha256 == expected else "MISMATCH")
        )
        status |= verdict == "MISMATCH"
        rows.append(
            (
                name,
                str(path),
                f"{info.size_bytes / 2**20:.1f} MiB",
                info.quantization,
                str(info.context_length),
                str(info.vocab_size),
                info.chat_template_name,
                f"{(info.sha256 or '')[:12]}… {verdict}",
            )
        )
    if len(rows) == 1:
        echo("no models found")
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for r in rows:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return status
