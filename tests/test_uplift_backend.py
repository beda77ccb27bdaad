"""Notebook 04's use of transactions on an Ibis backend table gives what the pandas path gives.

``uplift.history_features(campaign, <Ibis table>)`` restricts the transactions to the campaign
customers in the backend (a semi-join) and computes their features there; ``run_uplift`` on
``load_source(..., lazy=("transactions",))`` tables is then identical to the pandas run. DuckDB
always; PySpark in the test marked ``spark``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_features_backend import messy_transactions, spark, to_parquet  # noqa: F401

from cxlib import uplift as U
from cxlib.contract import load_source
from cxlib.sources import ROW_ORDER, backend_table, is_backend_table
from cxlib.uplift import _run

SENT = pd.Timestamp("2025-05-01")


@pytest.fixture(scope="module")
def sample(sample_dir):
    tables = ("campaign", "transactions", "customers")
    pandas_data = load_source(sample_dir, tables=tables)
    lazy_data = load_source(sample_dir, tables=tables, lazy=("transactions",))
    assert is_backend_table(lazy_data.tables["transactions"])
    return pandas_data, lazy_data


def _campaign(ids, sent_at=SENT) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "group": ["control", "offer_a"] * (len(ids) // 2) + ["control"] * (len(ids) % 2),
            "sent_at": sent_at,
            "converted": 0,
        }
    )


def assert_same_history(campaign, tx) -> tuple[pd.DataFrame, str]:
    want, want_note = U.history_features(campaign, tx)
    got, got_note = U.history_features(campaign, backend_table(tx))
    assert got_note == want_note
    pd.testing.assert_frame_equal(got, want)
    return got, got_note


def test_sample_history_features_equal(sample):
    pandas_data, lazy_data = sample
    camp = _run._first_row_per_customer(pandas_data.tables["campaign"])
    want, want_note = U.history_features(camp, pandas_data.tables["transactions"])
    got, got_note = U.history_features(camp, lazy_data.tables["transactions"])
    assert got_note == want_note and "purchase-history features" in got_note
    pd.testing.assert_frame_equal(got, want)
    assert got.index.equals(camp.index)
    assert got.shape[1] > 20 and "hist_rfm_segment" in got.columns
    assert 0.5 < got["hist_recency_days"].notna().mean() < 1.0  # some never bought before


def test_history_features_only_campaign_customers_count():
    """Restriction before the features: RFM scores are relative to the campaign customers, and
    a multi-line transaction shared with a non-campaign customer keeps only their lines."""
    df = messy_transactions()
    ids = sorted(df["customer_id"].unique())
    camp = _campaign([*ids[:120:2], "NEVER-BOUGHT"], sent_at=pd.Timestamp("2025-03-01"))
    got, _ = assert_same_history(camp, df)
    assert got.loc[camp["customer_id"] == "NEVER-BOUGHT"].isna().all(axis=1).all()
    assert got["hist_rfm_segment"].notna().sum() > 50
    # repeated campaign rows get the same features (rows align with the campaign)
    twice = pd.concat([camp, camp.iloc[:3]], ignore_index=True)
    got2, _ = assert_same_history(twice, df)
    pd.testing.assert_frame_equal(got2.iloc[-3:].reset_index(drop=True), got2.iloc[:3])


def test_history_features_edge_cases():
    df = messy_transactions()
    ids = sorted(df["customer_id"].unique())
    # empty table: the "no transactions" note on both paths
    _, note = assert_same_history(_campaign(ids[:10]), df.iloc[:0])
    assert note.startswith("no transactions")
    # no send date
    _, note = assert_same_history(_campaign(ids[:10], sent_at=pd.NaT), df)
    assert "no send date" in note
    # nobody bought before the send
    early = _campaign(ids[:10], sent_at=df["timestamp"].min() - pd.Timedelta(days=30))
    got, note = assert_same_history(early, df)
    assert note.startswith("no purchase before the send") and got.shape[1] == 0
    # one row; only the required columns
    one = df.iloc[[0]][["customer_id", "timestamp", "amount"]]
    one = one.assign(amount=10.0, timestamp=pd.Timestamp("2025-04-01 10:00"))
    got, _ = assert_same_history(_campaign([one["customer_id"].iloc[0], "X"]), one)
    assert got["hist_frequency"].iloc[0] == 1 and got["hist_recency_days"].iloc[0] == 29
    assert got.iloc[1].isna().all()
    # numeric ids in the transactions, text ids in the campaign
    num = df[["customer_id", "timestamp", "amount"]].assign(
        customer_id=lambda d: d["customer_id"].str[1:].astype("int64")
    )
    camp = _campaign([str(i) for i in range(0, 100, 3)])
    got, _ = assert_same_history(camp, num)
    assert got["hist_frequency"].notna().sum() > 20


def test_sample_run_uplift_equal(sample):
    pandas_data, lazy_data = sample
    kw = {"n_bootstrap": 20, "n_folds": 3, "random_state": 42}
    want = U.run_uplift(pandas_data.tables, **kw)
    got = U.run_uplift(lazy_data.tables, **kw)
    assert got.feature_note == want.feature_note
    pd.testing.assert_frame_equal(got.features, want.features)
    assert want.models is not None and got.models is not None
    pd.testing.assert_frame_equal(got.models.evaluation, want.models.evaluation)
    pd.testing.assert_frame_equal(got.scores, want.scores)
    assert len(got.scores) > 1000


@pytest.mark.spark
def test_spark_history_features_equal_pandas(spark, tmp_path):  # noqa: F811
    df = messy_transactions().assign(**{ROW_ORDER: lambda d: np.arange(len(d), dtype="int64")})
    plain = df.drop(columns=[ROW_ORDER])
    ids = sorted(df["customer_id"].unique())
    camp = _campaign([*ids[:150:2], "NEVER-BOUGHT"], sent_at=pd.Timestamp("2025-03-01"))
    t = spark.read_parquet(to_parquet(df, tmp_path / "messy.parquet"))
    got, got_note = U.history_features(camp, t)
    want, want_note = U.history_features(camp, plain)
    assert got_note == want_note
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
