"""Business-readable reports: findings, skip notices, HTML without code, the index page."""

from __future__ import annotations

import html
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEADLINES_DIR = "headlines"


def escape_markdown(text: str) -> str:
    """Escape ``$`` so that Jupyter's Markdown does not read money amounts as formulas
    (idempotent: an already escaped ``\\$`` stays as it is)."""
    return str(text).replace("\\$", "$").replace("$", "\\$")


def _markdown(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(escape_markdown(text))


@dataclass
class Finding:
    """One finding: a sentence with numbers, an impact used for ranking, a headline flag."""

    text: str
    headline: bool = False
    impact: float = 0.0


@dataclass
class Findings:
    """Collect a notebook's findings, show them, and save the headlines for the index page.

    Parameters
    ----------
    output_dir : path
        The run folder (``reports/<run-id>`` or a notebook's own output folder).
    notebook : str
        Notebook stem, e.g. ``"02_segmentation"``.
    """

    output_dir: str | os.PathLike
    notebook: str
    items: list[Finding] = field(default_factory=list)
    status_note: str | None = None
    skip_fix: str | None = None
    """Set by :meth:`skip`: the setting or table that would let the analysis run."""
    skipped: bool = False
    skip_configuration: bool = False

    def skip(self, reason: str, *, fix: str | None = None, configuration: bool = False) -> None:
        """Record that the notebook could not produce its analysis, so the run reports it as
        ``skipped`` (not ``ok``) with ``reason`` and ``fix``; ``configuration`` marks a cause
        the user can fix with a setting or a table (a run whose every notebook is skipped for
        such a cause exits 3)."""
        self.skipped = True
        self.status_note = reason
        self.skip_fix = fix
        self.skip_configuration = bool(configuration)

    def add(self, text: str, *, headline: bool = False, impact: float = 0.0) -> Finding:
        """Add a finding sentence; ``headline=True`` puts it on the index card (2-4 per notebook)."""
        item = Finding(str(text), headline, float(impact))
        self.items.append(item)
        return item

    def extend(self, texts: Iterable[str], *, headline: bool = False) -> None:
        """Add several findings."""
        for t in texts:
            self.add(t, headline=headline)

    def extend_from(self, result: Any) -> None:
        """Add the findings of a question's result (:meth:`cxlib.result.QuestionResult.findings`)."""
        self.items.extend(result.findings())

    def headlines(self) -> list[str]:
        """The headline sentences in the order they were added."""
        return [f.text for f in self.items if f.headline]

    def headline_text(self) -> str:
        """Headlines as plain lines (for a cell whose output nbval checks)."""
        return "\n".join(f"- {t}" for t in self.headlines())

    def ranked(self) -> list[Finding]:
        """Findings by descending impact (stable for ties)."""
        return sorted(self.items, key=lambda f: -f.impact)

    def to_markdown(self, *, ranked: bool = False) -> str:
        items = self.ranked() if ranked else self.items
        return "\n".join(f"- {'**' + f.text + '**' if f.headline else f.text}" for f in items)

    def key(self, n: int = 5) -> list[Finding]:
        """The report's key findings: the headlines, then the findings with the largest impact,
        at most ``n`` (at least every headline)."""
        heads = [f for f in self.items if f.headline]
        rest = [f for f in self.ranked() if not f.headline]
        return heads + rest[: max(0, n - len(heads))]

    def display_key(self, n: int = 5) -> Any:
        """The key findings (:meth:`key`) as IPython Markdown, for the "Key findings" section
        that opens every report; a skipped analysis says why."""
        items = self.key(n)
        if not items:
            reason = (self.status_note or "").rstrip(".")
            return _markdown(f"_No findings: {reason}._" if reason else "_No findings._")
        return _markdown("\n".join(f"- {f.text}" for f in items))

    def display(self, *, ranked: bool = False) -> Any:
        """Return the findings as IPython Markdown (make it the last line of a cell)."""
        return _markdown(self.to_markdown(ranked=ranked) or "_No findings._")

    def save(self) -> None:
        """Write ``<output_dir>/headlines/<notebook>.json`` for the runner's index card.

        Returns nothing, so that a notebook cell ending with it displays nothing."""
        path = Path(self.output_dir) / HEADLINES_DIR / f"{self.notebook}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "notebook": self.notebook,
            "headlines": self.headlines(),
            "findings": [f.text for f in self.items],
            "note": self.status_note,
            "status": "skipped" if self.skipped else "ok",
            "fix": self.skip_fix,
            "configuration": self.skip_configuration,
        }
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")


def skip_notice(reason: str) -> Any:
    """Markdown telling the reader that a section was skipped and why."""
    return _markdown(f"> **Skipped because {reason.rstrip('.')}.**")


# ---------------------------------------------------------------------------------------------
# Numbers and labels for people: the one place that formats what a report shows
# ---------------------------------------------------------------------------------------------

#: What a table cell shows for a value that does not exist (never ``nan``).
NOT_AVAILABLE = "–"


def is_missing(value: Any) -> bool:
    """True for ``None``, NaN, NaT, ``pd.NA`` and ±infinity (a value a report cannot show)."""
    if value is None:
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, float | int) and not isinstance(value, bool):
        return not math.isfinite(float(value))
    try:
        return bool(value != value)  # numpy NaN and NaT
    except (TypeError, ValueError):
        return False


def pct(part: float, whole: float, digits: int = 1) -> str:
    """Format ``part / whole`` as a percentage string ("6.2%"); "n/a" when ``whole`` is 0."""
    if not whole:
        return "n/a"
    return f"{100.0 * part / whole:.{digits}f}%"


def fmt_int(n: float) -> str:
    """Format a count with thousands separators ("12,345")."""
    return f"{int(round(n)):,}"


def format_count(value: Any) -> str:
    """A count: "12,345" (no decimals); a missing value is :data:`NOT_AVAILABLE`."""
    return NOT_AVAILABLE if is_missing(value) else f"{int(round(float(value))):,}"


def format_percent(share: Any, digits: int = 1) -> str:
    """A share (0.028) as a percentage ("2.8%"); a missing value is :data:`NOT_AVAILABLE`."""
    if is_missing(share):
        return NOT_AVAILABLE
    return f"{100.0 * float(share):,.{digits}f}%"


def format_number(value: Any, digits: int = 2) -> str:
    """A measurement with thousands separators and ``digits`` decimals, never in scientific
    notation: "2,270.00", "0.03", "< 0.01" for a small non-zero value, "–" when missing."""
    if is_missing(value):
        return NOT_AVAILABLE
    v = float(value)
    if v != 0 and abs(v) < 0.5 * 10.0**-digits:
        return f"{'> -' if v < 0 else '< '}{10.0**-digits:.{digits}f}"
    return f"{v:,.{digits}f}"


def format_significant(value: Any, digits: int = 3) -> str:
    """A value to ``digits`` significant digits without scientific notation: 2270.4 → "2,270",
    0.012345 → "0.0123"; "–" when missing."""
    if is_missing(value):
        return NOT_AVAILABLE
    v = float(value)
    if v == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{round(v, decimals):,.{decimals}f}"


def format_money(value: Any, currency: str = "", digits: int = 0) -> str:
    """Money with the configured ``currency`` prefix: "£1,235", "-£20", "–" when missing."""
    if is_missing(value):
        return NOT_AVAILABLE
    v = float(value)
    return f"{'-' if v < 0 else ''}{currency}{abs(v):,.{digits}f}"


def words(name: str) -> str:
    """A code name as words for a header or label: ``conversion_rate`` → "Conversion rate";
    a name that is already words is left as it is."""
    text = str(name)
    if "_" not in text:
        return text
    text = " ".join(part for part in text.split("_") if part)
    return text[:1].upper() + text[1:]


def name_words(name: str) -> str:
    """A column name inside a sentence, in lower-case words: ``history_segment`` → "history
    segment", ``PaperlessBilling`` → "paperless billing" (acronyms such as ``ID`` kept)."""
    import re

    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).replace("_", " ")
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in text.split())


#: How :func:`format_column` shows each kind of column.
FORMATS = ("text", "count", "percent", "number", "money", "code")


def format_column(values: Any, kind: str, *, currency: str = "", digits: int | None = None) -> Any:
    """Format a column for people by ``kind`` (one of :data:`FORMATS`): counts with separators,
    shares as percentages, numbers with ``digits`` decimals, money with ``currency``, ``code``
    (a name from the user's data, such as a column) in code type; missing values as "–"."""
    import pandas as pd

    s = pd.Series(values)
    if kind == "count":
        return s.map(format_count)
    if kind == "percent":
        return s.map(lambda v: format_percent(v, 1 if digits is None else digits))
    if kind == "number":
        return s.map(lambda v: format_number(v, 2 if digits is None else digits))
    if kind == "money":
        return s.map(lambda v: format_money(v, currency, 0 if digits is None else digits))
    if kind == "code":  # object dtype: a string dtype would drop the CodeName mark
        return pd.Series(
            [NOT_AVAILABLE if is_missing(v) else CodeName(str(v)) for v in s],
            index=s.index,
            dtype=object,
        )
    if kind == "text":
        return s.map(lambda v: NOT_AVAILABLE if is_missing(v) else str(v))
    raise ValueError(f"kind must be one of {FORMATS}, not {kind!r}")


class CodeName(str):
    """A name from the user's data (a column, a setting) that a table shows in code type."""


def people_table(
    frame: Any, columns: Mapping[str, tuple[str, str]], *, currency: str = ""
) -> Any:
    """The display table of ``frame``: the ``columns`` it names, in that order, each as
    ``{column: (header, kind)}`` (kinds: :data:`FORMATS`), formatted by :func:`format_column`.
    Columns that ``frame`` lacks are left out."""
    import pandas as pd

    out = {
        header: format_column(frame[col], kind, currency=currency).reset_index(drop=True)
        for col, (header, kind) in columns.items()
        if col in frame.columns
    }
    return pd.DataFrame(out, index=range(len(frame)))


def _cell(value: Any) -> str:
    """One table cell as escaped HTML: counts and numbers formatted for people, code names and
    Markdown code spans (a setting or column to write, between backticks) in code type, missing
    values as "–"."""
    import numpy as np

    if isinstance(value, CodeName):
        return f"<code>{html.escape(value)}</code>"
    if is_missing(value):
        return NOT_AVAILABLE
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return format_count(value) if float(value).is_integer() else format_number(value)
    if hasattr(value, "strftime"):
        text = value.strftime("%Y-%m-%d %H:%M")
        return html.escape(text[:10] if text.endswith("00:00") else text)
    return _inline_html(value)


def table(df: Any, *, index: bool = False) -> Any:
    """Render a display table as HTML for a report: headers as words (:func:`words`), counts
    and numbers with thousands separators and never in scientific notation, missing values as
    "–", yes/no for true/false, names from the user's data (:class:`CodeName`) in code type.
    A wide table scrolls inside the page."""
    from IPython.display import HTML

    frame = df.reset_index() if index else df
    head = "".join(f"<th>{html.escape(words(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return HTML(
        "<div class='cx-table'><table><thead><tr>"
        f"{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


# ---------------------------------------------------------------------------------------------
# HTML conversion and index page (used by the runner)
# ---------------------------------------------------------------------------------------------


#: The style of a report page: everything a report needs, inline (no request to any server).
REPORT_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;line-height:1.45;
margin:2rem auto;max-width:1100px;padding:0 1rem}
h1,h2,h3{line-height:1.2} h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.anchor-link{display:none}
.output_subarea{overflow-x:auto;margin:.6rem 0}
.cx-table{overflow-x:auto;max-width:100%}
img{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
pre{white-space:pre-wrap;word-break:normal;overflow-wrap:anywhere;background:#f7f7f7;
padding:.6rem .8rem;border-radius:6px}
"""


def _page_title(nb: Any, fallback: str) -> str:
    """The notebook's first Markdown heading (its report title), or ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def notebook_to_html(ipynb_path: str | os.PathLike, html_path: str | os.PathLike) -> Path:
    """Convert an executed notebook to a self-contained HTML page for business readers.

    Every code cell, prompt and log message (stderr) is hidden; the executed ``.ipynb`` keeps
    them for analysts. The page is nbconvert's ``basic`` body inside a page of our own with
    :data:`REPORT_CSS` inline: no script and no request to any outside server (the default
    template loads MathJax, require.js and mermaid from a CDN), so a report opens offline.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb_path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    html_path = Path(html_path)
    title = html.escape(_page_title(nb, html_path.stem))
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{REPORT_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
    html_path.write_text(page, encoding="utf-8")
    return html_path


_STATUS_COLOURS = {"ok": "#2e7d32", "failed": "#c62828", "skipped": "#757575"}

_INDEX_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .meta{color:#666;margin-bottom:1.5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:10px;padding:1rem 1.2rem;box-shadow:0 1px 3px #0001}
.card h2{font-size:1.1rem;margin:.2rem 0 .5rem} .status{color:#fff;border-radius:4px;padding:2px 8px;
font-size:.8rem;text-transform:uppercase} .dur{color:#666;font-size:.85rem;margin-left:.5rem}
.card ul{padding-left:1.1rem} .card li{margin:.3rem 0} .reason{color:#555;font-style:italic}
.fix{background:#fff6e0;border-left:3px solid #e6a100;padding:.3rem .5rem}
table{border-collapse:collapse;margin-top:1rem} td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
"""


def _inline_html(text: Any) -> str:
    """Escaped HTML of a sentence whose Markdown code spans (a setting or column name to
    write, between backticks) show in code type, as in the reports."""
    import re

    parts = re.split(r"`([^`]+)`", str(text))
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


def render_index(manifest: Mapping[str, Any]) -> str:
    """Render the run's ``index.html``: one card per notebook (status, duration, headlines, link)."""
    cards = []
    for nb in manifest.get("notebooks", []):
        status = nb.get("status", "failed")
        colour = _STATUS_COLOURS.get(status, "#c62828")
        if status == "skipped" and nb.get("configuration"):
            colour = "#e6a100"  # amber: the user can make it run
        fix = nb.get("fix")
        fix_html = f"<p class='fix'>To run it: {_inline_html(fix)}</p>" if fix else ""
        title = html.escape(nb.get("title") or nb["name"])
        dur = nb.get("duration_s")
        dur_txt = f"<span class='dur'>{dur:.0f} s</span>" if isinstance(dur, int | float) else ""
        items = "".join(f"<li>{_inline_html(h)}</li>" for h in nb.get("headlines", [])[:4])
        reason = nb.get("reason") or nb.get("error")
        reason_html = f"<p class='reason'>{_inline_html(reason)}</p>" if reason else ""
        link = (
            f"<p><a href='{html.escape(nb['html'])}'>Open the report →</a></p>"
            if nb.get("html")
            else ""
        )
        cards.append(
            f"<div class='card'><span class='status' style='background:{colour}'>{status}</span>"
            f"{dur_txt}<h2>{title}</h2>{reason_html}{fix_html}<ul>{items}</ul>{link}</div>"
        )
    counts = manifest.get("inputs", {}).get("tables", [])
    rows = "".join(
        f"<tr><td>{html.escape(t['table'])}</td><td>{t.get('read_rows', '')}</td>"
        f"<td>{t.get('accepted_rows', '')}</td><td>{t.get('quarantined_rows', '')}</td></tr>"
        for t in counts
    )
    counts_html = (
        "<h3>Input tables</h3><table><tr><th>table</th><th>rows read</th><th>accepted</th>"
        f"<th>quarantined</th></tr>{rows}</table>"
        if rows
        else ""
    )
    notes = "".join(
        f"<p class='meta'>{html.escape(n)}</p>" for n in manifest.get("inputs", {}).get("notes", [])
    )
    title = "Customer insight report"
    as_of_note = str(manifest.get("parameters", {}).get("as_of_date_note") or "")
    if as_of_note:
        notes = (
            f"<p class='meta'>As-of date: {html.escape(as_of_note.replace('`', ''))}</p>" + notes
        )
    meta = (
        f"Run {html.escape(str(manifest.get('run_id', '')))} · data as of "
        f"{html.escape(str(manifest.get('parameters', {}).get('as_of_date', '')))} · "
        f"{html.escape(str(manifest.get('status', '')))}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_INDEX_CSS}</style></head><body>"
        f"<h1>{title}</h1><div class='meta'>{meta}</div>{notes}"
        f"<div class='cards'>{''.join(cards)}</div>{counts_html}</body></html>"
    )


def read_skip(run_dir: str | os.PathLike, notebook: str) -> dict[str, Any] | None:
    """The skip a notebook recorded with :meth:`Findings.skip` (``reason``, ``fix``,
    ``configuration``), or None when it produced its analysis."""
    path = Path(run_dir) / HEADLINES_DIR / f"{notebook}.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("status") != "skipped":
        return None
    return {
        "reason": saved.get("note") or "the analysis could not run",
        "fix": saved.get("fix"),
        "configuration": bool(saved.get("configuration")),
    }


def read_headlines(run_dir: str | os.PathLike, notebook: str) -> list[str]:
    """Headlines a notebook saved with :meth:`Findings.save` (empty when none)."""
    path = Path(run_dir) / HEADLINES_DIR / f"{notebook}.json"
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("headlines", []))
    except (OSError, ValueError):
        log.warning("could not read headlines from %s", path)
        return []
