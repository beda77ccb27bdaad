"""cxlib.features: customer features equal an independent, row-by-row computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxlib.features import CHANNEL_SYNONYMS, customer_features, label_key, window_bounds

AS_OF = pd.Timestamp("2025-06-30")


# --------------------------------------------------------------------------------------------
# Independent reference: plain Python over rows, written from docs/features.md
# --------------------------------------------------------------------------------------------


def reference_features(tx: pd.DataFrame, as_of, lookback_days: int) -> dict[str, dict]:
    d = pd.Timestamp(as_of).normalize()
    end = d + pd.Timedelta(days=1)
    start = d - pd.Timedelta(days=lookback_days - 1)
    rows = [r for r in tx.to_dict("records") if r["timestamp"] < end]
    # exact duplicate rows count once
    seen, uniq = set(), []
    for r in rows:
        key = tuple(
            (k, None if (isinstance(v, float) and math.isnan(v)) or v is None else v)
            for k, v in sorted(r.items())
        )
        if key not in seen:
            seen.add(key)
            uniq.append(r)
    # transactions
    trans: list[dict] = []
    by_id: dict[str, dict] = {}
    for r in uniq:
        tid = r.get("transaction_id")
        if tid is None or (isinstance(tid, float) and math.isnan(tid)):
            trans.append(dict(r))
        elif tid in by_id:
            t = by_id[tid]
            t["amount"] += r["amount"]
            t["timestamp"] = min(t["timestamp"], r["timestamp"])
            for k, v in r.items():  # other columns: first non-missing value
                if pd.isna(t.get(k)) and not pd.isna(v):
                    t[k] = v
        else:
            by_id[tid] = dict(r)
            trans.append(by_id[tid])
    out: dict[str, dict] = {}
    customers = sorted({t["customer_id"] for t in trans if t["amount"] > 0})
    has_channel = "channel" in tx.columns and any(
        isinstance(t["channel"], str) for t in trans if t["amount"] > 0
    )
    for c in customers:
        mine = [t for t in trans if t["customer_id"] == c]
        pur = [t for t in mine if t["amount"] > 0]
        last = max(t["timestamp"] for t in pur).normalize()
        first = min(t["timestamp"] for t in pur).normalize()
        f: dict = {}
        f["recency_days"] = (d - last).days
        f["frequency"] = sum(1 for t in pur if start <= t["timestamp"] < end)
        f["monetary"] = sum(t["amount"] for t in mine if start <= t["timestamp"] < end)
        f["tenure_days"] = (d - first).days
        f["n_transactions_total"] = len(pur)
        f["avg_basket"] = sum(t["amount"] for t in pur) / len(pur)
        f["purchase_rate"] = len(pur) / max(f["tenure_days"], 30) * 365
        days = sorted({t["timestamp"].normalize() for t in pur})
        gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
        f["interval_cv"] = (
            float(np.std(gaps, ddof=1) / np.mean(gaps)) if len(gaps) >= 2 else float("nan")
        )
        a = sum(1 for t in pur if end - pd.Timedelta(days=90) <= t["timestamp"] < end)
        b = sum(
            1
            for t in pur
            if end - pd.Timedelta(days=180) <= t["timestamp"] < end - pd.Timedelta(days=90)
        )
        f["trend_90d"] = (a - b) / (a + b) if a + b else 0.0
        f["weekend_share"] = sum(1 for t in pur if t["timestamp"].day_of_week >= 5) / len(pur)
        if has_channel:
            labels = [
                label_key(t["channel"]) if isinstance(t["channel"], str) else "unknown" for t in pur
            ]
            labels = [CHANNEL_SYNONYMS.get(lab, lab) for lab in labels]
            for lab in set(labels):
                f[f"channel_share_{lab}"] = labels.count(lab) / len(pur)
        out[c] = f
    return out


# --------------------------------------------------------------------------------------------
# Generated transactions
# --------------------------------------------------------------------------------------------

row_strategy = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["CRM-A-000001", "CRM-A-000002", "CRM-B-000003", "x"]),
        "day_offset": st.integers(min_value=-3, max_value=800),
        "second": st.integers(min_value=0, max_value=86_399),
        "amount": st.one_of(
            st.sampled_from([0.0, -5.0, 10.0, 10.0, 99.99]),
            st.floats(min_value=-50, max_value=500, allow_nan=False, allow_infinity=False).map(
                lambda x: round(x, 2)
            ),
        ),
        "transaction_id": st.one_of(
            st.none(),
            st.sampled_from(["T1", "T2", "T3", "T4", "T5"]),
            st.text(alphabet="0123456789", min_size=2, max_size=4),
        ),
        "channel": st.one_of(
            st.none(),
            st.sampled_from(["store", "Store ", "web", "APP", "in-store", "Online", "mobile app"]),
        ),
    }
)


def _frame(rows: list[dict], with_tid: bool) -> pd.DataFrame:
    recs = []
    for r in rows:
        ts = AS_OF - pd.Timedelta(days=r["day_offset"]) + pd.Timedelta(seconds=r["second"])
        rec = {
            "customer_id": r["customer_id"],
            "timestamp": ts,
            "amount": r["amount"],
            "channel": r["channel"],
        }
        if with_tid:
            rec["transaction_id"] = r["transaction_id"]
        recs.append(rec)
    df = pd.DataFrame(
        recs,
        columns=[
            "customer_id",
            "timestamp",
            "amount",
            "channel",
            *(["transaction_id"] if with_tid else []),
        ],
    )
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["amount"] = df["amount"].astype("float64")
    df["customer_id"] = df["customer_id"].astype("str")
    df["channel"] = df["channel"].astype("object")
    if with_tid:
        df["transaction_id"] = df["transaction_id"].astype("object")
    return df


def _compare(got: pd.DataFrame, ref: dict[str, dict]) -> None:
    assert list(got.index) == sorted(ref)
    # exactly the channel labels that occur get a column
    ref_channels = {k for f in ref.values() for k in f if k.startswith("channel_share_")}
    assert {c for c in got.columns if c.startswith("channel_share_")} == ref_channels
    for c, f in ref.items():
        for col, val in f.items():
            g = got.loc[c, col]
            if isinstance(val, float) and math.isnan(val):
                assert math.isnan(g), (c, col, g, val)
            else:
                assert g == pytest.approx(val, rel=1e-9, abs=1e-9), (c, col, g, val)
        # share columns not in the reference are zero
        for col in got.columns:
            if col.startswith("channel_share_") and col not in f:
                assert got.loc[c, col] == 0.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, min_size=0, max_size=40),
    with_tid=st.booleans(),
    lookback=st.sampled_from([1, 30, 90, 365, 500]),
    dup=st.integers(min_value=0, max_value=3),
)
def test_features_match_reference(rows, with_tid, lookback, dup):
    df = _frame(rows, with_tid)
    if dup and len(df):  # exact duplicate rows (a data-quality defect) count once
        df = pd.concat([df, df.iloc[:dup]], ignore_index=True)
    got = customer_features(df, AS_OF, lookback_days=lookback)
    ref = reference_features(df, AS_OF, lookback)
    if not ref:
        assert got.empty
        return
    _compare(got, ref)


def test_window_bounds_are_whole_days():
    start, end = window_bounds("2025-06-30 15:00", 365)
    assert end == pd.Timestamp("2025-07-01")
    assert start == pd.Timestamp("2024-07-01")  # 2024 is a leap year
    assert (end - start).days == 365


def test_no_data_after_as_of_date_is_used():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2025-06-30 23:59", "2025-07-01 00:00", "2025-07-02 00:00"]
            ),
            "amount": [10.0, 1000.0, 5.0],
        }
    )
    f = customer_features(tx, "2025-06-30")
    assert list(f.index) == ["a"]
    assert f.loc["a", "recency_days"] == 0
    assert f.loc["a", "monetary"] == 10.0
    assert f.loc["a", "frequency"] == 1


def test_line_items_form_one_transaction_and_refunds_reduce_monetary():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a"],
            "timestamp": pd.to_datetime(
                ["2025-06-01 10:00", "2025-06-01 10:00", "2025-06-10 09:00", "2025-06-20 09:00"]
            ),
            "amount": [20.0, 30.0, 40.0, -15.0],
            "transaction_id": ["T1", "T1", "T2", "R1"],
            "channel": ["app", "app", "Store", "store"],
        }
    )
    f = customer_features(tx, "2025-06-30")
    assert f.loc["a", "frequency"] == 2
    assert f.loc["a", "monetary"] == pytest.approx(75.0)
    assert f.loc["a", "avg_basket"] == pytest.approx(45.0)
    assert f.loc["a", "channel_share_app"] == pytest.approx(0.5)
    assert f.loc["a", "channel_share_store"] == pytest.approx(0.5)
    assert f.loc["a", "recency_days"] == 20  # the refund is not a purchase


def test_time_of_day_and_weekend_shares():
    tx = pd.DataFrame(
        {
            "customer_id": ["a"] * 4,
            # Sat 09:00, Sun 13:00, Mon 18:00, Tue 02:00 (night)
            "timestamp": pd.to_datetime(
                ["2025-06-28 09:00", "2025-06-29 13:00", "2025-06-23 18:00", "2025-06-24 02:00"]
            ),
            "amount": [1.0, 1.0, 1.0, 1.0],
        }
    )
    f = customer_features(tx, "2025-06-30")
    for part in ("morning", "afternoon", "evening", "night"):
        assert f.loc["a", f"tod_share_{part}"] == pytest.approx(0.25)
    assert f.loc["a", "weekend_share"] == pytest.approx(0.5)


def test_date_only_timestamps_have_no_time_of_day_columns():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "timestamp": pd.to_datetime(["2025-06-01", "2025-06-02"]),
            "amount": [1.0, 2.0],
        }
    )
    f = customer_features(tx, "2025-06-30")
    assert not [c for c in f.columns if c.startswith("tod_share_")]
    assert np.isnan(f.loc["a", "interval_cv"])


def test_isin_ids_matches_pandas_isin():
    from cxlib.features import isin_ids

    rng = np.random.default_rng(3)
    values = pd.Series([f"C{i}" for i in rng.integers(0, 500, 2_000)], dtype="str")
    values[::97] = None
    ids = pd.Index([f"C{i}" for i in range(0, 500, 3)], dtype="str")
    want = values.isin(ids).to_numpy() & values.notna().to_numpy()
    got = isin_ids(values, ids)
    assert got.dtype == bool and (got == want).all() and 0 < got.sum() < len(values)
    # object and numeric ids compare as text; missing ids never match
    assert isin_ids(pd.Series(["a", "b"], dtype=object), {"b"}).tolist() == [False, True]
    assert isin_ids(pd.Index([1, 2, 3]), pd.Index(["2"])).tolist() == [False, True, False]
    assert isin_ids(pd.Series(["a", None]), ["a", None]).tolist() == [True, False]
    assert isin_ids(pd.Series([], dtype="str"), ["a"]).tolist() == []
