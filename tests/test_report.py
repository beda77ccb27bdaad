"""Findings, headlines and the index page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cxlib.report import Findings, fmt_int, notebook_to_html, pct, read_headlines, render_index


def test_findings_save_and_read_headlines(tmp_path):
    f = Findings(tmp_path, "02_segmentation")
    f.add("312 customers (6.2%) appear twice.", headline=True, impact=5)
    f.add("A detail.", impact=9)
    assert f.headline_text() == "- 312 customers (6.2%) appear twice."
    assert [x.text for x in f.ranked()] == ["A detail.", "312 customers (6.2%) appear twice."]
    f.save()
    saved = json.loads((tmp_path / "headlines" / "02_segmentation.json").read_text())
    assert saved["findings"] == ["312 customers (6.2%) appear twice.", "A detail."]
    assert read_headlines(tmp_path, "02_segmentation") == ["312 customers (6.2%) appear twice."]
    assert read_headlines(tmp_path, "03_churn") == []


def test_index_escapes_and_shows_status():
    manifest = {
        "run_id": "r1",
        "parameters": {"as_of_date": "2025-06-30"},
        "notebooks": [
            {
                "name": "01",
                "title": "Audit <b>",
                "status": "ok",
                "duration_s": 3.2,
                "headlines": ["x < y"],
                "html": "01.html",
            },
            {
                "name": "04",
                "title": "Uplift",
                "status": "skipped",
                "reason": "Skipped because the campaign table is absent.",
            },
        ],
    }
    page = render_index(manifest)
    assert "Audit &lt;b&gt;" in page and "x &lt; y" in page
    assert "Skipped because the campaign table is absent." in page
    assert "href='01.html'" in page


def test_formatting_helpers():
    assert pct(312, 5000) == "6.2%" and pct(1, 0) == "n/a"
    assert fmt_int(12345.4) == "12,345"


def test_report_pages_are_self_contained(tmp_path):
    """Issue #21: a report opens offline: no script, no URL with a scheme other than ``data:``
    (nbconvert's default page loads MathJax, require.js and mermaid from a CDN)."""
    import base64
    import re

    import nbformat

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"image/png": png, "text/html": "<table><tr><th>a</th></tr></table>"},
        ),
        nbformat.v4.new_output("stream", name="stderr", text="a log line"),
    ]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Customer segments\nWith $x$ maths."), cell]
    )
    nbformat.write(nb, tmp_path / "r.ipynb")
    page = notebook_to_html(tmp_path / "r.ipynb", tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>Customer segments</title>" in page
    assert "<style>" in page and "<script" not in page.lower()
    assert re.findall(r"\b(?!data:)[a-z][a-z0-9+.-]*://", page) == []
    assert "a log line" not in page and "<table>" in page


def test_chart_alt_text_says_what_the_chart_shows():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxlib.plots.style import chart_alt_text

    fig, (left, right) = plt.subplots(1, 2)
    left.plot([1, 2], [3, 4], label="Silhouette")
    left.plot([1, 2], [2, 2], label="Shuffled data")
    left.legend()
    left.set(title="Choosing k", xlabel="Number of clusters (k)", ylabel="Silhouette")
    right.set_axis_off()
    fig.suptitle("Segments")
    assert chart_alt_text(fig) == (
        "Chart: Segments | Choosing k; x: Number of clusters (k); y: Silhouette; "
        "series: Silhouette, Shuffled data"
    )
    plt.close(fig)


def test_notebook_charts_show_with_alt_text_whatever_the_backend(tmp_path, monkeypatch):
    """A notebook's charts reach its report with a text alternative, also when the environment
    names a non-interactive backend (``MPLBACKEND=Agg``, as on headless servers and in CI, used
    to make every report chartless)."""
    import re

    import nbformat
    import papermill as pm

    monkeypatch.setenv("MPLBACKEND", "Agg")
    source = (
        "import matplotlib.pyplot as plt\n"
        "from cxlib.plots.style import set_house_style\n"
        "set_house_style()\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([1, 2], [3, 4], label='Customers')\n"
        "ax.set(title='Customers by month', xlabel='Month')\n"
        "ax.legend()\n"
        "plt.show()"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "in.ipynb")
    pm.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
    )
    page = notebook_to_html(tmp_path / "out.ipynb", tmp_path / "out.html").read_text()
    assert re.findall(r'<img[^>]*alt="([^"]*)"', page) == [
        "Chart: Customers by month; x: Month; series: Customers"
    ]


def test_numbers_for_people_from_one_place():
    """Issue #21: counts with separators, shares as %, money with the currency, no scientific
    notation, "–" for a value that does not exist."""
    import math

    import numpy as np

    from cxlib.report import (
        format_count,
        format_money,
        format_number,
        format_percent,
        format_significant,
        name_words,
        words,
    )

    assert format_count(5148.0) == "5,148" and format_count(np.int64(12)) == "12"
    assert format_percent(0.028) == "2.8%" and format_percent(0.12345, 2) == "12.35%"
    assert format_number(2270.456) == "2,270.46" and format_number(1e-5) == "< 0.01"
    assert format_money(319980.4, "£") == "£319,980" and format_money(-20, "£") == "-£20"
    assert format_significant(2270.4) == "2,270" and format_significant(0.012345) == "0.0123"
    for missing in (None, math.nan, np.nan, math.inf, pd.NA, pd.NaT):
        assert format_count(missing) == format_percent(missing) == "–"
        assert format_number(missing) == format_money(missing, "£") == "–"
    assert words("conversion_rate") == "Conversion rate" and words("Rows read") == "Rows read"
    assert name_words("history_segment") == "history segment"
    assert name_words("PaperlessBilling") == "paperless billing"


def test_report_tables_read_as_words():
    """``table()``: headers as words, no ``nan``, no ``.00`` on counts, no scientific notation,
    yes/no, names from the user's data in code type."""
    from cxlib.report import format_column, people_table, table

    frame = pd.DataFrame(
        {
            "column": ["first_name", "amount"],
            "rows_read": [5148.0, 1_234_567.0],
            "ratio": [2270.456, np.nan],
            "ok": [True, False],
        }
    )
    frame = frame.assign(column=format_column(frame["column"], "code"))
    page = table(frame).data
    assert "<th>Rows read</th>" in page and "<code>first_name</code>" in page
    assert "5,148<" in page and "1,234,567<" in page and "5,148.00" not in page
    assert "2,270.46" in page and "nan" not in page.lower() and "e+0" not in page
    assert "<td>–</td>" in page and "<td>yes</td>" in page
    shown = people_table(
        pd.DataFrame({"share": [0.0283, None], "value": [1e7, 3.0]}),
        {"share": ("Share", "percent"), "value": ("Value", "money")},
        currency="£",
    )
    assert shown.to_dict("list") == {"Share": ["2.8%", "–"], "Value": ["£10,000,000", "£3"]}


def test_console_shows_the_section_of_a_long_step():
    """Issue #21: a step still running after a while is announced with its report section and
    the elapsed time, and again while it lasts; quick steps say nothing."""
    import time

    from cxlib.runner import SectionProgress

    said: list[str] = []
    progress = SectionProgress(said.append, "[3/6] 03_churn", after_s=0.3, every_s=0.1)
    hooks = progress.hooks()
    hooks["on_cell_start"](
        cell={"cell_type": "markdown", "source": "## Drivers\ntext"}, cell_index=4
    )
    hooks["on_cell_start"](cell={"cell_type": "code", "source": "x = 1"}, cell_index=5)
    hooks["on_cell_executed"](cell={}, cell_index=5, execute_reply={})  # quick: nothing said
    time.sleep(0.4)
    assert said == []
    hooks["on_cell_start"](cell={"cell_type": "code", "source": "fit()"}, cell_index=6)
    time.sleep(1.0)  # a long step: announced after 0.3 s, then every 0.1 s
    hooks["on_cell_executed"](cell={}, cell_index=6, execute_reply={})
    n = len(said)
    time.sleep(0.4)
    assert len(said) == n >= 2  # nothing more once the step ended
    assert all(line.startswith("[3/6] 03_churn: … Drivers (") for line in said)
    progress.close()


def test_charts_keep_legends_off_the_data_and_money_readable():
    """Issue #21: the survival legend sits below the curves, and money axes carry the currency
    and thousands separators (tick labels no longer run together)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxlib.plots import churn as churn_plots

    t = np.arange(0, 200, 10)
    curves = pd.concat(
        pd.DataFrame({"group": g, "time": t, "retention": np.exp(-k * t), "customers": 100}).assign(
            ci_low=lambda d: d["retention"] - 0.02, ci_high=lambda d: d["retention"] + 0.02
        )
        for g, k in (("Weekend afternoon in-store shoppers", 0.01), ("Evening online", 0.003))
    )
    ax = churn_plots.plot_retention(curves)
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.y1 <= ax.get_window_extent().y0  # below the axes, not over the curves
    plt.close(fig)
    risk = pd.DataFrame(
        {
            "segment": ["A", "B"],
            "value_at_risk": [137_000.0, 20_000.0],
            "share_of_value_at_risk": [0.87, 0.13],
            "customers": [900, 300],
        }
    )
    ax = churn_plots.plot_value_at_risk(risk, currency="£")
    ax.figure.canvas.draw()
    labels = [x.get_text() for x in ax.get_xticklabels() if x.get_text()]
    assert 2 <= len(labels) <= 6 and all(x.startswith("£") for x in labels), labels
    assert any("," in x for x in labels), labels
    plt.close(ax.figure)
