"""``load_source(lazy=...)``: the big tables as Ibis backend tables hold exactly the rows, types
and order of the pandas frames, on the sample, the bad-input corpus, a validated folder and a
suppression list; the as-of date, ``has``/``n_rows`` and ``customers()`` agree too."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from corpus import CORPUS, READABLE

from cxlib.contract import load_source
from cxlib.engine import ROW_ORDER, is_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
LAZY = ("transactions", "events")


def as_frame(table) -> pd.DataFrame:
    """A backend table back in pandas, in row order, without the row-order column."""
    df = table.order_by(ROW_ORDER).to_pandas()
    assert df[ROW_ORDER].is_monotonic_increasing
    return df.drop(columns=[ROW_ORDER])


def assert_same(a, b) -> None:
    """Two SourceData objects hold the same tables, counts, quarantine, as-of date and ids."""
    assert sorted(a.tables) == sorted(b.tables)
    for name, ta in a.tables.items():
        tb = b.tables[name]
        assert not is_table(ta)
        if name in LAZY:
            assert is_table(tb) and b.is_lazy(name)
            tb = as_frame(tb)
            for col in ta.columns:  # the backend keeps microseconds; values are equal
                if ta[col].dtype.kind == "M":
                    tb[col] = tb[col].astype(ta[col].dtype)
        else:
            assert not b.is_lazy(name)
        pd.testing.assert_frame_equal(
            ta.reset_index(drop=True), tb.reset_index(drop=True), check_dtype=False, obj=name
        )
        for col in ta.columns:
            assert (ta[col].dtype.kind in "OUT") == (tb[col].dtype.kind in "OUT") or str(
                ta[col].dtype
            ) == str(tb[col].dtype), (name, col, ta[col].dtype, tb[col].dtype)
        assert a.n_rows(name) == b.n_rows(name) == len(ta)
        assert a.has(name) == b.has(name)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    assert sorted(a.quarantine) == sorted(b.quarantine)
    for name in a.quarantine:
        pd.testing.assert_frame_equal(a.quarantine[name], b.quarantine[name])
    assert a.as_of_date == b.as_of_date
    pd.testing.assert_frame_equal(a.customers(), b.customers())
    pd.testing.assert_frame_equal(a.suppressed, b.suppressed, check_dtype=False)


def test_sample_lazy_equals_pandas():
    a = load_source(SAMPLE)
    b = load_source(SAMPLE, lazy=LAZY)
    assert_same(a, b)
    assert b.backend is not None and a.backend is None
    # the backend schema carries the types an analysis expects
    schema = b.tables["transactions"].schema()
    assert schema["amount"].is_floating() and schema["timestamp"].is_timestamp()
    assert schema["customer_id"].is_string() and schema[ROW_ORDER].is_integer()


@pytest.mark.parametrize("case", READABLE)
def test_corpus_lazy_equals_pandas(case):
    folder = CORPUS / case
    cfg_file = folder / "config.json"
    config = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
    a = load_source(folder, config=config)
    b = load_source(folder, config=config, lazy=LAZY)
    assert_same(a, b)


def test_validated_folder_is_read_lazily(tmp_path):
    """With the run's validated folder, lazy tables read its Parquet files (nothing parsed)."""
    saved = tmp_path / "validated"
    a = load_source(SAMPLE, save_validated=saved)
    b = load_source(SAMPLE, config={"validated_dir": str(saved)}, lazy=LAZY)
    assert_same(a, b)
    sql = str(b.tables["transactions"].compile())
    assert "read_parquet" in sql or "transactions" in sql


def test_suppression_list_applies_to_backend_tables(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("truth"))
    tx = pd.read_csv(folder / "transactions.csv", dtype="str")
    ids = tx["customer_id"].dropna().drop_duplicates().head(7).tolist()
    pd.DataFrame({"customer_id": ids, "reason": ["erasure"] * 4 + ["opt-out"] * 3}).to_csv(
        folder / "suppress.csv", index=False
    )
    a = load_source(folder)
    b = load_source(folder, lazy=LAZY)
    assert a.suppressed["rows_removed"].sum() > 0
    assert_same(a, b)
    assert not as_frame(b.tables["transactions"])["customer_id"].isin(ids).any()


def test_private_copy_is_deleted_with_the_data():
    b = load_source(SAMPLE, tables=("transactions",), lazy=LAZY)
    folder = b._lazy_store.dir
    assert (folder / "transactions.parquet").is_file()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    del b
    gc.collect()
    assert not folder.exists()


def test_close_deletes_the_private_folders_now():
    """``SourceData`` closes deterministically: the engine, its private folder (Parquet copy,
    spill space) and the folder source's reading connection with its spill folder."""
    from cxlib.engine import Engine

    with load_source(SAMPLE, tables=("transactions",), lazy=LAZY) as b:
        folder = b._lazy_store.dir
        assert isinstance(b.engine, Engine) and b.backend is b.engine.con
        assert b.n_rows("transactions") > 0
        spill = Path(b.source.con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0])
        assert folder.is_dir() and spill.is_dir()
    assert not folder.exists() and not spill.exists()
    assert b.engine.closed
    b.close()  # a second close does nothing


def test_a_failed_lazy_load_leaves_no_private_folder(tmp_path, monkeypatch):
    """A load that stops on bad input closes its engine and deletes its backend folder at
    once (not at garbage collection)."""
    import tempfile

    from cxlib.contract import ContractError

    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    with pytest.raises(ContractError, match="'amount'"):
        load_source(CORPUS / "missing_column", lazy=LAZY)
    assert not [p for p in where.iterdir() if p.name.startswith("cx-backend-")]


def test_pandas_only_data_has_no_engine():
    a = load_source(SAMPLE, tables=("customers",))
    assert a.engine is None and a.backend is None
    a.close()
    assert len(a.tables["customers"]) > 0  # pandas frames stay usable


def test_lazy_ignores_tables_not_loaded():
    b = load_source(SAMPLE, tables=("customers",), lazy=LAZY)
    assert list(b.tables) == ["customers"] and b.backend is None


def test_backend_folder_lies_inside_the_validated_folder(tmp_path):
    """A killed kernel cannot leave DuckDB's spill files behind: the runner deletes the
    validated folder, and the backend folder lies inside it."""
    saved = tmp_path / "validated"
    load_source(SAMPLE, tables=("transactions",), save_validated=saved)
    b = load_source(
        SAMPLE, tables=("transactions",), config={"validated_dir": str(saved)}, lazy=LAZY
    )
    assert b._lazy_store.dir.parent == saved
    assert b.n_rows("transactions") > 0


def test_duckdb_memory_cap_defaults_and_follows_the_environment(monkeypatch):
    import duckdb

    from cxlib.engine import DUCKDB_MEMORY_LIMIT, duckdb_connection

    def cap(con) -> str:
        return con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]

    def expected(limit: str) -> str:
        return (
            duckdb.connect(config={"memory_limit": limit})
            .sql("SELECT current_setting('memory_limit')")
            .fetchone()[0]
        )

    from cxlib import engine

    monkeypatch.delenv("CX_DUCKDB_MEMORY", raising=False)
    assert cap(duckdb_connection()) == expected(engine.duckdb_memory_limit())
    # a sixth of the machine's (or container's) memory, at most 4 GB, at least 256 MB
    monkeypatch.setattr(engine, "machine_memory_bytes", lambda: 24 * 2**30)
    assert expected(engine.duckdb_memory_limit()) == expected(DUCKDB_MEMORY_LIMIT)
    monkeypatch.setattr(engine, "machine_memory_bytes", lambda: 8 * 10**9)
    assert engine.duckdb_memory_limit() == "1333MB"
    assert cap(duckdb_connection()) == expected("1333MB")
    monkeypatch.setattr(engine, "machine_memory_bytes", lambda: 10**9)
    assert engine.duckdb_memory_limit() == "256MB"
    monkeypatch.setattr(engine, "machine_memory_bytes", lambda: None)
    assert expected(engine.duckdb_memory_limit()) == expected(DUCKDB_MEMORY_LIMIT)
    monkeypatch.setenv("CX_DUCKDB_MEMORY", "1GB")
    assert cap(duckdb_connection()) == expected("1GB") != expected(DUCKDB_MEMORY_LIMIT)


def test_machine_memory_takes_a_container_limit(monkeypatch, tmp_path):
    from cxlib import engine

    monkeypatch.setattr(engine, "_CGROUP_MEMORY_FILES", ())
    physical = engine.machine_memory_bytes()
    limit = tmp_path / "memory.max"
    limit.write_text("2147483648\n")
    monkeypatch.setattr(engine, "_CGROUP_MEMORY_FILES", (str(limit),))
    assert engine.machine_memory_bytes() == min(physical or 2**31, 2**31)
    limit.write_text("max\n")
    assert engine.machine_memory_bytes() == physical


def test_folder_reader_spills_into_a_private_folder_not_the_working_directory(sample_dir):
    import gc
    import os
    import tempfile
    from pathlib import Path

    from cxlib.sources import FolderSource

    src = FolderSource(sample_dir)
    where = Path(src.con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0])
    assert where.resolve().parent == Path(tempfile.gettempdir()).resolve()
    assert where.name.startswith("cx-read-") and (where.stat().st_mode & 0o077) == 0
    assert not where.resolve().is_relative_to(Path(os.getcwd()).resolve())
    del src
    gc.collect()
    assert not where.exists()


def test_engine_names_stay_importable_from_sources():
    """The connection helpers moved to cxlib.engine; cxlib.sources re-exports the same objects
    (one helper, :func:`cxlib.engine.is_table`, decides backend membership)."""
    import cxlib.engine as engine
    import cxlib.sources as sources

    names = [
        "duckdb_connection",
        "duckdb_memory_limit",
        "DUCKDB_THREADS",
        "DUCKDB_MEMORY_LIMIT",
        "DUCKDB_MEMORY_ENV",
        "ROW_ORDER",
        "fetch_frame",
        "backend_table",
    ]
    for name in names:
        assert getattr(sources, name) is getattr(engine, name), name
    assert not hasattr(sources, "is_backend_table")
    assert sources.LOAD_ORDER_COLUMN == engine.ROW_ORDER == "cx_row_number"
