"""render_report: report.md and a self-contained, escaped report.html from a small build, with
samples, rejected attempts, warnings, persona draws against weights and whole-build effort."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from recipec.dataset import Example, Message, render_report
from recipec.dataset.card import DEFAULT_TEACHER_SHA256
from recipec.dataset.report import NA, duration
from recipec.dataset.review import review

HOSTILE = "<script>alert('x')</script>"
LONG_ANSWER = "First line of a long answer.\n\n" + " ".join(f"word{i}" for i in range(400))


def chat(i: int, origin: str, stratum: str, answer: str) -> Example:
    turns = (Message("user", f"question number {i}"), Message("assistant", answer))
    return Example(f"{origin}-{i}", origin, "chat", turns, stratum=stratum)


SPLITS = {
    "train": [chat(i, "qa", "easy", f"answer {i} is here") for i in range(5)]
    + [chat(9, "tricky", "", HOSTILE), chat(10, "tricky", "", LONG_ANSWER)],
    "test": [chat(i, "qa", "hard", f"another answer {i}") for i in range(5, 7)],
}
MANIFEST = {
    "recipe": "therapy & <friends>",
    "mix": "main",
    "status": "complete",
    "fingerprint": "f" * 64,
    "seed": 7,
    "model": {"teacher": {"file": "models/tiny.gguf", "sha256": "ab" * 32}},
    "teacher_params": 95_000_000,
    "judge": {"model": "teacher", "min": 3},
    "targets": {"qa": 8, "tricky": 2},
    "counts": {"qa": 7, "tricky": 2},
    "quotas": [
        {
            "name": "hard ones",
            "origin": "qa",
            "where": "level == 'hard'",
            "at_least": 2,
            "wanted": 2,
            "delivered": 2,
        },
        {"name": "cap", "origin": "qa", "where": None, "at_most": 1, "wanted": 1, "delivered": 3},
    ],
    "rejections": {"schema": 4, "judge": 2, HOSTILE: 1},
    "dropped": {"exact_duplicate": 3, "near_duplicate": 1, "leakage": 0, "judge": 2},
    "persona_weights": {"qa": {"level": {"easy": 3, "hard": 1}, "mood": {"calm": 1, "$odd$": 1}}},
    "tokens": {"prompt": 1234, "output": 5678},
    "totals": {"seconds": 3725.0, "prompt_tokens": 20000, "output_tokens": 7450, "generations": 40},
    "generations": {"new": 2, "reused": 38},
    "seconds": 1.5,
    "splits": {"train": 7, "test": 2},
}
PROVENANCE = [
    {
        "id": f"qa-{i}",
        "origin": "qa",
        "synthetic": True,
        "persona": {"level": "hard" if i >= 5 else "easy", "mood": "calm"},
        "seed": i,
        "retries": i % 2,
        "judge_score": 3 + i % 3,
        "rejections": [],
        "output_tokens": 20 + i,
        "nearest_real": {"id": "real/000003", "overlap": 0.9 if i == 2 else 0.1},
    }
    for i in range(7)
] + [
    {
        "id": f"tricky-{i}",
        "origin": "tricky",
        "synthetic": False,
        "persona": None,
        "seed": None,
        "retries": 0,
        "judge_score": None,
        "rejections": ["schema"],
    }
    for i in (9, 10)
]
REJECTED = [
    {
        "job": "qa-3",
        "attempt": 0,
        "reason": "schema",
        "detail": "'reply' is too short",
        "text": '{"reply": "no <b>bold</b>"}',
        "persona": {"level": "easy"},
        "task": "qa",
    },
    {
        "job": "qa-4",
        "attempt": 1,
        "reason": "judge",
        "detail": "score 1 < min 3",
        "text": "rejected text kept in full",
        "persona": None,
        "task": "qa",
    },
]


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[str, str]:
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path / "out", REJECTED)
    return (tmp_path / "out" / "report.md").read_text(), (
        tmp_path / "out" / "report.html"
    ).read_text()


class Page(HTMLParser):
    """The page as a browser parses it: text outside tags, every tag with its attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.pre: list[str] = []
        self._in_pre = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_pre = self._in_pre or tag == "pre"
        if tag == "pre":
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_pre:
            self.pre[-1] += data


def test_both_files_are_written(rendered):
    markdown, page = rendered
    assert markdown.startswith("# recipec report: therapy &amp; &lt;friends&gt;\n")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_html_is_self_contained(rendered):
    _, page = rendered
    tags = Page(page).tags
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object")]
    refs = [v for _, attrs in tags for k, v in attrs.items() if k in ("src", "href")]
    assert refs and all(v and v.startswith("#") for v in refs)  # SVG markers, in the page
    assert "@import" not in page and not re.search(r"url\((?!#)", page)
    assert "http:" not in page and "https:" not in page
    assert sum(t == "svg" for t, _ in tags) >= 4 and "<style>" in page
    policy = next(a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy


def test_svg_ids_are_unique_across_charts(rendered):
    ids = [a["id"] for _, a in Page(rendered[1]).tags if "id" in a]
    assert ids and len(ids) == len(set(ids))


def test_records_are_shown_in_full_and_escaped(rendered):
    markdown, page = rendered
    parsed = Page(page)
    assert HOSTILE in parsed.pre and LONG_ANSWER in parsed.pre
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    # In Markdown a record sits in a fenced block, where no renderer reads HTML.
    outside = re.sub(r"^(`{3,})text\n.*?\n\1$", "", markdown, flags=re.DOTALL | re.MULTILINE)
    assert "<script" not in outside and "<script" in markdown
    assert LONG_ANSWER in markdown


def test_a_backtick_fence_inside_a_record_cannot_end_its_block(tmp_path):
    sneaky = "before\n```\n<b>after</b>"
    splits = {"train": [chat(1, "qa", "", sneaky)]}
    render_report({}, splits, [], tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert "````text\n" + sneaky + "\n````" in markdown


def test_samples_cover_every_origin_and_stratum(rendered):
    _, page = rendered
    titles = re.findall(r'<article class="record"><h3>([^<]*)</h3>', page)
    samples = [t for t in titles if "attempt" not in t]
    assert {"tricky-9", "tricky-10"} <= set(samples)
    assert sum(t.startswith("qa-") for t in samples) == 3 + 2  # 3 of 5 easy, both hard
    assert "persona level=easy, mood=calm" in page and "judge score" in page


def test_rejected_attempts_are_counted_and_shown(rendered):
    markdown, page = rendered
    assert "<td>schema</td><td>1</td>" in page and "<td>judge</td><td>1</td>" in page
    assert "qa-4 attempt 1" in page and "score 1 &lt; min 3" in page
    assert "rejected text kept in full" in Page(page).pre
    assert '{"reply": "no <b>bold</b>"}' in Page(page).pre
    assert "#### qa-3 attempt 0" in markdown


def test_rejections_fall_back_to_the_manifest_counts(tmp_path):
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path)
    assert "<td>schema</td><td>4</td>" in (tmp_path / "report.html").read_text()


def test_warnings(rendered):
    markdown, page = rendered
    small = "The teacher &#x27;teacher&#x27; is a 95 MB file"
    assert f"<li><strong>small_teacher</strong>: {small}" in page
    assert "<strong>copies_real</strong>: 1 record(s)" in page
    assert "qa-2 (90% of real/000003)" in page
    assert "<strong>no_judge</strong>" not in page and "<strong>judge_low</strong>" not in page
    assert "- **small_teacher**: The teacher 'teacher' is a 95 MB file" in markdown


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"status": "failed"}, "failed"),
        ({"status": "short"}, "short"),
        ({"status": "limited"}, "limited"),
        ({"stopped_early": "9 of the last 10 attempts were rejected"}, "stopped_early"),
        ({"judge": None}, "no_judge"),
        ({"model": {"t": {"sha256": DEFAULT_TEACHER_SHA256}}}, "default_teacher"),
        ({"rejections": {"judge": 30}}, "judge_low"),
        ({"rejections": {"truncated": 5}}, "truncated"),
    ],
)
def test_each_warning_appears_when_it_applies(change, code):
    assert code not in [w.code for w in review(MANIFEST, PROVENANCE, REJECTED)]
    assert code in [w.code for w in review({**MANIFEST, **change}, PROVENANCE, REJECTED)]


def test_a_big_teacher_gets_no_size_warning():
    big = {**MANIFEST, "teacher_params": {"teacher": 4_700_000_000}}
    assert "small_teacher" not in [w.code for w in review(big, PROVENANCE)]
    small = {**MANIFEST, "teacher_params": {"teacher": 4_700_000_000, "judge": 500_000_000}}
    assert [w.message[:22] for w in review(small, PROVENANCE) if w.code == "small_teacher"] == [
        "The teacher 'judge' is"
    ]


def test_strings_at_their_bounds_warn():
    rows = [
        {**row, "at_bounds": ["reply at max 40"]} if row["id"] < "qa-3" else row
        for row in PROVENANCE
    ]
    found = {w.code: w.message for w in review(MANIFEST, rows)}
    assert found["at_bounds"].startswith("3 of 7 records have a string exactly at a length bound")


def test_a_failed_build_with_no_records_renders(tmp_path):
    manifest = {"status": "failed", "stopped_early": "the judge rejected 89 of 99", "judge": None}
    warnings = render_report(manifest, {}, [], tmp_path, REJECTED)
    page = (tmp_path / "report.html").read_text()
    assert {"failed", "stopped_early", "no_judge"} <= {w.code for w in warnings}
    assert "rejected text kept in full" in page and "the judge rejected 89 of 99" in page


def test_persona_values_against_the_weights(rendered):
    markdown, page = rendered
    # level: weights 3:1 over 7 records -> 5.25 and 1.75 expected; 5 easy and 2 hard drawn.
    assert "<td>easy</td><td>3</td><td>75.0%</td><td>5</td><td>71.4%</td>" in page
    assert "<td>hard</td><td>1</td><td>25.0%</td><td>2</td><td>28.6%</td>" in page
    assert "| easy | 5 | 5.25 |" in markdown and "| hard | 2 | 1.75 |" in markdown
    assert "<td>$odd$</td><td>1</td><td>50.0%</td><td>0</td><td>0.0%</td>" in page


def test_effort_is_the_whole_build_not_the_resume(rendered):
    _, page = rendered
    assert "<td>time, whole build</td><td>1 h 02 min</td>" in page
    assert "<td>output tokens, whole build</td><td>7450</td>" in page
    assert "<td>output tokens per second</td><td>2.0</td>" in page  # 7450 / 3725
    assert "<td>this run</td><td>1.5 s; 2 generated, 38 reused from the journal</td>" in page


def test_an_old_resumed_manifest_shows_no_rate(tmp_path):
    old = {k: v for k, v in MANIFEST.items() if k != "totals"}
    render_report(old, SPLITS, PROVENANCE, tmp_path)
    assert "<td>output tokens per second</td><td>n/a</td>" in (tmp_path / "report.html").read_text()
    fresh = {**old, "generations": {"new": 40, "reused": 0}, "seconds": 10.0}
    render_report(fresh, SPLITS, PROVENANCE, tmp_path)
    assert (
        "<td>output tokens per second</td><td>567.8</td>" in (tmp_path / "report.html").read_text()
    )


def test_lengths_in_tokens(tmp_path):
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "teacher output tokens" in page
    assert "<td>qa</td><td>7</td><td>20 / 23 / 26 / 26</td>" in page
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path, count_tokens=lambda text: len(text))
    page = (tmp_path / "report.html").read_text()
    assert "the teacher&#x27;s tokens" in page
    shortest = min(len(ex.text()) for ex in SPLITS["train"] if ex.origin == "tricky")
    assert f"<td>tricky</td><td>2</td><td>{shortest} / " in page


def test_long_tokens_may_wrap_and_words_may_not(rendered):
    _, page = rendered
    assert f'<td class="token">{"ab" * 32}</td>' in page
    assert "<td>therapy &amp; &lt;friends&gt;</td>" in page
    css = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)
    assert "word-break: break-all" not in css and "word-break: normal" in css
    assert re.search(r"td\.token \{[^}]*overflow-wrap: anywhere", css)


@pytest.mark.parametrize(
    "fact",
    [
        "<td>qa</td><td>8</td><td>7</td><td>short by 1</td>",  # counts vs targets
        "<td>hard ones</td><td>qa</td><td>level == &#x27;hard&#x27;</td><td>at least 2</td>",
        "<td>cap</td><td>qa</td><td>n/a</td><td>at most 1</td><td>1</td><td>3</td><td>no</td>",
        "<td>train</td><td>7</td><td>77.8%</td>",
        "<td>qa</td><td>hard</td><td>0</td><td>2</td><td>2</td>",  # stratum by split
        "<td>exact duplicate</td><td>3</td>",
        "<td>5</td><td>2</td>",  # judge score 5 given twice
        "ab" * 32,
    ],
)
def test_html_holds_the_numbers(rendered, fact):
    assert fact in rendered[1]


def test_markdown_holds_the_numbers(rendered):
    markdown, _ = rendered
    assert "| qa | 8 | 7 | short by 1 |" in markdown
    assert "| train | 7 | 77.8% |" in markdown
    assert "| exact duplicate | 3 |" in markdown
    assert "distinct-1" in markdown and "█" in markdown


def test_missing_manifest_keys_show_not_available(tmp_path):
    assert render_report({}, {"train": []}, [], tmp_path) == ()
    markdown = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert f"# recipec report: {NA}" in markdown
    assert f"| fingerprint | {NA} |" in markdown and f"<td>leakage</td><td>{NA}</td>" in page


def test_rendering_is_deterministic(tmp_path):
    render_report(MANIFEST, SPLITS, PROVENANCE, tmp_path / "a", REJECTED)
    shuffled = {**MANIFEST, "rejections": dict(reversed(MANIFEST["rejections"].items()))}
    render_report(shuffled, SPLITS, PROVENANCE, tmp_path / "b", list(reversed(REJECTED)))
    for name in ("report.md", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, NA), (0.04, "0.0 s"), (59.94, "59.9 s"), (187, "3 min 07 s"), (7500, "2 h 05 min")],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_read_build_takes_what_a_failed_build_left(tmp_path):
    from recipec.dataset.report import read_build
    from recipec.diagnostics import BuildFailed

    with pytest.raises(BuildFailed, match="manifest.json is missing"):
        read_build(tmp_path)
    (tmp_path / "manifest.json").write_text('{"status": "failed", "split_order": ["train"]}')
    files = read_build(tmp_path)
    assert (files.splits, files.provenance, files.rejected) == ({"train": []}, [], [])
    (tmp_path / ".recipec").mkdir()
    (tmp_path / ".recipec" / "rejected.jsonl").write_text(
        '{"job": "a", "attempt": 0, "reason": "judge", "text": "t"}\n'
    )
    (tmp_path / ".recipec" / "examples.jsonl").write_text(
        '{"split": "test", "id": "x", "origin": "o", "kind": "chat", "messages": '
        '[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
    )
    files = read_build(tmp_path)
    assert files.rejected[0]["reason"] == "judge" and [e.id for e in files.splits["test"]] == ["x"]
    (tmp_path / "provenance.jsonl").write_text("{not json\n")
    with pytest.raises(BuildFailed, match="cannot be read"):
        read_build(tmp_path)
