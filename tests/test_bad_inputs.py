"""The bad-input corpus (tests/bad_inputs/): every malformed source either stops with one clear
message (exit code 2, no traceback) or is read with its bad rows quarantined and counted
(read = accepted + quarantined); input files are byte-identical afterwards."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from file_digests import digests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_tables import small_counts

from cxlib.cli import main
from cxlib.contract import ORIGIN_TODAY, load_source

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").exists())


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_bad_input_case(case, capsys, tmp_path):
    folder = CORPUS / case
    expected = json.loads((folder / "expected.json").read_text())
    before = digests(folder)
    code = main(["check", "--data", str(folder)])
    err = capsys.readouterr().err
    assert code == expected["exit"], err
    assert "Traceback" not in err
    if expected["exit"] == 2:
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("cx: error:")]
        assert len(lines) == 1, err
        for part in expected["message"]:
            assert part in lines[0], (part, lines[0])
        assert "Fix:" in lines[0]
    else:
        data = load_source(folder, quarantine_dir=tmp_path / "q")
        counts = data.counts.set_index("table")
        for table, (read, accepted, quarantined) in expected["tables"].items():
            row = counts.loc[table]
            assert (row.read_rows, row.accepted_rows, row.quarantined_rows) == (
                read,
                accepted,
                quarantined,
            ), table
            assert row.accepted_rows + row.quarantined_rows == row.read_rows
        reasons = " ".join(" ".join(q["reason"]) for q in data.quarantine.values() if len(q))
        for part in expected["reasons"]:
            assert part in reasons
    assert digests(folder) == before


CELL = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=0, max_size=8))
def test_loader_never_crashes_and_accounts_for_every_row(rows, tmp_path_factory):
    """Property: any CSV content under the right header is read with read = accepted +
    quarantined and one row per data line, or refused with a ContractError."""
    import csv

    folder = tmp_path_factory.mktemp("prop")
    with (folder / "transactions.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "timestamp", "amount"])
        w.writerows(rows)
    data = load_source(folder)
    c = data.counts.iloc[0]
    assert c.read_rows == c.accepted_rows + c.quarantined_rows
    tx = data.tables["transactions"]
    assert tx["customer_id"].notna().all() and tx["timestamp"].notna().all()
    assert tx["amount"].map(lambda v: v == v and abs(v) != float("inf")).all()


# --------------------------------------------------------------------------------------------
# The same corpus through the whole `cx run` (validation, notebooks, manifest, quarantine)
# --------------------------------------------------------------------------------------------
#: Accepting cases run through the notebook series. Together they execute every notebook on
#: tiny, malformed input: one_row_tables feeds 01, 02, 03 and 05 (one customer, one
#: transaction, one event), bad_flags feeds 01 and 04 (a campaign whose flags are mostly
#: unreadable, leaving one control and one offer customer).
FULL_SERIES = ("one_row_tables", "bad_flags")


def _run_cli(
    folder: Path, out: Path, only: str | None, capsys, as_of: str | None = None
) -> tuple[int, str]:
    argv = ["run", "--data", str(folder), "--out", str(out)] + (["--only", only] if only else [])
    code = main(argv + (["--as-of", as_of] if as_of else []))
    return code, capsys.readouterr().err


def _only_for(case: str) -> str | None:
    """``--only`` for a case: the whole series for FULL_SERIES cases, else the
    campaign notebook, which every other accepting case lacks a table for (so it is skipped
    and the run exercises validation, quarantine, manifest and fingerprints only)."""
    return None if case in FULL_SERIES else "04"


@pytest.mark.parametrize("case", CASES)
def test_cx_run_on_bad_input(case, capsys, tmp_path):
    """`cx run` (the real CLI entry) on every corpus case.

    Refusing cases run the whole series: the contract check stops the run before any notebook,
    with exit code 2, exactly one ``cx: error:`` line naming the file and the fix, no traceback
    and no run folder. Accepting cases end with exit code 0 (3 for ``--only 04``), every selected notebook ``ok`` or
    ``skipped`` in ``manifest.json``, the quarantine counts of ``expected.json`` in the manifest
    (accepted + quarantined = read), one ``quarantine/<table>.csv`` per table with quarantined
    rows, inputs byte-identical. Running all notebooks on all 26 accepting cases would take
    about 10 minutes (each notebook costs 10-20 s of kernel start and imports even on tiny
    input), so only FULL_SERIES cases run the notebooks; the others use ``--only 04`` (skipped
    for lack of a campaign table, so they exit 3: nothing was produced). Rendered report tables of the full runs are scanned for
    customer counts under ``min_group_size`` (every group in these inputs is smaller than 10,
    so any count shown is a leak).
    """
    folder = CORPUS / case
    expected = json.loads((folder / "expected.json").read_text())
    before = digests(folder)
    out = tmp_path / "reports"
    if expected["exit"] == 2:
        code, err = _run_cli(folder, out, None, capsys)
        assert code == 2, err
        assert "Traceback" not in err
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("cx: error:")]
        assert len(lines) == 1, err
        for part in expected["message"]:
            assert part in lines[0], (part, lines[0])
        assert "Fix:" in lines[0]
        names = [p.name for p in folder.iterdir() if p.name != "expected.json"]
        assert any(n in lines[0] for n in names), (names, lines[0])
        assert not list(out.glob("*/manifest.json"))  # no half-made run
        assert digests(folder) == before
        return
    only = _only_for(case)
    # a folder without dated transactions or events needs the analysis date (issue #21;
    # tests/test_runner.py checks the refusal without it)
    logging.disable(logging.CRITICAL)  # the previous run's log handler holds a closed stream
    try:
        dated = load_source(folder).as_of.origin != ORIGIN_TODAY
    finally:
        logging.disable(logging.NOTSET)
    code, err = _run_cli(folder, out, only, capsys, as_of=None if dated else "2025-06-30")
    assert "Traceback" not in err
    run_dir = (out / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    status = {nb["name"]: nb.get("error") or nb["status"] for nb in manifest["notebooks"]}
    # --only 04 without a campaign table: every requested notebook skipped for a table to add
    assert code == (0 if case in FULL_SERIES else 3), (status, err[-2000:])
    assert all(s in ("ok", "skipped") for s in status.values()), status
    if case in FULL_SERIES:
        from cxlib.runner import NOTEBOOKS

        assert set(status) == {nb.name for nb in NOTEBOOKS}
        if case == "one_row_tables":  # churn needs history: a skip notice, not a failure
            html = (run_dir / "03_churn.html").read_text(encoding="utf-8")
            assert "churn needs at least 180 days" in html
        assert "ok" in status.values()
        for nb in manifest["notebooks"]:
            if nb["status"] == "ok":
                assert small_counts(run_dir / nb["html"]) == [], nb["name"]
    else:
        assert status == {"04_campaign_uplift": "skipped"}
    counts = {t["table"]: t for t in manifest["inputs"]["tables"]}
    assert set(counts) == set(expected["tables"])
    for table, (read, accepted, quarantined) in expected["tables"].items():
        row = counts[table]
        got = (row["read_rows"], row["accepted_rows"], row["quarantined_rows"])
        assert got == (read, accepted, quarantined), table
        assert row["accepted_rows"] + row["quarantined_rows"] == row["read_rows"]
        qfile = run_dir / "quarantine" / f"{table}.csv"
        assert qfile.exists() == (quarantined > 0), table
        if quarantined:
            q = pd.read_csv(qfile, dtype="str", keep_default_na=False)
            assert len(q) == quarantined and "reason" in q.columns
    assert manifest["inputs"]["unchanged"] is True
    assert digests(folder) == before
