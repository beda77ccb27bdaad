"""Customer features from transactions, shared by segmentation and churn.

Definitions (see ``docs/features.md``): with ``as_of_date`` D (data through the end of D counts)
and look-back L days, the *window* is the days after D − L through the end of D, i.e.
``[D − L + 1 day, D + 1 day)``. Rows identical in every column are counted once. A *transaction*
is a distinct ``transaction_id`` when that column is present (rows without one are a transaction
each), else a row; its amount is the sum of its rows. A *purchase* is a transaction with a positive
amount; transactions with a zero or negative amount (refunds) only reduce ``monetary``.

The implementation works on integer codes (``pd.factorize``) and ``np.bincount`` so that it
scales to tens of millions of rows.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TIME_OF_DAY_BINS: dict[str, tuple[int, int]] = {
    "morning": (5, 12),
    "afternoon": (12, 17),
    "evening": (17, 22),
    "night": (22, 29),  # 22:00-04:59
}

NS_PER_DAY = 86_400 * 10**9


def label_key(value: Any) -> str:
    """Column-safe key for a channel/category label (``" In-Store "`` → ``"in_store"``)."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).strip().lower()).strip("_")
    return text or "unknown"


def window_bounds(as_of_date: Any, lookback_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the look-back window: after D − L through the end of D."""
    d = pd.Timestamp(as_of_date).normalize()
    end = d + pd.Timedelta(days=1)
    return end - pd.Timedelta(days=int(lookback_days)), end


def transactions_until(transactions: pd.DataFrame, as_of_date: Any) -> pd.DataFrame:
    """One row per transaction up to the end of ``as_of_date``.

    Exact duplicate rows are dropped; rows sharing a ``transaction_id`` are combined (amount
    summed, earliest timestamp, first non-missing other values; ``n_lines`` counts the rows).
    """
    _, end = window_bounds(as_of_date, 1)
    tx = transactions.loc[transactions["timestamp"] < end]
    tx = tx.loc[~tx.duplicated()]
    if "transaction_id" not in tx.columns or tx["transaction_id"].isna().all():
        return tx.assign(n_lines=1)
    has_id = tx["transaction_id"].notna()
    with_id = tx.loc[has_id]
    if not with_id["transaction_id"].duplicated().any():
        return tx.assign(n_lines=1)
    agg: dict[str, Any] = {c: "first" for c in with_id.columns if c != "transaction_id"}
    agg.update({"amount": "sum", "timestamp": "min"})
    combined = with_id.groupby("transaction_id", sort=False, dropna=True).agg(agg)
    combined["n_lines"] = with_id.groupby("transaction_id", sort=False).size()
    combined = combined.reset_index()[[*tx.columns, "n_lines"]]
    return pd.concat([combined, tx.loc[~has_id].assign(n_lines=1)], ignore_index=True)


def purchases_until(transactions: pd.DataFrame, as_of_date: Any) -> pd.DataFrame:
    """Purchases (transactions with a positive amount) up to the end of ``as_of_date``."""
    tx = transactions_until(transactions, as_of_date)
    return tx.loc[tx["amount"] > 0]


def _share_matrix(cust: np.ndarray, labels: pd.Series, n_cust: int, prefix: str) -> pd.DataFrame:
    """Rows = customers (codes 0..n_cust-1), columns ``<prefix>_<key>``: share of their rows."""
    codes, uniques = pd.factorize(labels.fillna("unknown"), sort=False)
    keys = pd.Index([label_key(u) for u in uniques])
    key_codes, key_uniques = pd.factorize(keys, sort=True)
    k = len(key_uniques)
    mapped = key_codes[codes]
    counts = np.bincount(cust * k + mapped, minlength=n_cust * k).reshape(n_cust, k)
    tot = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, tot, out=np.zeros(counts.shape, dtype="float64"), where=tot > 0)
    return pd.DataFrame(shares, columns=[f"{prefix}_{c}" for c in key_uniques])


def customer_features(
    transactions: pd.DataFrame, as_of_date: Any, lookback_days: int = 365
) -> pd.DataFrame:
    """One row of behavioural features per customer with a purchase up to ``as_of_date``.

    Parameters
    ----------
    transactions : DataFrame
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
    tx = transactions_until(transactions, d)
    pur_mask = (tx["amount"] > 0).to_numpy()
    pur = tx.loc[pur_mask]
    if pur.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id", dtype="str"))

    # customers = ids with at least one purchase; codes for all transactions (refunds of
    # customers without any purchase get -1 and are ignored)
    cust_index = pd.Index(np.sort(pd.unique(pur["customer_id"].astype("str"))), name="customer_id")
    n = len(cust_index)
    all_codes = cust_index.get_indexer(tx["customer_id"].astype("str"))
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
    feats["monetary"] = np.bincount(all_codes[win_all], weights=amt_all[win_all], minlength=n)
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
            sh = _share_matrix(pc, pur[col].astype("object"), n, prefix)
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
    log.info("customer features: %d customers, %d columns", len(out), out.shape[1])
    return out
