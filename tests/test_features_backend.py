"""cxlib.features on each Ibis backend: the same customer-level frame as the frozen pandas oracle
(``test_features.oracle_customer_features``, the former pandas implementation).

DuckDB always; PostgreSQL when ``$CX_PG_URL`` names a server; PySpark (``local[2]``) in the
tests marked ``spark``, skipped with the reason when pyspark or Java is missing. Install it with
``.venv/bin/pip install -e '.[spark]'``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import ibis
import numpy as np
import pandas as pd
import pytest
from backend_skip import skip_or_fail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_features import (
    AS_OF,
    _frame,
    oracle_customer_features,
    oracle_transactions_until,
    row_strategy,
)

from cxlib.contract import load_source
from cxlib.features import customer_features, transactions_until


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same columns, dtypes, index and order; values equal to 1e-9 (relative)."""
    assert list(got.columns) == list(want.columns)
    assert got.index.equals(want.index)
    assert got.index.name == want.index.name and got.index.dtype == want.index.dtype
    assert (got.dtypes == want.dtypes).all(), (got.dtypes[got.dtypes != want.dtypes], want.dtypes)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)


def with_row_number(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(_row=np.arange(len(df), dtype="int64"))


def table_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns typed as strings even when all missing (backends refuse NULL-typed ones)."""
    return df.astype({c: "str" for c in df.columns if df[c].dtype == object})


def table(con, name: str, df: pd.DataFrame):
    """``df`` as a table in the DuckDB connection ``con``."""
    return con.create_table(name, table_frame(df), overwrite=True)


@pytest.fixture(scope="module")
def sample_tx(sample_dir) -> tuple[pd.DataFrame, pd.Timestamp]:
    src = load_source(sample_dir, tables=["transactions"])
    return src.tables["transactions"], src.as_of_date


@pytest.fixture()
def duck():
    con = ibis.duckdb.connect()
    yield con
    con.disconnect()


def messy_transactions(seed: int = 3, n: int = 3000) -> pd.DataFrame:
    """Deterministic transactions with every case the definitions cover: multi-line
    transactions whose lines disagree on customer and channel, rows without an id, refunds,
    exact duplicate rows, missing and unnormalised labels, rows after the as-of date."""
    rng = np.random.default_rng(seed)
    ts = AS_OF - pd.to_timedelta(rng.integers(-5, 900, n), unit="D")
    ts = ts + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    tid = pd.Series([f"T{i}" for i in rng.integers(0, n // 2, n)], dtype="object")
    tid[rng.random(n) < 0.2] = None
    chan = pd.Series(
        rng.choice(["store", "Store ", "web", "APP", "in-store", "Online", "mobile app", ""], n),
        dtype="object",
    )
    chan[rng.random(n) < 0.1] = None
    cat = pd.Series(rng.choice(["grocery", " Grocery", "toys", "HOME"], n), dtype="object")
    cat[rng.random(n) < 0.1] = None
    df = pd.DataFrame(
        {
            "transaction_id": tid.astype("str").where(tid.notna(), None),
            "customer_id": pd.Series([f"C{i:03d}" for i in rng.integers(0, 300, n)], dtype="str"),
            "timestamp": ts.astype("datetime64[ns]"),
            "amount": np.round(rng.normal(40, 40, n), 2),
            "channel": chan.astype("str").where(chan.notna(), None),
            "category": cat.astype("str").where(cat.notna(), None),
        }
    )
    return pd.concat([df, df.sample(n // 30, random_state=seed)], ignore_index=True)


# --------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------


def test_sample_features_equal_oracle(duck, sample_tx):
    """The sample's purchases have several lines in different categories: a backend table
    names the column that orders its rows (the oracle's "first line" is in row order)."""
    tx, as_of = sample_tx
    want = oracle_customer_features(tx, as_of)
    got = customer_features(table(duck, "tx", with_row_number(tx)), as_of, row_order="_row")
    assert len(got) > 5000 and got.shape[1] > 20
    assert_same(got, want)
    assert_same(customer_features(tx, as_of), want)  # a pandas frame, registered on DuckDB
    assert_same(
        customer_features(duck.table("tx"), as_of, lookback_days=90, row_order="_row"),
        oracle_customer_features(tx, as_of, lookback_days=90),
    )


def test_features_at_several_dates_share_the_engine(sample_tx, monkeypatch):
    """With the caller's engine the combined transactions are kept once for several dates."""
    from cxlib import features
    from cxlib.engine import Engine

    built = []

    class Counted(features._PreparedPurchases):
        def __init__(self, *args):
            built.append(1)
            super().__init__(*args)

    monkeypatch.setattr(features, "_PreparedPurchases", Counted)
    tx, as_of = sample_tx
    with Engine() as engine:
        t = engine.table(tx)
        now = customer_features(t, as_of, engine=engine)
        before = customer_features(t, as_of - pd.Timedelta(days=90), engine=engine)
    assert len(built) == 1
    assert_same(now, oracle_customer_features(tx, as_of))
    assert_same(before, oracle_customer_features(tx, as_of - pd.Timedelta(days=90)))


def test_sample_features_from_parquet_equal_oracle(duck, sample_tx, tmp_path):
    """The benchmark's case: a typed Parquet file read by the backend, not a pandas frame."""
    tx, as_of = sample_tx
    path = tmp_path / "tx.parquet"
    with_row_number(tx).to_parquet(path)
    assert_same(
        customer_features(duck.read_parquet(path), as_of, row_order="_row"),
        oracle_customer_features(tx, as_of),
    )


def test_messy_transactions_equal_oracle_with_row_order(duck):
    df = messy_transactions()
    t = table(duck, "messy", with_row_number(df))
    for lookback in (30, 365):
        want = oracle_customer_features(df, AS_OF, lookback)
        assert_same(customer_features(t, AS_OF, lookback, row_order="_row"), want)
        assert_same(customer_features(df, AS_OF, lookback), want)  # the frame's own row order


def test_without_row_order_lines_take_the_smallest_value(duck):
    """A backend table has no row order: disagreeing line items of one transaction take the
    smallest customer id and label (documented); a pandas frame's rows have an order: the first."""
    df = pd.DataFrame(
        {
            "transaction_id": ["T1", "T1", "T1"],
            "customer_id": ["b", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2025-06-01 10:00", "2025-06-01 09:00", "2025-06-01 11:00"]
            ),
            "amount": [20.0, 30.0, 5.0],
            "channel": [None, "web", "App"],
        }
    )
    got = customer_features(table(duck, "lines", df), AS_OF)
    assert list(got.index) == ["a"]
    assert got.loc["a", "monetary"] == pytest.approx(55.0)
    assert got.loc["a", "channel_share_app"] == 1.0  # "App" < "web"
    first = customer_features(df, AS_OF)
    assert list(first.index) == ["b"] and first.loc["b", "channel_share_web"] == 1.0
    assert_same(first, oracle_customer_features(df, AS_OF))
    one = transactions_until(duck.table("lines"), AS_OF).to_pandas()
    assert len(one) == 1 and one["timestamp"].iloc[0] == pd.Timestamp("2025-06-01 09:00")
    # lines that agree give the oracle's result with or without a row order
    agree = df.assign(customer_id="a", channel="web")
    assert_same(
        customer_features(table(duck, "agree", agree), AS_OF),
        oracle_customer_features(agree, AS_OF),
    )


def test_transactions_until_matches_oracle(duck):
    df = messy_transactions(seed=5, n=500)
    t = table(duck, "m", with_row_number(df))
    got = transactions_until(t, AS_OF, row_order="_row").to_pandas()
    want = oracle_transactions_until(df, AS_OF)
    key = ["customer_id", "timestamp", "amount"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want)
    for c in ("customer_id", "channel", "category"):
        assert got[c].fillna("<NA>").tolist() == want[c].fillna("<NA>").tolist(), c
    assert (got["timestamp"].to_numpy() == want["timestamp"].to_numpy()).all()
    np.testing.assert_allclose(got["amount"], want["amount"], rtol=1e-12)


def test_empty_and_date_only(duck):
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="str"),
            "timestamp": pd.Series([], dtype="datetime64[ns]"),
            "amount": pd.Series([], dtype="float64"),
        }
    )
    got = customer_features(table(duck, "e", empty), AS_OF)
    assert_same(got, oracle_customer_features(empty, AS_OF))
    assert_same(customer_features(empty, AS_OF), got)
    only_refunds = pd.DataFrame(
        {"customer_id": ["a"], "timestamp": pd.to_datetime(["2025-06-01"]), "amount": [-3.0]}
    )
    assert customer_features(table(duck, "r", only_refunds), AS_OF).empty
    assert customer_features(only_refunds, AS_OF).empty
    dates = pd.DataFrame(
        {
            "customer_id": ["a", "b", "a"],
            "timestamp": pd.to_datetime(["2025-06-01", "2025-06-02", "2025-06-20"]),
            "amount": [1.0, 2.0, 3.0],
            "channel": [None, None, None],
        }
    )
    got = customer_features(table(duck, "d", dates), AS_OF)
    assert not [c for c in got.columns if c.startswith(("tod_share_", "channel_share_"))]
    assert_same(got, oracle_customer_features(dates, AS_OF))
    assert_same(customer_features(dates, AS_OF), got)  # an all-missing channel of a frame


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, min_size=0, max_size=40),
    with_tid=st.booleans(),
    lookback=st.sampled_from([1, 30, 90, 365, 500]),
    dup=st.integers(min_value=0, max_value=3),
)
def test_generated_transactions_equal_oracle(rows, with_tid, lookback, dup):
    df = _frame(rows, with_tid)
    if dup and len(df):
        df = pd.concat([df, df.iloc[:dup]], ignore_index=True)
    want = oracle_customer_features(df, AS_OF, lookback_days=lookback)
    con = ibis.duckdb.connect()
    try:
        t = table(con, "g", with_row_number(df))
        got = customer_features(t, AS_OF, lookback, row_order="_row")
        if want.empty:
            assert got.empty
            return
        assert_same(got, want)
        if with_tid:  # without a row order: equal when a transaction's lines agree
            agree = df.copy()
            for _, idx in df.groupby("transaction_id", dropna=True).groups.items():
                agree.loc[idx, ["customer_id", "channel"]] = df.loc[
                    idx[0], ["customer_id", "channel"]
                ].to_numpy()
            got2 = customer_features(table(con, "a", agree), AS_OF, lookback)
            want2 = oracle_customer_features(agree, AS_OF, lookback)
            if want2.empty:
                assert got2.empty
            else:
                assert_same(got2, want2)
    finally:
        con.disconnect()


# --------------------------------------------------------------------------------------------
# PySpark (local[2]); compared with DuckDB
# --------------------------------------------------------------------------------------------


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs a JVM, e.g. OpenJDK 17)"
    return None


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    reason = _spark_missing()
    if reason:
        skip_or_fail("spark", reason)
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cxlib-tests")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.warehouse.dir", str(warehouse))
        # pandas -> Spark through Arrow: keeps missing strings missing (not the text "NaN")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    con = ibis.pyspark.connect(session)
    yield con
    session.stop()


def to_parquet(df: pd.DataFrame, path) -> str:
    """``df`` as a Parquet file Spark can read (microsecond timestamps). Going through a file
    also avoids PySpark 4.0's pandas conversion, which turns missing pandas-3 strings into the
    text "NaN" when its Arrow path fails on chunked arrays."""
    df.assign(timestamp=df["timestamp"].astype("datetime64[us]")).to_parquet(path)
    return str(path)


@pytest.mark.spark
def test_spark_sample_features_equal_duckdb(spark, duck, sample_tx, tmp_path):
    tx, as_of = sample_tx
    path = to_parquet(tx, tmp_path / "tx.parquet")
    got = customer_features(spark.read_parquet(path), as_of)
    want = customer_features(duck.read_parquet(path), as_of)
    assert len(got) > 5000
    assert_same(got, want)


@pytest.mark.spark
def test_spark_messy_transactions_equal_duckdb_and_oracle(spark, duck, tmp_path):
    df = with_row_number(messy_transactions())
    path = to_parquet(df, tmp_path / "messy.parquet")
    got = customer_features(spark.read_parquet(path), AS_OF, row_order="_row")
    want = customer_features(table(duck, "messy", df), AS_OF, row_order="_row")
    assert_same(got, want)
    assert_same(got, oracle_customer_features(df.drop(columns="_row"), AS_OF))


# --------------------------------------------------------------------------------------------
# PostgreSQL ($CX_PG_URL, started by .ci/postgres.sh); compared with the oracle
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg():
    url = os.environ.get("CX_PG_URL")
    if not url:
        skip_or_fail("postgres", "CX_PG_URL is not set (no PostgreSQL server; see .ci/postgres.sh)")
    con = ibis.connect(url)
    yield con
    con.disconnect()


def test_postgres_features_equal_oracle(pg, sample_tx):
    tx, as_of = sample_tx
    t = pg.create_table("cx_test_features_tx", with_row_number(tx), temp=True, overwrite=True)
    assert_same(customer_features(t, as_of, row_order="_row"), oracle_customer_features(tx, as_of))
    df = with_row_number(messy_transactions())
    m = pg.create_table("cx_test_features_messy", table_frame(df), temp=True, overwrite=True)
    assert_same(
        customer_features(m, AS_OF, 90, row_order="_row"),
        oracle_customer_features(df.drop(columns="_row"), AS_OF, 90),
    )


def test_backend_features_are_bitwise_repeatable(sample_tx):
    """Money sums do not depend on DuckDB's thread scheduling: two runs, two connections, the
    same bits (a parallel float sum differed in the last bit between runs before)."""
    from cxlib.engine import backend_table, duckdb_connection

    tx, as_of = sample_tx
    big = pd.concat([tx] * 4, ignore_index=True)  # several row groups, so threads share rows
    big["transaction_id"] = big["transaction_id"] + "-" + (big.index // len(tx)).astype(str)
    runs = []
    for _ in range(3):
        con = duckdb_connection()
        runs.append(customer_features(backend_table(big, con=con), as_of))
        con.disconnect()
    for got in runs[1:]:
        pd.testing.assert_frame_equal(got, runs[0], check_exact=True)
    assert_same(runs[0], oracle_customer_features(big, as_of))


# ---------------------------------------------------------------------------------------------
# the engine's expression helpers (what the analyses use instead of importing Ibis)
# ---------------------------------------------------------------------------------------------


def test_engine_expression_helpers_on_hand_computed_rows():
    from cxlib import engine as E

    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-05"]),
            "amount": [1.25, -2.0, 3.0, None],
            "channel": [None, None, None, None],  # all missing: registered as text
        }
    )
    with E.Engine() as engine:
        t = engine.table(frame)
        assert t.schema()["channel"].is_string()
        assert E.backend_name(t) == "duckdb"
        got = (
            t.filter(t.timestamp < E.timestamp_literal("2024-01-04"))
            .group_by("customer_id")
            .aggregate(
                n=E.row_count(),
                pos=E.count_where(t.amount > 0),
                total=E.as_decimal(t.amount, 2).sum().cast("float64"),
                first=E.coalesce(t.channel, E.literal("none")).min(),
            )
            .order_by("customer_id")
            .to_pandas()
        )
        assert got["customer_id"].tolist() == ["a", "b"]
        assert got["n"].tolist() == [2, 1] and got["pos"].tolist() == [1, 1]
        assert got["total"].tolist() == [-0.75, 3.0] and got["first"].tolist() == ["none"] * 2
        w = E.window(group_by=t.customer_id, order_by=t.timestamp)
        ranked = t.mutate(rank=E.row_number().over(w)).order_by(E.ROW_ORDER).to_pandas()
        assert ranked["rank"].tolist() == [0, 1, 0, 0]
        ids = E.ids_table_like(t, ["c", "a"], "_cx_id")
        kept = engine.keep(t.semi_join(ids, t.customer_id == ids._cx_id), "cx_test")
        assert sorted(kept.to_pandas()[E.ROW_ORDER]) == [0, 1, 3]
        runs = t.mutate(run=t[E.ROW_ORDER].sum().over(E.cumulative_window(order_by=t[E.ROW_ORDER])))
        assert runs.order_by(E.ROW_ORDER).to_pandas()["run"].tolist() == [0, 1, 3, 6]


@pytest.mark.spark
def test_spark_keeps_a_join_with_ids_in_memory(spark, tmp_path):
    """:meth:`Engine.keep` of a PySpark expression reading an in-memory table of ids: Spark's
    ``cache()`` alone does not register the ids (the keep is retried after one run)."""
    from cxlib import engine as E

    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-05"]),
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    t = spark.read_parquet(to_parquet(frame, tmp_path / "ids.parquet"))
    assert E.backend_name(t) == "pyspark"
    ids = E.ids_table_like(t, ["c", "a"], "_cx_id")
    with E.Engine() as engine:
        kept = engine.keep(t.semi_join(ids, t.customer_id == ids._cx_id), "cx_test")
        assert sorted(kept.to_pandas()["amount"]) == [1.0, 2.0, 4.0]
