"""Batched typing (``load_source``'s path) gives exactly what the whole-table pandas path
(``FolderSource.read_raw`` + ``validate_table``) gives: accepted rows, quarantined rows, reasons
and counts, on the bad-input corpus, the sample and random CSV content, for any batch size."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cxlib.contract import ContractError, load_source, validate_batches, validate_table
from cxlib.sources import FolderSource, SourceError, read_batches

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
READABLE = sorted(
    p.name
    for p in CORPUS.iterdir()
    if (p / "expected.json").exists() and json.loads((p / "expected.json").read_text())["exit"] == 0
)
REFUSED = sorted(
    p.name
    for p in CORPUS.iterdir()
    if (p / "expected.json").exists() and json.loads((p / "expected.json").read_text())["exit"] == 2
)


def old_path(folder: Path, table: str, config: dict | None = None):
    """The whole-table path as it was before batching."""
    config = config or {}
    src = FolderSource(folder)
    raw, rejects = src.read_raw(table)
    return validate_table(
        raw,
        table,
        file=str(src.files[table].path),
        table_config=(config.get("tables") or {}).get(table, {}),
        prefix_ids=bool(config.get("prefix_ids_by_source_system")),
        rejects=rejects,
    )


def new_path(folder: Path, table: str, batch_rows: int, config: dict | None = None):
    config = config or {}
    src = FolderSource(folder)
    batches = read_batches(src, table, batch_rows)
    try:
        return validate_batches(
            batches,
            table,
            file=str(src.files[table].path),
            table_config=(config.get("tables") or {}).get(table, {}),
            prefix_ids=bool(config.get("prefix_ids_by_source_system")),
        )
    finally:
        batches.close()


def assert_same(folder: Path, table: str, batch_rows: int, config: dict | None = None) -> None:
    old = old_path(folder, table, config)
    new = new_path(folder, table, batch_rows, config)
    pd.testing.assert_frame_equal(new.data, old.data)
    pd.testing.assert_frame_equal(new.quarantine, old.quarantine)
    assert (new.read_rows, new.accepted_rows, new.quarantined_rows) == (
        old.read_rows,
        old.accepted_rows,
        old.quarantined_rows,
    )


@pytest.mark.parametrize("batch_rows", [1, 2, 5, 1_000_000])
@pytest.mark.parametrize("case", READABLE)
def test_corpus_batched_equals_whole_table(case, batch_rows):
    folder = CORPUS / case
    tables = sorted(FolderSource(folder).files)
    assert tables
    for table in tables:
        assert_same(folder, table, batch_rows)


@pytest.mark.parametrize("case", REFUSED)
def test_corpus_refusals_are_unchanged(case):
    """Inputs the old path refused are refused with the same message."""
    folder = CORPUS / case

    def message(fn) -> str:
        try:
            fn()
        except (ContractError, SourceError) as exc:
            return str(exc)
        return "no error"

    def old() -> None:
        for t in sorted(FolderSource(folder).files):
            old_path(folder, t)

    def new() -> None:
        for t in sorted(FolderSource(folder).files):
            new_path(folder, t, 2)

    assert message(new) == message(old) != "no error"


@pytest.mark.parametrize("table", ["transactions", "customers", "events", "feedback", "campaign"])
def test_sample_batched_equals_whole_table(sample_dir, table):
    assert_same(sample_dir, table, 9_000)


def test_cross_batch_rules(tmp_path):
    """Duplicate ids in different batches, row ids and extra-column types decided over batches."""
    (tmp_path / "customers.csv").write_text(
        "customer_id,source_system,flagish,num,mixed,churned\n"
        "a,pos,yes,1,1,true\n"
        "b,pos,,2,x,false\n"
        "a,pos,no,3.5,2,maybe\n"  # duplicate of row 1 in another batch, bad boolean
        "a,web,true,,3,\n"  # other system: not a duplicate once ids are prefixed
        " ,pos,false,4,4,true\n"  # missing key
        "b,pos,n,5,5,false\n"
    )
    (tmp_path / "transactions.csv").write_text(
        "timestamp,amount,tag\n2024-01-01,1,0\n2024-01-02,x,1\n2024-01-03,3,\n"
    )
    cfg = {"prefix_ids_by_source_system": True, "tables": {"transactions": {"row_id": True}}}
    for batch_rows in (1, 2, 4, 100):
        assert_same(tmp_path, "customers", batch_rows)
        assert_same(tmp_path, "customers", batch_rows, cfg)
        assert_same(tmp_path, "transactions", batch_rows, cfg)
    res = new_path(tmp_path, "customers", 1)
    assert res.quarantine["row_number"].tolist() == [3, 4, 5, 6]
    assert res.data["flagish"].dtype == "boolean"
    assert res.data["num"].dtype == "float64"
    assert res.data["mixed"].dtype == "str"


def test_batched_strings_are_arrow_backed(sample_dir):
    tx = load_source(sample_dir, tables=("transactions",)).tables["transactions"]
    assert tx["customer_id"].dtype == "str"
    assert tx["customer_id"].dtype.storage == "pyarrow"


def test_temporary_copy_is_removed(tmp_path, monkeypatch):
    """The private text copy of a CSV file is deleted after reading, also when typing fails."""
    import tempfile

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    src = tmp_path / "src"
    src.mkdir()
    (src / "transactions.csv").write_text("customer_id,timestamp,amount\na,2024-01-01,1\n")
    load_source(src, batch_rows=1)
    assert list(tmp.iterdir()) == []
    (src / "transactions.csv").write_text("customer_id,timestamp\na,2024-01-01\n")
    with pytest.raises(ContractError):
        load_source(src)
    assert list(tmp.iterdir()) == []


class RawOnly:
    """A source that implements only ``read_raw`` (e.g. a database source)."""

    def __init__(self, folder: Path):
        self._inner = FolderSource(folder)
        self.files = self._inner.files

    def read_raw(self, table: str):
        return self._inner.read_raw(table)


def test_source_without_batches_falls_back_to_read_raw():
    folder = CORPUS / "ragged_rows"
    table = sorted(FolderSource(folder).files)[0]
    old = old_path(folder, table)
    new = validate_batches(read_batches(RawOnly(folder), table, 1), table, file=old.file)
    pd.testing.assert_frame_equal(new.data, old.data)
    pd.testing.assert_frame_equal(new.quarantine, old.quarantine)


CELL = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(CELL, CELL, CELL, CELL), min_size=0, max_size=8),
    batch_rows=st.integers(1, 4),
)
# found by CI: a whole number beyond int64 (birth year 1E100) crashed the typing; now set aside
@example(rows=[("", "", "1E100", "")], batch_rows=1)
@example(rows=[("C1", "2020-01-01", "1E100", "")], batch_rows=2)
def test_property_batched_equals_whole_table(rows, batch_rows, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prop")
    with (folder / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "signup_date", "birth_year", "extra"])
        w.writerows(rows)
    try:
        old_path(folder, "customers")
    except (ContractError, SourceError) as exc:
        with pytest.raises(type(exc)):
            new_path(folder, "customers", batch_rows)
        return
    assert_same(folder, "customers", batch_rows)


@pytest.mark.parametrize("tables", [None, ("transactions", "customers"), ("events",)])
def test_validated_tables_folder_gives_the_same_source_data(sample_dir, tmp_path, tables):
    """What the runner's preflight keeps (``save_validated``) reads back identical to parsing,
    suppression list included (applied after reading, to the tables asked for)."""
    src = tmp_path / "src"
    shutil.copytree(sample_dir, src, ignore=shutil.ignore_patterns("truth"))
    ids = pd.read_csv(src / "customers.csv", dtype="str")["customer_id"].head(3)
    pd.DataFrame({"customer_id": ids, "reason": "erasure"}).to_csv(
        src / "suppress.csv", index=False
    )
    keep = tmp_path / "validated"
    load_source(src, save_validated=keep, as_of_date="2025-06-30")
    parsed = load_source(
        src, tables=tables, as_of_date="2025-06-30", quarantine_dir=tmp_path / "q1"
    )
    cached = load_source(
        src,
        tables=tables,
        config={"validated_dir": str(keep)},
        as_of_date="2025-06-30",
        quarantine_dir=tmp_path / "q2",
    )
    assert sorted(cached.tables) == sorted(parsed.tables)
    for name in parsed.tables:
        pd.testing.assert_frame_equal(cached.tables[name], parsed.tables[name])
        pd.testing.assert_frame_equal(cached.quarantine[name], parsed.quarantine[name])
    pd.testing.assert_frame_equal(cached.counts, parsed.counts)
    pd.testing.assert_frame_equal(cached.suppressed, parsed.suppressed)
    assert int(parsed.suppressed["rows_removed"].sum()) > 0
    assert cached.as_of_date == parsed.as_of_date
    q1 = sorted(p.name for p in (tmp_path / "q1").glob("*.csv"))
    assert q1 == sorted(p.name for p in (tmp_path / "q2").glob("*.csv"))
    for name in q1:
        assert (tmp_path / "q1" / name).read_bytes() == (tmp_path / "q2" / name).read_bytes()


def test_missing_validated_folder_falls_back_to_the_files(sample_dir, tmp_path):
    data = load_source(
        sample_dir, tables=("feedback",), config={"validated_dir": str(tmp_path / "gone")}
    )
    assert data.counts.iloc[0].read_rows > 0
