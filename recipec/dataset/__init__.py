"""Dataset back end: examples in; validated, deduplicated, leak-checked splits and a report out."""

from recipec.dataset.bounds import cut_strings, ends_mid_word
from recipec.dataset.dedupe import ExactDeduper, NearDeduper, normalize
from recipec.dataset.degenerate import DegenerateSettings, degenerate, degenerate_turns
from recipec.dataset.example import Example, Message
from recipec.dataset.leakage import (
    Leak,
    LeakageGuard,
    example_fields,
    generated_texts,
    source_fields,
)
from recipec.dataset.report import render_report
from recipec.dataset.split import Partition, partition, split
from recipec.dataset.stats import distinct_n
from recipec.dataset.validate import validate
from recipec.dataset.writers import WRITERS, Writer, write_jsonl

__all__ = [
    "WRITERS",
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
    "normalize",
    "partition",
    "render_report",
    "source_fields",
    "split",
    "validate",
    "write_jsonl",
]
