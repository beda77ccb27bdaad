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

#: Channel label keys mapped to the canonical channel (after :func:`label_key`).
CHANNEL_SYNONYMS: dict[str, str] = {
    "in_store": "store",
    "instore": "store",
    "shop": "store",
    "retail": "store",
    "online": "web",
    "website": "web",
    "webshop": "web",
    "ecommerce": "web",
    "e_commerce": "web",
    "mobile_app": "app",
    "mobile": "app",
    "application": "app",
}


def label_key(value: Any) -> str:
    """Column-safe key for a channel/category label (``" In-Store "`` → ``"in_store"``)."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).strip().lower()).strip("_")
    return text or "unknown"


def window_bounds(as_of_date: Any, lookback_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the look-back window: after D − L through the end of D."""
    d = pd.Timestamp(as_of_date).normalize()
    end = d + pd.Timedelta(days=1)
    return end - pd.Timedelta(days=int(lookback_days)), end


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


def transactions_until(transactions: pd.DataFrame, as_of_date: Any) -> pd.DataFrame:
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


def purchases_until(transactions: pd.DataFrame, as_of_date: Any) -> pd.DataFrame:
    """Purchases (transactions with a positive amount) up to the end of ``as_of_date``."""
    tx = transactions_until(transactions, as_of_date)
    return tx.loc[tx["amount"] > 0]


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
    log.info("customer features: %d customers, %d columns", len(out), out.shape[1])
    return out
