"""Dataset back end: examples in; validated, deduplicated, leak-checked splits, a report and a
Hugging Face dataset card out."""

from recipec.dataset.bounds import cut_strings, ends_mid_word
from recipec.dataset.card import render_card, write_card
from recipec.dataset.dedupe import ExactDeduper, NearDeduper, normalize
from recipec.dataset.degenerate import DegenerateSettings, degenerate, degenerate_turns
from recipec.dataset.example import Example, Message
from recipec.dataset.leakage import (
    Leak,
    LeakageGuard,
    example_fields,
    generated_texts,
    row_fields,
    source_fields,
)
from recipec.dataset.report import render_report
from recipec.dataset.review import BuildWarning, review
from recipec.dataset.split import Partition, partition, split
from recipec.dataset.stats import distinct_n, strings_at_bounds
from recipec.dataset.validate import validate
from recipec.dataset.writers import WRITERS, Writer, jsonl_lines, write_jsonl

__all__ = [
    "WRITERS",
    "BuildWarning",
    "DegenerateSettings",
    "Example",
    "ExactDeduper",
    "Leak",
    "LeakageGuard",
    "Message",
    "NearDeduper",
    "Partition",
    "Writer",
    "cut_strings",
    "degenerate",
    "degenerate_turns",
    "distinct_n",
    "ends_mid_word",
    "example_fields",
    "generated_texts",
    "jsonl_lines",
    "normalize",
    "partition",
    "render_card",
    "render_report",
    "review",
    "row_fields",
    "source_fields",
    "split",
    "strings_at_bounds",
    "validate",
    "write_card",
    "write_jsonl",
]
