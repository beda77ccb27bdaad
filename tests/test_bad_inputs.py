"""The bad-input corpus (tests/bad_inputs/): every malformed source either stops with one clear
message (exit code 2, no traceback) or is read with its bad rows quarantined and counted
(read = accepted + quarantined); input files are byte-identical afterwards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxlib.cli import main
from cxlib.contract import load_source

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").exists())


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


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
