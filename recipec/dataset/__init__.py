"""Dataset back end: examples in; validated, deduplicated, leak-checked splits and a report out."""

from recipec.dataset.dedupe import ExactDeduper, NearDeduper, normalize
from recipec.dataset.example import Example, Message
from recipec.dataset.leakage import Leak, LeakageGuard
from recipec.dataset.report import render_report
from recipec.dataset.split import split
from recipec.dataset.stats import distinct_n
from recipec.dataset.validate import validate
from recipec.dataset.writers import WRITERS, Writer, jsonl_lines, write_jsonl

__all__ = [
    "WRITERS",
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
    "render_report",
    "split",
    "validate",
    "write_jsonl",
]
