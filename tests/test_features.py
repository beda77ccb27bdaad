"""cxlib.features: customer features equal an independent, row-by-row computation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxlib.features import (
    CHANNEL_SYNONYMS,
    MAX_LABEL_LEVELS,
    TIME_OF_DAY_BINS,
    customer_features,
    label_key,
    window_bounds,
)

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
# Frozen oracle: the former pandas implementation (cxlib.features before it became one Ibis
# path), kept here as an independent check of the backend query. Never imported by cxlib.
# --------------------------------------------------------------------------------------------

NS_PER_DAY = 86_400 * 10**9


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing) and the distinct values, in order of first appearance.

    Arrow-backed string columns are encoded with ``pyarrow.compute.dictionary_encode`` (much
    faster than a hash table of Python strings); anything else with ``pd.factorize``.
    """
    arr = getattr(values.array, "_pa_array", None)
    if arr is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(
            arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        )
        codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype("int64")
        return codes, np.asarray(enc.dictionary.to_pylist(), dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype("int64"), np.asarray(uniques, dtype=object)


def _exact_duplicates(tx: pd.DataFrame) -> np.ndarray:
    """Mask of rows identical in every column to an earlier row.

    Only rows that share timestamp and amount with another row (found with an integer hash;
    collisions just add candidates) are compared column by column, which keeps this fast.
    """
    n = len(tx)
    if n < 2:
        return np.zeros(n, dtype=bool)
    ts = tx["timestamp"].to_numpy().astype("datetime64[ns]").view("int64")
    amt = tx["amount"].to_numpy(dtype="float64").view("int64")
    key = ts ^ (amt * np.int64(-7046029254386353131))
    cand = pd.Series(key).duplicated(keep=False).to_numpy()
    out = np.zeros(n, dtype=bool)
    if cand.any():
        out[np.flatnonzero(cand)] = tx.loc[cand].duplicated().to_numpy()
    return out


def oracle_transactions_until(transactions: pd.DataFrame, as_of_date: Any) -> pd.DataFrame:
    """One row per transaction up to the end of ``as_of_date``.

    Exact duplicate rows are dropped; rows sharing a ``transaction_id`` are combined (amount
    summed, earliest timestamp, first non-missing other values; ``n_lines`` counts the rows).
    """
    _, end = window_bounds(as_of_date, 1)
    tx = transactions.loc[transactions["timestamp"] < end]
    tx = tx.loc[~_exact_duplicates(tx)]
    if "transaction_id" not in tx.columns:
        return tx.assign(n_lines=1)
    tid, _ = _codes(tx["transaction_id"])
    has_id = tid >= 0
    if not has_id.any() or not (np.bincount(tid[has_id]) > 1).any():
        return tx.assign(n_lines=1)
    with_id = tx.loc[has_id]
    key = pd.Series(tid[has_id], index=with_id.index)
    agg: dict[str, Any] = {c: "first" for c in with_id.columns}
    agg.update({"amount": "sum", "timestamp": "min"})
    grouped = with_id.groupby(key, sort=False)
    combined = grouped.agg(agg)
    combined["n_lines"] = grouped.size()
    combined = combined.reset_index(drop=True)[[*tx.columns, "n_lines"]]
    return pd.concat([combined, tx.loc[~has_id].assign(n_lines=1)], ignore_index=True)


def _share_matrix(
    cust: np.ndarray,
    labels: pd.Series,
    n_cust: int,
    prefix: str,
    synonyms: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Rows = customers (codes 0..n_cust-1), columns ``<prefix>_<key>``: share of their rows."""
    codes, uniques = _codes(labels)
    uniques = np.append(uniques, None)  # code -1 (missing) -> last slot -> "unknown"
    syn = synonyms or {}
    keys = pd.Index(
        [syn.get(k, k) for k in (label_key(u) if u is not None else "unknown" for u in uniques)]
    )
    key_codes, key_uniques = pd.factorize(keys, sort=True)
    k = len(key_uniques)
    mapped = key_codes[codes]
    counts = np.bincount(cust * k + mapped, minlength=n_cust * k).reshape(n_cust, k)
    tot = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, tot, out=np.zeros(counts.shape, dtype="float64"), where=tot > 0)
    used = counts.sum(axis=0) > 0  # only labels that occur (e.g. no "unknown" without gaps)
    return pd.DataFrame(
        shares[:, used], columns=[f"{prefix}_{c}" for c in np.asarray(key_uniques)[used]]
    )


def oracle_customer_features(
    transactions: pd.DataFrame | Any, as_of_date: Any, lookback_days: int = 365
) -> pd.DataFrame:
    """One row of behavioural features per customer with a purchase up to ``as_of_date``.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract ``transactions`` (``customer_id``, ``timestamp``, ``amount`` and optional
        ``transaction_id``, ``channel``, ``category``).
    as_of_date : date-like
        Analysis date D; nothing after the end of D is used.
    lookback_days : int
        Window length L for ``frequency`` and ``monetary``.

    Returns
    -------
    DataFrame indexed by ``customer_id`` (sorted) with ``recency_days``, ``frequency``,
    ``monetary``, ``tenure_days``, ``avg_basket``, ``purchase_rate``, ``interval_cv``,
    ``trend_90d``, ``n_transactions_total``, ``channel_share_*``, ``category_share_*``,
    ``tod_share_*`` (when timestamps carry a time of day) and ``weekend_share``.
    See ``docs/features.md`` for each definition.
    """
    d = pd.Timestamp(as_of_date).normalize()
    start, end = window_bounds(d, lookback_days)
    tx = oracle_transactions_until(transactions, d)
    pur_mask = (tx["amount"] > 0).to_numpy()
    pur = tx.loc[pur_mask]
    if pur.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id", dtype="str"))

    # customers = ids with at least one purchase; codes for all transactions (refunds of
    # customers without any purchase get -1 and are ignored)
    raw_codes, uniques = _codes(tx["customer_id"])
    buyer = np.zeros(len(uniques), dtype=bool)
    buyer[raw_codes[pur_mask & (raw_codes >= 0)]] = True
    keep = np.flatnonzero(buyer)
    names = uniques[keep].astype(str)
    order = np.argsort(names, kind="stable")
    remap = np.full(len(uniques) + 1, -1, dtype="int64")  # last slot: missing id (-1)
    remap[keep[order]] = np.arange(len(keep))
    all_codes = remap[raw_codes]
    cust_index = pd.Index(names[order], name="customer_id", dtype="str")
    n = len(cust_index)
    pc = all_codes[pur_mask]
    ts_all = tx["timestamp"].to_numpy().astype("datetime64[ns]").view("int64")
    ts = ts_all[pur_mask]
    amt_all = tx["amount"].to_numpy(dtype="float64")
    amt = amt_all[pur_mask]
    d_ns = np.datetime64(d, "ns").astype("int64")
    start_ns = np.datetime64(start, "ns").astype("int64")
    end_ns = np.datetime64(end, "ns").astype("int64")

    day = ts // NS_PER_DAY  # days since epoch (timestamps are naive, after 1970 in practice)
    first_day = pd.Series(day).groupby(pc).min().to_numpy()
    last_day = pd.Series(day).groupby(pc).max().to_numpy()
    d_day = d_ns // NS_PER_DAY

    feats = pd.DataFrame(index=cust_index)
    feats["recency_days"] = (d_day - last_day).astype("int64")
    in_win = ts >= start_ns
    feats["frequency"] = np.bincount(pc[in_win], minlength=n).astype("int64")
    win_all = (ts_all >= start_ns) & (all_codes >= 0)
    feats["monetary"] = np.bincount(  # float64 also when nothing is in the window
        all_codes[win_all], weights=amt_all[win_all], minlength=n
    ).astype("float64")
    feats["tenure_days"] = (d_day - first_day).astype("int64")
    n_pur = np.bincount(pc, minlength=n)
    spend = np.bincount(pc, weights=amt, minlength=n)
    feats["avg_basket"] = spend / n_pur
    # purchases per 365 days between first purchase and the as-of date (at least 30 days)
    span = np.maximum(feats["tenure_days"].to_numpy(), 30)
    feats["purchase_rate"] = n_pur / span * 365.0

    # regularity: coefficient of variation of gaps between distinct purchase days
    dd = pd.DataFrame({"c": pc, "day": day}).drop_duplicates().sort_values(["c", "day"])
    gap = np.diff(dd["day"].to_numpy())
    same = np.diff(dd["c"].to_numpy()) == 0
    gc, gv = dd["c"].to_numpy()[1:][same], gap[same].astype("float64")
    g_n = np.bincount(gc, minlength=n)
    g_sum = np.bincount(gc, weights=gv, minlength=n)
    g_sq = np.bincount(gc, weights=gv * gv, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_mean = g_sum / g_n
        g_var = (g_sq - g_n * g_mean**2) / (g_n - 1)
        cv = np.sqrt(np.maximum(g_var, 0.0)) / g_mean
    feats["interval_cv"] = np.where(g_n >= 2, cv, np.nan)

    last90 = ts >= end_ns - 90 * NS_PER_DAY
    prev90 = (ts >= end_ns - 180 * NS_PER_DAY) & ~last90
    a = np.bincount(pc[last90], minlength=n).astype("float64")
    b = np.bincount(pc[prev90], minlength=n).astype("float64")
    tot = a + b
    feats["trend_90d"] = np.divide(a - b, tot, out=np.zeros(n), where=tot > 0)
    feats["n_transactions_total"] = n_pur.astype("int64")

    parts = [feats]
    for col, prefix in (("channel", "channel_share"), ("category", "category_share")):
        if col in pur.columns and pur[col].notna().any():
            sh = _share_matrix(
                pc, pur[col], n, prefix, CHANNEL_SYNONYMS if col == "channel" else None
            )
            sh.index = cust_index
            parts.append(sh)
    tod_ns = ts - day * NS_PER_DAY
    if (tod_ns != 0).any():
        hour = tod_ns // (3600 * 10**9)
        hour = np.where(hour >= 5, hour, hour + 24)
        edges = [b[0] for b in TIME_OF_DAY_BINS.values()]
        tod_idx = np.searchsorted(edges, hour, side="right") - 1
        k = len(TIME_OF_DAY_BINS)
        counts = np.bincount(pc * k + tod_idx, minlength=n * k).reshape(n, k)
        tod = pd.DataFrame(
            counts / n_pur[:, None],
            index=cust_index,
            columns=[f"tod_share_{t}" for t in TIME_OF_DAY_BINS],
        )
        parts.append(tod)
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    feats_weekend = np.bincount(pc, weights=(dow >= 5).astype("float64"), minlength=n) / n_pur
    parts.append(pd.DataFrame({"weekend_share": feats_weekend}, index=cust_index))
    out = pd.concat(parts, axis=1)
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


def test_thousands_of_categories_fold_into_other():
    """Issue #20: 4,000 stock codes give the 11 most bought categories a share column each and
    count the rest together as ``other``; the shares still add up to 1 per customer."""
    rng = np.random.default_rng(3)
    n = 40_000
    codes = np.array([f"SKU-{i:05d}" for i in range(4_000)])
    weights = 1.0 / np.arange(1, 4_001)  # Zipf-like: a few codes sell most
    category = rng.choice(codes, n, p=weights / weights.sum())
    tx = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "customer_id": [f"c{i % 800}" for i in range(n)],
            "timestamp": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
            "amount": rng.gamma(2.0, 20.0, n).round(2),
            "category": category,
        }
    )
    feats = customer_features(tx, "2026-12-31")
    shares = [c for c in feats.columns if c.startswith("category_share_")]
    assert len(shares) == MAX_LABEL_LEVELS
    counts = pd.Series(category).value_counts()
    top = sorted(counts.index, key=lambda c: (-counts[c], label_key(c)))[: MAX_LABEL_LEVELS - 1]
    assert {f"category_share_{label_key(c)}" for c in top} | {"category_share_other"} == set(shares)
    np.testing.assert_allclose(feats[shares].sum(axis=1), 1.0)
    other = tx.assign(folded=~tx["category"].isin(top)).groupby("customer_id")["folded"].mean()
    np.testing.assert_allclose(feats["category_share_other"], other.reindex(feats.index))
