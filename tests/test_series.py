"""End to end: the whole series on the sample data, and on a transactions-only folder.

One full run on ``data/sample`` serves several checks (module-scoped fixture): statuses in the
manifest, every export with its documented columns, no personal data anywhere in the run folder,
input files unchanged.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from file_digests import digests
from report_scan import data_names, run_defects

from cxlib.cli import main
from cxlib.runner import NOTEBOOKS

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"


def documented_exports() -> dict[str, list[str]]:
    """``{file: [columns]}`` from the exports table of docs/outputs.md."""
    out = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\| `([a-z_]+\.csv)` \| \d+ \| (.+) \|$", line)
        if m:
            out[m.group(1)] = re.findall(r"`([a-z_]+)`", m.group(2))
    return out


@pytest.fixture(scope="module")
def sample_run(sample_series_run):
    """The session's one run of the series on the sample (conftest.py), which the safety net's
    digests also check: that the same inputs and seed give byte-identical exports and headline
    files is tests/test_safety_net.py's test on this same run."""
    return sample_series_run


def test_every_notebook_runs_ok_on_the_sample(sample_run):
    code, latest, _ = sample_run
    manifest = json.loads((latest / "manifest.json").read_text())
    status = {nb["name"]: nb.get("error") or nb["status"] for nb in manifest["notebooks"]}
    assert status == {nb.name: "ok" for nb in NOTEBOOKS}
    assert code == 0
    assert manifest["parameters"]["as_of_date"] == "2025-06-30"
    for nb in manifest["notebooks"]:
        assert (latest / nb["html"]).exists()
        assert 2 <= len(nb["headlines"]) <= 4, nb["name"]
    index = (latest / "index.html").read_text()
    assert index.count("class='card'") == len(NOTEBOOKS)


def test_report_pages_request_nothing_from_outside(sample_run):
    """Issue #21: no HTML page of the run holds a URL with a scheme other than ``data:`` or a
    script; each report opens offline."""
    _, latest, _ = sample_run
    pages = sorted(latest.glob("*.html"))
    assert len(pages) == len(NOTEBOOKS) + 1  # the reports and the index
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert re.findall(r"\b(?!data:)[a-z][a-z0-9+.-]*://[^\s\"'<>]*", text) == [], page.name
        assert "<script" not in text.lower(), page.name
        # every chart has a text alternative of its own (nbconvert's placeholder is no text)
        alts = re.findall(r"<img[^>]*?alt=\"([^\"]*)\"", text)
        assert len(alts) == text.count("<img"), page.name
        assert all(a.startswith("Chart: ") for a in alts), (page.name, alts)


def test_reports_open_with_key_findings_and_end_with_the_method(sample_run):
    """Issue #21: in every report the first section heading after the title is "Key findings"
    (3 to 5 sentences) and the last one "Method and assumptions"."""
    _, latest, _ = sample_run
    for nb in NOTEBOOKS:
        text = (latest / f"{nb.name}.html").read_text()
        heads = [
            re.sub(r"<[^>]+>|¶", "", h).strip() for h in re.findall(r"<h2[^>]*>(.*?)</h2>", text)
        ]
        assert heads[0] == "Key findings" and heads[-1] == "Method and assumptions", (
            nb.name,
            heads,
        )
        key = text.split("Key findings", 1)[1].split("<h2", 1)[0]
        assert 3 <= key.count("<li>") <= 5, nb.name


def test_reports_read_as_briefings(sample_run, sample_dir):
    """Issue #21: no page of the run shows ``nan``, ``inf``, scientific notation or a code name
    (outside code type; names from the data allowed), and every image has a text alternative."""
    _, latest, _ = sample_run
    assert run_defects(latest, data_names(sample_dir)) == {}


def test_exports_have_their_documented_columns(sample_run):
    _, latest, _ = sample_run
    documented = documented_exports()
    assert len(documented) == 13
    for name, cols in documented.items():
        path = latest / "exports" / name
        assert path.exists(), f"missing export {name}"
        df = pd.read_csv(path, nrows=5)
        assert list(df.columns)[: len(cols)] == cols, name  # documented columns first, in order


def test_one_segmentation_across_the_series(sample_run):
    """Issue #20: the segment of each customer is the same in ``segments.csv``,
    ``churn_scores.csv`` and ``uplift_scores.csv``, and the churn and campaign reports name only
    the segments of the segmentation report."""
    _, latest, _ = sample_run
    exports = latest / "exports"
    seg = pd.read_csv(exports / "segments.csv", dtype={"customer_id": "str"})
    assert seg["cluster_name"].notna().all()  # the sample has distinct behavioural segments
    series = seg.set_index("customer_id")["cluster_name"]
    names = set(series)
    for name in ("churn_scores.csv", "uplift_scores.csv"):
        other = pd.read_csv(exports / name, dtype={"customer_id": "str"})
        other = other.dropna(subset=["segment"]).set_index("customer_id")["segment"]
        both = other.index.intersection(series.index)
        assert len(both) >= 500, name
        assert (other.loc[both] == series.loc[both]).all(), name
        assert set(other) <= names, name
    churn_html = (latest / "03_churn.html").read_text()
    uplift_html = (latest / "04_campaign_uplift.html").read_text()
    for label in names:
        assert label in churn_html and label in uplift_html, label
    seg_html = (latest / "02_segmentation.html").read_text()
    assert "Segments are the" in churn_html and "Segments are the" in uplift_html
    assert all(label in seg_html for label in names)


def test_inputs_unchanged(sample_run, sample_dir):
    _, latest, before = sample_run
    assert digests(sample_dir) == before
    assert json.loads((latest / "manifest.json").read_text())["inputs"]["unchanged"] is True


def pii_values(sample_dir: Path) -> set[str]:
    cust = pd.read_csv(sample_dir / "customers.csv", dtype="str")
    values: set[str] = set()
    for col in ("first_name", "last_name", "email", "phone", "postcode"):
        values |= set(cust[col].dropna().str.strip())
    # names are common words; full names and e-mails/phones/postcodes are what identify a person
    full = (cust["first_name"].fillna("") + " " + cust["last_name"].fillna("")).str.strip()
    values |= set(full[full.str.contains(" ")])
    fb = pd.read_csv(sample_dir / "feedback.csv", dtype="str")
    if "comment" in fb.columns:
        values |= set(fb["comment"].dropna().str.strip())
    return {v for v in values if len(v) >= 6}


def trie_pattern(values: set[str]) -> re.Pattern:
    """One regular expression matching any of ``values`` (longest first), built as a trie of
    their characters: Python's ``re`` tries a plain alternation of thousands of strings at every
    position (301 s on a sample run folder), a trie in under a second."""
    trie: dict = {}
    for value in values:
        node = trie
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(build(trie))


#: A base64 payload (an embedded chart): no personal data can be read in it, so it is left out.
_BASE64 = re.compile(r"[A-Za-z0-9+/=]{200,}")


def test_pii_pattern_finds_what_an_alternation_finds(sample_dir):
    values = pii_values(sample_dir)
    planted = sorted(values)[::97]
    text = " filler ".join(planted) + " " + "x" * 300
    plain = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    expected = [m.group(0) for m in plain.finditer(text)]
    assert len(expected) == len(planted)
    assert [m.group(0) for m in trie_pattern(values).finditer(_BASE64.sub(" ", text))] == expected


def test_no_personal_data_anywhere_in_the_run(sample_run, sample_dir):
    _, latest, _ = sample_run
    values = pii_values(sample_dir)
    assert len(values) > 1000
    pattern = trie_pattern(values)
    hits = []
    for path in sorted(latest.resolve().rglob("*")):
        if path.is_file():
            text = _BASE64.sub(" ", path.read_bytes().decode("utf-8", errors="replace"))
            for m in pattern.finditer(text):
                hits.append(f"{path.name}: {m.group(0)!r}")
    assert hits == [], hits[:20]


def test_no_small_group_in_rendered_report_tables(sample_run):
    """Every table of every report shows counts of customers or people of 0 or at least
    min_group_size (10): small groups are suppressed (tests/report_tables.py reads the HTML)."""
    from report_tables import count_columns, small_counts

    _, latest, _ = sample_run
    pages = sorted(latest.resolve().glob("*.html"))
    assert sum(count_columns(p) for p in pages) >= 15  # the scan sees the count columns
    hits = [h for p in pages for h in small_counts(p)]
    assert hits == [], hits[:20]


def test_transactions_only_folder(sample_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    tx = pd.read_csv(sample_dir / "transactions.csv", dtype="str")
    keep = tx["customer_id"].drop_duplicates().sort_values().iloc[:600]
    tx[tx["customer_id"].isin(keep)].to_csv(data / "transactions.csv", index=False)
    erased = keep.iloc[:3].tolist()
    pd.DataFrame({"customer_id": erased, "reason": "erasure request"}).to_csv(
        data / "suppress.csv", index=False
    )
    out = tmp_path / "reports"
    code = main(["run", "--data", str(data), "--out", str(out)])
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    status = {nb["name"]: nb for nb in manifest["notebooks"]}
    for name in ("01_data_audit", "02_segmentation", "03_churn"):
        assert status[name]["status"] == "ok", status[name].get("error")
    assert status["04_campaign_uplift"]["status"] == "skipped"
    assert "campaign table is absent" in status["04_campaign_uplift"]["reason"]
    assert status["05_journey_prioritisation"]["status"] == "skipped"
    assert code == 0
    # customers on the suppression list appear nowhere in the run, and the report says so
    run_dir = (out / "latest").resolve()
    for path in run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(cid in text for cid in erased), path.name
    assert manifest["inputs"]["suppressed"][0]["customers"] == 3
    assert (
        "3 customers on the suppression list were excluded" in (run_dir / "index.html").read_text()
    )
    shutil.rmtree(out)
