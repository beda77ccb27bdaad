"""Scan a rendered HTML report for what a manager should never read (issue #21).

What counts as a defect, in the text a reader sees (prose, table headers and cells, chart text
alternatives, which carry every chart's title, axis labels and legend):

- ``nan``, ``NaN``, ``inf``, ``None`` or ``NaT`` shown as a value;
- scientific notation (``2.27e+03``, ``1e-05``);
- a raw snake_case name (``cost_per_contact``, ``age_band``) — except inside ``<code>`` (a
  setting the reader is told to write, such as ``uplift.control_arm``), a file name
  (``churn_scores.csv``) and the names in ``allow`` (touchpoints and values from the data);
- an ``<img>`` without a text alternative (nbconvert's placeholder counts as missing).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

NBCONVERT_PLACEHOLDER = "No description has been provided"

_DROP = re.compile(r"<(style|script|code|pre)\b[^>]*>.*?</\1>", re.S | re.I)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ALT = re.compile(r"\balt=\"([^\"]*)\"", re.I)
_TAG = re.compile(r"<[^>]+>")
_MISSING = re.compile(r"(?<![\w.-])(nan|NaN|NAN|inf|-inf|Inf|None|NaT|<NA>)(?![\w-])")
_SCIENTIFIC = re.compile(r"(?<![\w-])\d+(?:\.\d+)?[eE][+-]?\d+\b")
_SNAKE = re.compile(r"(?<![\w./\\-])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)(?![\w/\\-]|\.\w)")


def visible_text(page: str) -> str:
    """The text a reader sees: tags removed, ``<code>``/``<pre>``/styles dropped, each image
    replaced by its text alternative."""
    body = _DROP.sub(" ", page)
    body = _IMG.sub(lambda m: " " + " ".join(_ALT.findall(m.group(0))) + " ", body)
    return html.unescape(_TAG.sub(" ", body))


def image_defects(page: str) -> list[str]:
    """Images without their own text alternative."""
    out = []
    for tag in _IMG.findall(page):
        alts = _ALT.findall(tag)
        if not alts or not alts[0].strip() or NBCONVERT_PLACEHOLDER in alts[0]:
            out.append(f"image without a text alternative: {tag[:80]}…")
    return out


def _context(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - 50) : end + 50].split())


def text_defects(text: str, allow: Iterable[str] = ()) -> list[str]:
    """Missing values, scientific notation and snake_case names in ``text`` (see the module)."""
    allowed = {a.lower() for a in allow}
    out = []
    for pattern, what in ((_MISSING, "missing value"), (_SCIENTIFIC, "scientific notation")):
        for m in pattern.finditer(text):
            out.append(f"{what} {m.group(0)!r}: …{_context(text, m.start(), m.end())}…")
    for m in _SNAKE.finditer(text):
        if m.group(1).lower() not in allowed:
            out.append(f"code name {m.group(1)!r}: …{_context(text, m.start(), m.end())}…")
    return out


def report_defects(page: str, allow: Iterable[str] = ()) -> list[str]:
    """Every defect of one HTML report (the empty list when it reads as a briefing)."""
    return image_defects(page) + text_defects(visible_text(page), allow)


#: Columns whose values are names from the user's data (touchpoints, channels, arms,
#: categories): a report may show them as they are spelt.
DATA_NAME_COLUMNS = ("touchpoint", "channel", "group", "category", "journey_type", "segment")


def data_names(folder, files: Iterable[str] = ()) -> set[str]:
    """The names from the user's data that a report may show verbatim: the distinct values of
    :data:`DATA_NAME_COLUMNS` in the folder's CSV files (or ``files``)."""
    from pathlib import Path

    import pandas as pd

    folder = Path(folder)
    paths = [folder / f for f in files] if files else sorted(folder.glob("*.csv"))
    names: set[str] = set()
    for path in paths:
        head = pd.read_csv(path, nrows=0).columns
        cols = [c for c in head if c in DATA_NAME_COLUMNS]
        if cols:
            frame = pd.read_csv(path, usecols=cols, dtype="str")
            for c in cols:
                names.update(frame[c].dropna().unique())
    return names


def run_defects(latest, allow: Iterable[str] = ()) -> dict[str, list[str]]:
    """:func:`report_defects` of every HTML page of a run folder, by page (pages without any
    defect left out)."""
    from pathlib import Path

    out = {}
    for page in sorted(Path(latest).glob("*.html")):
        found = report_defects(page.read_text(encoding="utf-8"), allow)
        if found:
            out[page.name] = found
    return out
