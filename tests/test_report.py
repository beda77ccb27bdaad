"""Findings, headlines and the index page."""

from __future__ import annotations

import json

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
