"""The output folder is a Hugging Face dataset: the card's YAML is what the Hub reads, and
`datasets.load_dataset(OUTDIR)` loads the splits by name, offline, with the right row counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from recipec.dataset.card import (
    DEFAULT_TEACHER_NOTE,
    DEFAULT_TEACHER_SHA256,
    render_card,
    write_card,
)

MANIFEST = {
    "recipe": "counseling",
    "file": "recipes/counseling.recipe",
    "mix": "main",
    "format": "chatml",
    "fingerprint": "c" * 64,
    "seed": 42,
    "status": "complete",
    "model": {
        "teacher": {
            "file": "../models/SmolLM2-135M-Instruct.Q4_1.gguf",
            "sha256": DEFAULT_TEACHER_SHA256,
        }
    },
    "versions": {"recipec": "0.1.0", "llama_cpp_python": "0.3.36"},
    "targets": {"talk": 5, "real_talk": 2},
    "counts": {"talk": 5, "real_talk": 2},
    "rejections": {"schema": 3, "near_duplicate": 1},
    "judge": None,
    "split_order": ["train", "validation", "test"],
}
SPLITS = {"train": 4, "validation": 2, "test": 1}


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    header, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(header)


def test_front_matter_is_what_the_hub_reads():
    meta = front_matter(render_card(MANIFEST, SPLITS))
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "train.jsonl"},
                {"split": "validation", "path": "validation.jsonl"},
                {"split": "test", "path": "test.jsonl"},
            ],
        }
    ]
    assert meta["license"] == "unknown" and meta["pretty_name"] == "counseling (main)"
    assert meta["task_categories"] == ["text-generation"]
    assert {"synthetic", "recipec"} <= set(meta["tags"]) and meta["size_categories"] == ["n<1K"]


def test_front_matter_parses_with_huggingface_hub():
    from huggingface_hub import DatasetCard

    card = DatasetCard(render_card({**MANIFEST, "license": "apache-2.0"}, SPLITS))
    assert card.data.license == "apache-2.0"
    assert [c["config_name"] for c in card.data.configs] == ["default"]


def test_body_holds_the_provenance_and_the_default_teacher_warning():
    card = render_card(MANIFEST, SPLITS)
    body = card.split("\n---\n", 1)[1]
    assert DEFAULT_TEACHER_SHA256 in body and "c" * 64 in body
    assert DEFAULT_TEACHER_NOTE in body
    assert "| talk | 5 | 5 |" in body and "| schema | 3 |" in body
    assert "| judge | none configured |" in body
    assert "| train | 4 | train.jsonl |" in body


def test_a_bigger_teacher_gets_no_default_teacher_warning():
    manifest = {**MANIFEST, "model": {"big": {"file": "big.gguf", "sha256": "d" * 64}}}
    assert DEFAULT_TEACHER_NOTE not in render_card(manifest, SPLITS)


def test_short_builds_say_so_and_hostile_names_stay_in_their_cells():
    manifest = {
        **MANIFEST,
        "status": "short",
        "stopped_early": "judge rejected 90%",
        "recipe": "a|b",
    }
    card = render_card(manifest, SPLITS)
    assert "**Status: short.**" in card and "Stopped early: judge rejected 90%." in card
    assert "| recipe | a\\|b |" in card
    assert front_matter(card)["pretty_name"] == "a|b (main)"


def test_an_old_manifest_still_renders():
    card = render_card({}, {"train": 1})
    assert front_matter(card)["configs"][0]["data_files"] == [
        {"split": "train", "path": "train.jsonl"}
    ]


LOAD = """
import json, sys
from datasets import load_dataset
ds = load_dataset(sys.argv[1])
print(json.dumps({name: ds[name].num_rows for name in ds}))
print(json.dumps(ds["train"][0]))
"""


def test_load_dataset_reads_the_folder_offline(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    for split, n in SPLITS.items():
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"{split} {i}"},
                    {"role": "assistant", "content": "ok"},
                ]
            }
            for i in range(n)
        ]
        (outdir / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # Files a build leaves beside the splits must not be taken for data.
    (outdir / "provenance.jsonl").write_text(json.dumps({"id": "x", "seed": 1}) + "\n")
    (outdir / "manifest.json").write_text("{}")
    (outdir / ".recipec").mkdir()
    (outdir / ".recipec" / "journal.jsonl").write_text(json.dumps({"kind": "gen"}) + "\n")
    write_card(MANIFEST, SPLITS, outdir)
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    # A child process: `datasets` reads the offline switches when it is first imported.
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(outdir)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    counts, first = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert counts == SPLITS
    assert list(counts) == ["train", "validation", "test"]
    assert first["messages"][0]["content"] == "train 0"


@pytest.mark.parametrize(("total", "category"), [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K")])
def test_size_category(total, category):
    assert front_matter(render_card({}, {"train": total}))["size_categories"] == [category]
