"""Dataset back end: examples in; validated, deduplicated, leak-checked splits, a report and a
Hugging Face dataset card out."""

from recipec.dataset.card import render_card, write_card
from recipec.dataset.dedupe import ExactDeduper, NearDeduper, normalize
from recipec.dataset.example import Example, Message
from recipec.dataset.leakage import Leak, LeakageGuard
from recipec.dataset.report import render_report
from recipec.dataset.review import BuildWarning, review
from recipec.dataset.split import split
from recipec.dataset.stats import distinct_n, strings_at_bounds
from recipec.dataset.validate import validate
from recipec.dataset.writers import WRITERS, Writer, jsonl_lines, write_jsonl

__all__ = [
    "WRITERS",
    "BuildWarning",
    "Example",
    "ExactDeduper",
    "Leak",
    "LeakageGuard",
    "Message",
    "NearDeduper",
    "Writer",
    "distinct_n",
    "jsonl_lines",
    "normalize",
    "render_card",
    "render_report",
    "review",
    "split",
    "strings_at_bounds",
    "validate",
    "write_card",
    "write_jsonl",
]
