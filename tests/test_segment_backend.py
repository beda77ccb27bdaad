"""Notebook 02's transaction steps give the same result for a pandas frame and a backend table.

``load_master_map(ids=...)`` counts the map's coverage in the backend, ``to_people(table, map)``
is a join in the backend (a frame is registered on an engine first), and everything after the
customer features (RFM, clusters, export) is then identical. DuckDB always; PySpark in the tests marked
``spark`` (skipped with the reason when pyspark or Java is missing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_features import AS_OF, oracle_customer_features
from test_features_backend import assert_same, messy_transactions, spark, to_parquet  # noqa: F401

from cxlib import segment as S
from cxlib.contract import load_source
from cxlib.engine import ROW_ORDER, backend_table, is_table
from cxlib.features import customer_features
from cxlib.segment._people import _id_coverage

SEED = 42


def as_frame(table) -> pd.DataFrame:
    """A backend table in pandas, in row order, without the row-order column."""
    return table.order_by(ROW_ORDER).to_pandas().drop(columns=[ROW_ORDER])


def write_map(folder, mm: pd.DataFrame) -> None:
    (folder / "exports").mkdir(parents=True, exist_ok=True)
    mm.to_csv(folder / "exports" / "customer_master_map.csv", index=False)


@pytest.fixture(scope="module")
def sample(sample_dir):
    pandas_data = load_source(sample_dir, tables=("transactions", "customers"))
    lazy_data = load_source(
        sample_dir, tables=("transactions", "customers"), lazy=("transactions",)
    )
    truth = pd.read_csv(
        sample_dir / "truth" / "customers.csv", usecols=["customer_id", "master_id"], dtype="str"
    )
    assert is_table(lazy_data.tables["transactions"])
    assert not is_table(pandas_data.tables["transactions"])
    return pandas_data, lazy_data, truth


# --------------------------------------------------------------------------------------------
# load_master_map
# --------------------------------------------------------------------------------------------


def test_master_map_coverage_counted_in_the_backend(tmp_path):
    write_map(
        tmp_path,
        pd.DataFrame({"customer_id": ["A", "B", "C", "C"], "master_id": ["P1", "P1", "P2", "P9"]}),
    )
    cases = {
        "covered": ["A", "B", "X", "A", "A"],  # 2 of 3 distinct ids: used
        "stale": ["X", "Y", "A", "Z"],  # 1 of 4: ignored
        "half": ["A", "X"],  # exactly min_coverage: used
        "missing ids do not count": ["A", None, None, None],
    }
    for name, ids in cases.items():
        s = pd.Series(ids, dtype="str", name="customer_id")
        t = backend_table(pd.DataFrame({"customer_id": s, "amount": 1.0}))
        want = S.load_master_map(tmp_path, ids=s)
        got = S.load_master_map(tmp_path, ids=t["customer_id"])
        assert (want is None) == (got is None), name
        if want is not None:
            pd.testing.assert_frame_equal(got, want)
            assert got["customer_id"].tolist() == ["A", "B", "C"]  # first row of C kept
    assert S.load_master_map(tmp_path, ids=pd.Series(["X", "Y", "A", "Z"])) is None
    # no ids at all (empty table): coverage 0, the map is ignored on both paths
    empty = pd.DataFrame({"customer_id": pd.Series([], dtype="str"), "amount": 1.0})
    assert S.load_master_map(tmp_path, ids=empty["customer_id"]) is None
    assert S.load_master_map(tmp_path, ids=backend_table(empty)["customer_id"]) is None


def test_master_map_coverage_with_non_text_ids(tmp_path):
    write_map(tmp_path, pd.DataFrame({"customer_id": ["1", "2"], "master_id": ["P1", "P1"]}))
    t = backend_table(pd.DataFrame({"customer_id": [1, 2, 3], "amount": 1.0}))
    assert S.load_master_map(tmp_path, ids=t["customer_id"]) is not None
    assert S.load_master_map(tmp_path, ids=pd.Series([1, 2, 3])) is not None


def test_sample_master_map_same_on_both_paths(sample, tmp_path):
    pandas_data, lazy_data, truth = sample
    write_map(tmp_path, truth)
    want = S.load_master_map(tmp_path, ids=pandas_data.tables["transactions"]["customer_id"])
    got = S.load_master_map(tmp_path, ids=lazy_data.tables["transactions"]["customer_id"])
    assert want is not None and len(want) > 5000
    pd.testing.assert_frame_equal(got, want)
    cov = _id_coverage(lazy_data.tables["transactions"]["customer_id"], truth["customer_id"])
    assert cov == _id_coverage(
        pandas_data.tables["transactions"]["customer_id"], truth["customer_id"]
    )
    assert 0.9 < cov < 1.0  # the sample plants orphan ids that are in no customer system


# --------------------------------------------------------------------------------------------
# to_people
# --------------------------------------------------------------------------------------------


def test_to_people_frame_and_backend_table_on_small_cases():
    tx = pd.DataFrame(
        {
            "transaction_id": ["T1", "T2", "T3", "T4", "T4", None, "T6"],
            "customer_id": pd.Series(["A", "B", "C", "D", "A", None, "A"], dtype="str"),
            "timestamp": pd.to_datetime(["2025-01-01"] * 7),
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 1.0],
        }
    )
    mm = pd.DataFrame({"customer_id": ["A", "B", "C"], "master_id": ["P1", "P1", "P2"]})
    want = S.to_people(tx, mm)
    got_t = S.to_people(backend_table(tx), mm)
    assert is_table(got_t)
    assert list(got_t.columns) == [*tx.columns, "source_customer_id", ROW_ORDER]
    got = as_frame(got_t)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["customer_id"].tolist()[:5] == ["P1", "P1", "P2", "D", "P1"]
    assert pd.isna(got["customer_id"].iloc[5])  # a missing id stays missing
    assert got["source_customer_id"].tolist()[:5] == ["A", "B", "C", "D", "A"]
    # rows are neither lost nor repeated by the join (a map with one row per record)
    assert got_t.count().execute() == len(tx)
    # an empty map: every record is its own person
    empty_map = mm.iloc[:0]
    pd.testing.assert_frame_equal(
        as_frame(S.to_people(backend_table(tx), empty_map)),
        S.to_people(tx, empty_map),
        check_dtype=False,
    )
    # an empty table
    none = tx.iloc[:0]
    assert S.to_people(backend_table(none), mm).count().execute() == 0


def test_to_people_features_equal_for_frame_and_table_on_messy_transactions():
    """Multi-line transactions, duplicates, refunds, missing labels; people spanning records."""
    df = messy_transactions()
    ids = sorted(df["customer_id"].unique())
    mm = pd.DataFrame(
        {"customer_id": ids[:200], "master_id": [f"P{i // 3:03d}" for i in range(200)]}
    )
    want = oracle_customer_features(S.to_people(df, mm), AS_OF)
    got = customer_features(S.to_people(backend_table(df), mm), AS_OF)
    assert_same(customer_features(S.to_people(df, mm), AS_OF), want)
    assert len(got) < df["customer_id"].nunique()  # records were merged into people
    assert_same(got, want)
    # without the optional columns (no transaction_id, channel, category)
    slim = df[["customer_id", "timestamp", "amount"]]
    assert_same(
        customer_features(S.to_people(backend_table(slim), mm), AS_OF, 90),
        customer_features(S.to_people(slim, mm), AS_OF, 90),
    )


# --------------------------------------------------------------------------------------------
# The notebook-02 pipeline on the sample
# --------------------------------------------------------------------------------------------


def _pipeline(data, master_map):
    """Notebook 02's run (k 4..6 and few resamples, for speed)."""
    r = S.run_segmentation(data, master_map=master_map, seed=SEED, k_min=4, k_max=6, n_bootstrap=3)
    assert not r.skipped
    return r


@pytest.mark.parametrize("people", [False, True], ids=["records", "people"])
def test_sample_run_equal_for_frames_and_backend_tables(sample, people):
    pandas_data, lazy_data, truth = sample
    mm = truth if people else None
    want = _pipeline(pandas_data, mm)
    got = _pipeline(lazy_data, mm)
    assert len(want.features) > 4000
    assert_same(got.features, want.features)
    assert got.segmenter.k_ == want.segmenter.k_
    assert (got.segmenter.labels_ == want.segmenter.labels_).all()
    pd.testing.assert_frame_equal(got.segmenter.selection_, want.segmenter.selection_)
    pd.testing.assert_frame_equal(got.migration.table, want.migration.table)
    assert list(got.exports()) == ["segments.csv"]
    ex_got, ex_want = got.exports()["segments.csv"], want.exports()["segments.csv"]
    pd.testing.assert_frame_equal(ex_got, ex_want)
    assert len(ex_want) > 1000
    assert [f.text for f in got.findings()] == [f.text for f in want.findings()]
    assert sum(f.headline for f in got.findings()) == 3
    if people:
        assert got.unit.startswith("people")
        assert list(ex_got.columns) == [*S.EXPORT_COLUMNS, "master_id"]
        assert ex_got["customer_id"].is_unique
    else:
        assert list(ex_got.columns) == list(S.EXPORT_COLUMNS)


# --------------------------------------------------------------------------------------------
# PySpark
# --------------------------------------------------------------------------------------------


@pytest.mark.spark
def test_spark_people_features_and_coverage_equal_pandas(spark, tmp_path):  # noqa: F811
    df = messy_transactions().assign(**{ROW_ORDER: lambda d: np.arange(len(d), dtype="int64")})
    ids = sorted(df["customer_id"].unique())
    mm = pd.DataFrame(
        {"customer_id": ids[:200], "master_id": [f"P{i // 3:03d}" for i in range(200)]}
    )
    t = spark.read_parquet(to_parquet(df, tmp_path / "messy.parquet"))
    plain = df.drop(columns=[ROW_ORDER])
    assert_same(
        customer_features(S.to_people(t, mm), AS_OF),
        customer_features(S.to_people(plain, mm), AS_OF),
    )
    assert _id_coverage(t["customer_id"], mm["customer_id"]) == pytest.approx(
        _id_coverage(plain["customer_id"], mm["customer_id"])
    )


def test_master_map_coverage_of_a_joined_table():
    """Coverage of ids from a table that is itself a join (a suppression list's anti-join)."""
    import ibis

    tx = backend_table(pd.DataFrame({"customer_id": ["a", "b", "c", "c", "d"], "amount": 1.0}))
    kept = tx.anti_join(ibis.memtable(pd.DataFrame({"customer_id": ["d"]})), "customer_id")
    mapped = pd.Series(["a", "b", "x"])
    assert _id_coverage(kept["customer_id"], mapped) == pytest.approx(2 / 3)
    assert _id_coverage(kept["customer_id"], mapped) == _id_coverage(
        pd.Series(["a", "b", "c", "c"]), mapped
    )
