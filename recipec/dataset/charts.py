"""Charts: labelled counts in, an inline <svg> element (matplotlib, no scripts, no links) out.

matplotlib draws; this module only makes its SVG fit inside an HTML page: the XML prologue and
namespace declarations go, ids get a per-chart prefix (several charts share one document), and
the output is byte-stable (fixed hash salt, no date).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAR = "#4a78b5"
EXPECTED = "#d9822b"
ROW_INCHES = 0.28
WIDTH_INCHES = 7.5
LABEL_CHARS = 40

_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    expected: Sequence[float] | None = None,
    unit: str = "records",
    legend: tuple[str, str] = ("records", "expected"),
) -> str:
    """Horizontal bars, one per label, top to bottom; `expected` draws a second, hollow bar."""
    import matplotlib
    from matplotlib.figure import Figure

    salt = hashlib.sha256(f"{title}\n{list(labels)}".encode()).hexdigest()[:10]
    # Labels are data (a persona value may hold "$"): never parse them as mathtext.
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9, "text.parse_math": False}
    ):
        rows = len(labels)
        height = 0.75 + ROW_INCHES * rows * (1.6 if expected is not None else 1)
        fig = Figure(figsize=(WIDTH_INCHES, height))
        ax = fig.subplots()
        _draw(ax, [_short(label) for label in labels], values, expected, unit, legend)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return _inline(buffer.getvalue(), "c" + salt, title)


def _draw(
    ax: Axes,
    labels: Sequence[str],
    values: Sequence[float],
    expected: Sequence[float] | None,
    unit: str,
    legend: tuple[str, str],
) -> None:
    positions = list(range(len(labels)))
    thick = 0.8 if expected is None else 0.4
    shift = 0.0 if expected is None else 0.2
    drawn = ax.barh(
        [p - shift for p in positions], values, height=thick, color=BAR, label=legend[0]
    )
    ax.bar_label(drawn, padding=3, fmt="%g")
    if expected is not None:
        ax.barh(
            [p + shift for p in positions],
            expected,
            height=thick,
            facecolor="none",
            edgecolor=EXPECTED,
            hatch="//",
            label=legend[1],
        )
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(unit)
    ax.margins(x=0.12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _inline(svg: str, prefix: str, title: str) -> str:
    """matplotlib's SVG document as an element for an HTML page, ids unique to this chart."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    svg = svg.replace("xlink:href=", "href=")
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    label = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1).strip()
