"""Dataset card: manifest and split sizes in, the README.md that the Hugging Face Hub reads out.

The YAML header names one config whose data files are the split files, so that
`datasets.load_dataset(OUTDIR)` loads the splits by name and ignores the build's other files
(provenance.jsonl, the journal). The body is the recipe's provenance, in plain Markdown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recipec.dataset.writers import write_atomic

# The default teacher (SmolLM2-135M-Instruct, Q4_1) that `make model` fetches: good for trying the
# tool, not for writing training data. A card must say so when it made the records.
DEFAULT_TEACHER_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_TEACHER_NOTE = (
    "These records were written by recipec's default teacher, SmolLM2-135M-Instruct (135M "
    "parameters, 4-bit). That model is for trying the tool, not for making training data: "
    "read the records before training on them, and rebuild with a stronger teacher."
)
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"))


def render_card(manifest: Mapping[str, Any], split_counts: Mapping[str, int]) -> str:
    """README.md text: YAML front matter for the Hub, then the recipe's provenance."""
    return _front_matter(manifest, split_counts) + "\n" + _body(manifest, split_counts)


def write_card(manifest: Mapping[str, Any], split_counts: Mapping[str, int], outdir: Path) -> Path:
    path = Path(outdir) / "README.md"
    write_atomic(path, [render_card(manifest, split_counts).encode("utf-8")])
    return path


def made_by_default_teacher(manifest: Mapping[str, Any]) -> bool:
    models = manifest.get("model")
    if not isinstance(models, Mapping):
        return False
    return any(
        isinstance(info, Mapping) and info.get("sha256") == DEFAULT_TEACHER_SHA256
        for info in models.values()
    )


# YAML ---------------------------------------------------------------------------------------


def _q(value: Any) -> str:
    """A YAML scalar: a JSON string is valid YAML and needs no escaping rules of its own."""
    return json.dumps(str(value), ensure_ascii=False)


def _front_matter(manifest: Mapping[str, Any], split_counts: Mapping[str, int]) -> str:
    languages = _languages(manifest)
    lines = [
        "---",
        f"license: {_q(manifest.get('license') or 'unknown')}",
        f"pretty_name: {_q(_title(manifest))}",
        "task_categories:",
        "- text-generation",
        *(["language:", *(f"- {_q(lang)}" for lang in languages)] if languages else []),
        "tags:",
        *(f"- {_q(tag)}" for tag in _tags(manifest)),
        "size_categories:",
        f"- {_q(_size_category(sum(split_counts.values())))}",
        "configs:",
        "- config_name: default",
        "  data_files:",
    ]
    for split in _split_names(manifest, split_counts):
        lines += [f"  - split: {_q(split)}", f"    path: {_q(split + '.jsonl')}"]
    return "\n".join([*lines, "---"]) + "\n"


def _languages(manifest: Mapping[str, Any]) -> Sequence[str]:
    language = manifest.get("language")
    if isinstance(language, str):
        return (language,)
    return tuple(language) if isinstance(language, list) else ()


def _tags(manifest: Mapping[str, Any]) -> list[str]:
    tags = ["synthetic", "recipec"]
    if isinstance(manifest.get("format"), str):
        tags.append(manifest["format"])
    return tags


def _size_category(total: int) -> str:
    return next((name for limit, name in SIZE_CATEGORIES if total < limit), "100K<n<1M")


def _split_names(manifest: Mapping[str, Any], split_counts: Mapping[str, int]) -> list[str]:
    """The recipe's split order when the manifest keeps it; splits with no file are left out."""
    order = manifest.get("split_order")
    names = [n for n in order if n in split_counts] if isinstance(order, list) else []
    return names + [n for n in split_counts if n not in names]


def _title(manifest: Mapping[str, Any]) -> str:
    recipe, mix = manifest.get("recipe"), manifest.get("mix")
    name = str(recipe or "recipec dataset")
    return f"{name} ({mix})" if mix and mix != recipe else name


# Body ---------------------------------------------------------------------------------------


LOADING = """```python
from datasets import load_dataset

ds = load_dataset("PATH/TO/THIS/FOLDER")
```

Each record's persona, seed, retries and judge score are in `provenance.jsonl`; `report.html`
shows sample records, rejected attempts and warnings."""


def _body(manifest: Mapping[str, Any], split_counts: Mapping[str, int]) -> str:
    parts = [f"# {_md(_title(manifest))}", _intro(manifest)]
    if made_by_default_teacher(manifest):
        parts.append(f"> **Warning.** {DEFAULT_TEACHER_NOTE}")
    if manifest.get("status") not in (None, "complete"):
        parts.append(f"> **Status: {_md(str(manifest['status']))}.** {_status_note(manifest)}")
    tables = (
        ("Splits", ("split", "records", "file"), _split_rows(manifest, split_counts)),
        ("Provenance", ("item", "value"), _provenance_rows(manifest)),
        ("Teacher models", ("model", "file", "sha256"), _model_rows(manifest)),
        ("Records per origin", ("origin", "wanted", "delivered"), _origin_rows(manifest)),
        ("Rejected attempts", ("reason", "attempts"), _filter_rows(manifest)),
    )
    for title, headers, rows in tables:
        parts += [f"## {title}", "\n".join(_table(headers, rows))]
    parts += ["## Loading", LOADING]
    return "\n\n".join(parts) + "\n"


def _intro(manifest: Mapping[str, Any]) -> str:
    recipe = _code(manifest.get("file") or manifest.get("recipe"))
    mix, fmt = _code(manifest.get("mix")), _code(manifest.get("format"))
    return (
        f"Synthetic fine-tuning data compiled by recipec from the recipe `{recipe}` (mix `{mix}`, "
        f"format `{fmt}`). Rebuilding the recipe with the same teacher files gives the same "
        "records, byte for byte."
    )


def _status_note(manifest: Mapping[str, Any]) -> str:
    status = manifest.get("status")
    reason = manifest.get("stopped_early")
    notes = {
        "limited": "A trial build (`--limit`): only the first jobs ran.",
        "short": "The build fell short of its targets; these are the records it accepted.",
        "failed": "The build failed; these are the records it accepted.",
    }
    note = notes.get(str(status), "")
    return note + (f" Stopped early: {_md(str(reason))}." if reason else "")


def _split_rows(manifest: Mapping[str, Any], counts: Mapping[str, int]) -> list[tuple[str, ...]]:
    return [(s, str(counts[s]), f"{s}.jsonl") for s in _split_names(manifest, counts)]


def _provenance_rows(manifest: Mapping[str, Any]) -> list[tuple[str, ...]]:
    versions = manifest.get("versions") if isinstance(manifest.get("versions"), Mapping) else {}
    assert isinstance(versions, Mapping)
    rows = [
        ("recipe", manifest.get("recipe")),
        ("recipe file", manifest.get("file")),
        ("mix", manifest.get("mix")),
        ("fingerprint", manifest.get("fingerprint")),
        ("seed", manifest.get("seed")),
        ("status", manifest.get("status")),
        ("recipec", versions.get("recipec")),
        ("llama-cpp-python", versions.get("llama_cpp_python")),
    ]
    judge = manifest.get("judge")
    if "judge" in manifest:
        rows.append(("judge", _judge_text(judge)))
    return [(name, _text(value)) for name, value in rows if value is not None or name == "judge"]


def _judge_text(judge: Any) -> str:
    if not isinstance(judge, Mapping):
        return "none configured"
    return ", ".join(f"{k} {judge[k]}" for k in sorted(judge) if k != "rubric") or "configured"


def _model_rows(manifest: Mapping[str, Any]) -> list[tuple[str, ...]]:
    models = manifest.get("model") if isinstance(manifest.get("model"), Mapping) else {}
    assert isinstance(models, Mapping)
    return [
        (name, _text(info.get("file")), _text(info.get("sha256")))
        for name, info in sorted(models.items())
        if isinstance(info, Mapping)
    ]


def _origin_rows(manifest: Mapping[str, Any]) -> list[tuple[str, ...]]:
    targets = manifest.get("targets") if isinstance(manifest.get("targets"), Mapping) else {}
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), Mapping) else {}
    assert isinstance(targets, Mapping) and isinstance(counts, Mapping)
    return [
        (origin, _text(targets.get(origin)), _text(counts.get(origin, 0)))
        for origin in sorted(set(targets) | set(counts))
    ]


def _filter_rows(manifest: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rejections = manifest.get("rejections")
    if not isinstance(rejections, Mapping):
        return []
    return [(str(reason), _text(n)) for reason, n in sorted(rejections.items())]


# Markdown -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "n/a" if value is None else str(value)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _code(value: Any) -> str:
    return _text(value).replace("`", "'")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["none"]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md(cell) for cell in cells) + " |"

    return [line(headers), "|" + "---|" * len(headers), *(line(row) for row in rows)]
