"""Read the tables of rendered HTML reports and find customer counts under ``min_group_size``.

Used by the end-to-end tests: a report may show a count of customers (or people) only when it
is 0 or at least ``min_group_size``; anything else is a small group that should have been
suppressed (see docs/privacy.md).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

#: Column headers that hold numbers of customers or people.
COUNT_HEADER = re.compile(r"\b(customers|people)\b", re.IGNORECASE)
#: Column headers that hold planned sizes, shares or record counts (data quality), not groups.
NOT_A_COUNT = re.compile(r"planned|share|%|per customer|rate|value|records", re.IGNORECASE)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(path: str | Path) -> list[list[list[str]]]:
    """Every ``<table>`` of an HTML file as rows of cell texts (header row first)."""
    parser = _Tables()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    return [t for t in parser.tables if t]


def count_columns(path: str | Path) -> int:
    """Number of customer/people count columns over the tables of an HTML file."""
    n = 0
    for rows in html_tables(path):
        n += sum(1 for h in rows[0] if COUNT_HEADER.search(h) and not NOT_A_COUNT.search(h))
    return n


def small_counts(path: str | Path, min_group_size: int = 10) -> list[str]:
    """Cells of customer/people count columns that hold a number from 1 to
    ``min_group_size - 1`` (a cell "12 / 3" is two counts), as readable descriptions."""
    hits = []
    for k, rows in enumerate(html_tables(path)):
        header = rows[0]
        cols = [
            i for i, h in enumerate(header) if COUNT_HEADER.search(h) and not NOT_A_COUNT.search(h)
        ]
        for row in rows[1:]:
            for i in cols:
                if i >= len(row):
                    continue
                for part in row[i].split("/"):
                    text = part.strip().replace(",", "")
                    if re.fullmatch(r"\d+(\.0+)?", text) and 0 < float(text) < min_group_size:
                        hits.append(f"{Path(path).name} table {k}: {header[i]!r} = {row[i]!r}")
    return hits
