"""Notebook 04's purchase history on backend tables: one path for frames and Ibis tables.

``uplift.history_features(campaign, transactions)`` restricts the transactions to the campaign
customers in the backend (a semi-join) and computes their features there; a pandas frame is
registered on an engine first and takes the same path. DuckDB always; PySpark in the test marked
``spark`` (checked against the DuckDB result of the same rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_features_backend import messy_transactions, spark, to_parquet  # noqa: F401

from cxlib import uplift as U
from cxlib.contract import load_source
from cxlib.engine import ROW_ORDER, is_table
from cxlib.uplift import _run

SENT = pd.Timestamp("2025-05-01")


def _campaign(ids, sent_at=SENT) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "group": ["control", "offer_a"] * (len(ids) // 2) + ["control"] * (len(ids) % 2),
            "sent_at": sent_at,
            "converted": 0,
        }
    )


def test_sample_history_features(sample_dir):
    """The lazy sample (as notebook 04 loads it) and the same rows as a pandas frame."""
    tables = ("campaign", "transactions", "customers")
    lazy = load_source(sample_dir, tables=tables, lazy=("transactions",))
    assert is_table(lazy.tables["transactions"])
    camp = _run._first_row_per_customer(lazy.tables["campaign"])
    got, note = U.history_features(camp, lazy.tables["transactions"])
    assert note.startswith("26 purchase-history features") and note.endswith(
        "up to 2025-05-14, the day before the send"
    )
    assert got.index.equals(camp.index)
    assert got.shape[1] > 20 and "hist_rfm_segment" in got.columns
    assert 0.5 < got["hist_recency_days"].notna().mean() < 1.0  # some never bought before
    frame = load_source(sample_dir, tables=("transactions",)).tables["transactions"]
    from_frame, frame_note = U.history_features(camp, frame)
    assert frame_note == note
    pd.testing.assert_frame_equal(from_frame, got)


def test_history_features_only_campaign_customers_count():
    """Restriction before the features: RFM scores are relative to the campaign customers."""
    df = messy_transactions()
    ids = sorted(df["customer_id"].unique())
    camp = _campaign([*ids[:120:2], "NEVER-BOUGHT"], sent_at=pd.Timestamp("2025-03-01"))
    got, _ = U.history_features(camp, df)
    assert got.loc[camp["customer_id"] == "NEVER-BOUGHT"].isna().all(axis=1).all()
    assert got["hist_rfm_segment"].notna().sum() > 50
    # repeated campaign rows get the same features (rows align with the campaign)
    twice = pd.concat([camp, camp.iloc[:3]], ignore_index=True)
    got2, _ = U.history_features(twice, df)
    pd.testing.assert_frame_equal(got2.iloc[-3:].reset_index(drop=True), got2.iloc[:3])
    # the other customers' purchases change nothing
    alone, _ = U.history_features(camp, df.loc[df["customer_id"].isin(set(camp["customer_id"]))])
    pd.testing.assert_frame_equal(alone, got)


def test_history_features_edge_cases():
    df = messy_transactions()
    ids = sorted(df["customer_id"].unique())
    # no table, an empty table: the "no transactions" note
    assert U.history_features(_campaign(ids[:10]), None)[1].startswith("no transactions")
    got, note = U.history_features(_campaign(ids[:10]), df.iloc[:0])
    assert note.startswith("no transactions") and got.shape == (10, 0)
    # no send date
    _, note = U.history_features(_campaign(ids[:10], sent_at=pd.NaT), df)
    assert "no send date" in note
    # nobody bought before the send
    early = _campaign(ids[:10], sent_at=df["timestamp"].min() - pd.Timedelta(days=30))
    got, note = U.history_features(early, df)
    assert note.startswith("no purchase before the send") and got.shape[1] == 0
    # one row; only the required columns (hand-computed: one purchase 29 days before the cut)
    one = df.iloc[[0]][["customer_id", "timestamp", "amount"]]
    one = one.assign(amount=10.0, timestamp=pd.Timestamp("2025-04-01 10:00"))
    got, _ = U.history_features(_campaign([one["customer_id"].iloc[0], "X"]), one)
    assert got["hist_frequency"].iloc[0] == 1 and got["hist_recency_days"].iloc[0] == 29
    assert got["hist_monetary"].iloc[0] == 10.0
    assert got.iloc[1].isna().all()
    # numeric ids in the transactions, text ids in the campaign
    num = df[["customer_id", "timestamp", "amount"]].assign(
        customer_id=lambda d: d["customer_id"].str[1:].astype("int64")
    )
    camp = _campaign([str(i) for i in range(0, 100, 3)])
    got, _ = U.history_features(camp, num)
    assert got["hist_frequency"].notna().sum() > 20


@pytest.mark.spark
def test_spark_history_features_equal_duckdb(spark, tmp_path):  # noqa: F811
    df = messy_transactions().assign(**{ROW_ORDER: lambda d: np.arange(len(d), dtype="int64")})
    plain = df.drop(columns=[ROW_ORDER])
    ids = sorted(df["customer_id"].unique())
    camp = _campaign([*ids[:150:2], "NEVER-BOUGHT"], sent_at=pd.Timestamp("2025-03-01"))
    t = spark.read_parquet(to_parquet(df, tmp_path / "messy.parquet"))
    got, got_note = U.history_features(camp, t)
    want, want_note = U.history_features(camp, plain)
    assert got_note == want_note
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
