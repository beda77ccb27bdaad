"""Mode detection, snapshot dates, purchases, purchase days and lapse labels."""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxlib.churn._common import MODE_CONTRACTUAL, MODE_NON_CONTRACTUAL
from cxlib.features import isin_ids
from cxlib.sources import fetch_frame, is_backend_table

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Mode and snapshots
# ---------------------------------------------------------------------------------------------


def _backend_lapse_counts(purchases: Any, snapshot: pd.Timestamp, horizon_days: int) -> tuple:
    """(lapsed, bought again) among the customers of backend ``purchases`` who bought up to the
    end of ``snapshot``: the counts of :func:`lapse_labels`, in one aggregate query (only two
    numbers come back; no per-customer table is built)."""
    s = pd.Timestamp(snapshot).normalize() + pd.Timedelta(days=1)
    e = s + pd.Timedelta(days=int(horizon_days))
    t = purchases.filter(purchases.timestamp < _ts(e))
    per = t.group_by("customer_id").aggregate(
        _active=(t.timestamp < _ts(s)).any(), _bought=(t.timestamp >= _ts(s)).any()
    )
    per = per.filter(per._active)
    got = per.aggregate(_n=per.count(), _kept=per._bought.cast("int64").sum()).to_pandas()
    n = int(got["_n"].iloc[0])
    kept = got["_kept"].iloc[0]
    kept = 0 if kept is None or pd.isna(kept) else int(kept)
    return n - kept, kept


def detect_mode(tables: Mapping[str, pd.DataFrame], *, strict: bool = True) -> str | None:
    """``"contractual"`` when the customers table has a ``churned``/``churn_date`` column with at
    least one known value, else ``"non_contractual"`` (which needs transactions).

    When neither is available: raise ``ValueError`` (``strict``) or return None.
    """
    customers = tables.get("customers")
    if customers is not None and len(customers):
        for col in ("churned", "churn_date"):
            if col in customers.columns and customers[col].notna().any():
                return MODE_CONTRACTUAL
    if _has_purchase(tables.get("transactions")):
        return MODE_NON_CONTRACTUAL
    if not strict:
        return None
    raise ValueError(
        "churn needs either transactions (non-contractual churn) or a customers table with "
        "'churned' or 'churn_date' (contractual churn)"
    )


def snapshot_dates(
    as_of_date: Any,
    horizon_days: int = 90,
    n_snapshots: int = 4,
    spacing_days: int | None = None,
    earliest: Any = None,
    min_history_days: int = 90,
) -> list[pd.Timestamp]:
    """Labelled snapshot dates, oldest first; the last one is ``as_of_date - horizon_days``.

    Snapshots are ``spacing_days`` apart (default and minimum: ``horizon_days``, so label windows
    never overlap). Snapshots with less than ``min_history_days`` of data after ``earliest`` (the
    first transaction; NaT: none, no snapshot) are dropped.
    """
    if n_snapshots < 1:
        raise ValueError("n_snapshots must be at least 1")
    spacing = int(spacing_days or horizon_days)
    if spacing < horizon_days:
        raise ValueError("spacing_days must be at least horizon_days (label windows would overlap)")
    d = pd.Timestamp(as_of_date).normalize()
    dates = [d - pd.Timedelta(days=int(horizon_days) + k * spacing) for k in range(n_snapshots)]
    if earliest is not None:
        if pd.isna(earliest):  # no transactions at all: no history for any snapshot
            return []
        floor = pd.Timestamp(earliest).normalize() + pd.Timedelta(days=int(min_history_days))
        dates = [s for s in dates if s >= floor]
    return sorted(dates)


def _ts(value: Any) -> Any:
    """A timestamp literal for backend filters."""
    import ibis

    return ibis.literal(pd.Timestamp(value).to_pydatetime(), type="timestamp")


def _is_empty(table: Any) -> bool:
    """True for None or a table (pandas or backend) without rows."""
    if table is None:
        return True
    if is_backend_table(table):
        return int(table.limit(1).count().execute()) == 0
    return not len(table)


def _has_purchase(transactions: Any) -> bool:
    """True when the transactions (pandas or backend) hold at least one positive amount."""
    if transactions is None:
        return False
    if is_backend_table(transactions):
        top = transactions.amount.max().execute()
        return top is not None and not pd.isna(top) and float(top) > 0
    return bool(len(transactions) and (transactions["amount"] > 0).any())


def _min_timestamp(transactions: Any) -> pd.Timestamp:
    """Earliest timestamp of a transactions table (NaT when it has none)."""
    if is_backend_table(transactions):
        v = transactions.timestamp.min().execute()
        return pd.NaT if v is None or pd.isna(v) else pd.Timestamp(v)
    return transactions["timestamp"].min()


def _text_ids(table: Any) -> Any:
    """A backend table whose ``customer_id`` is text (as the pandas path compares them)."""
    if table.customer_id.type().is_string():
        return table
    return table.mutate(customer_id=table.customer_id.cast("string"))


def _purchases(transactions: pd.DataFrame | Any) -> pd.DataFrame | Any:
    """Purchases (positive amounts) with ``customer_id``, ``timestamp``, ``amount`` (+ channel).

    A backend table gives a backend expression (rows filtered in the backend).
    """
    cols = [
        c for c in ("customer_id", "timestamp", "amount", "channel") if c in transactions.columns
    ]
    if is_backend_table(transactions):
        return transactions.filter(transactions.amount > 0).select(*cols)
    tx = transactions.loc[transactions["amount"] > 0, cols]
    return tx


_PURCHASE_DAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Purchase days per backend transactions table (see :func:`purchase_days`)."""


class _PurchaseDays:
    def __init__(self, transactions: Any) -> None:
        from cxlib.churn._summary import backend_daily_totals
        from cxlib.features import _drop_quietly, keep_in_backend

        self.source = transactions
        expr = backend_daily_totals(_purchases(transactions))
        con = expr._find_backend()
        self.table, name = keep_in_backend(con, f"cx_purchase_days_{uuid.uuid4().hex[:12]}", expr)
        if name is not None:
            self._drop = weakref.finalize(self, _drop_quietly, con, name)


def purchase_days(transactions: Any) -> Any:
    """One row per customer and purchase day of a backend transactions table, kept in the backend.

    The table of :func:`cxlib.churn._summary.backend_daily_totals` over the purchases (positive amounts):
    ``_c`` (customer id as text), ``_d`` (days since 1970-01-01), ``_a`` (the day's spend). It is
    computed once per transactions table and kept (a temporary table, dropped when the table
    expression is no longer used), so that the BG/NBD summaries, the lapse labels and the
    retention durations of several snapshot dates read it instead of every transaction.
    """
    from cxlib.features import kept_per_table

    return kept_per_table(_PURCHASE_DAYS, transactions, _PurchaseDays).table


def _epoch_day(value: pd.Timestamp) -> int:
    return int((pd.Timestamp(value).normalize() - pd.Timestamp("1970-01-01")).days)


def _buyers(transactions: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
    """Distinct ids with a purchase in ``[start, end)`` (computed in the backend for a table)."""
    if is_backend_table(transactions):
        if start == start.normalize() and end == end.normalize():  # whole days: the day table
            d = purchase_days(transactions)
            got = d.filter((d._d >= _epoch_day(start)) & (d._d < _epoch_day(end)))
            return pd.Index(fetch_frame(got.select("_c").distinct())["_c"], name="customer_id")
        tx = _purchases(transactions)
        got = tx.filter((tx.timestamp >= _ts(start)) & (tx.timestamp < _ts(end)))
        return pd.Index(fetch_frame(got.select("customer_id").distinct())["customer_id"])
    tx = _purchases(transactions)
    return pd.Index(tx.loc[(tx["timestamp"] >= start) & (tx["timestamp"] < end), "customer_id"])


def lapse_labels(
    transactions: pd.DataFrame | Any, snapshot_date: Any, horizon_days: int, customer_ids
) -> pd.Series:
    """True when a customer makes no purchase in the ``horizon_days`` days after ``snapshot_date``.

    The window runs from the day after the snapshot through the end of ``snapshot + horizon``.
    ``transactions`` may be a backend (Ibis) table: only the ids of the buyers come back.
    """
    s = pd.Timestamp(snapshot_date).normalize() + pd.Timedelta(days=1)
    e = s + pd.Timedelta(days=int(horizon_days))
    buyers = _buyers(transactions, s, e)
    ids = pd.Index(customer_ids)
    return pd.Series(~isin_ids(ids, buyers), index=ids, name="lapsed")


def contractual_labels(customers: pd.DataFrame, as_of_date: Any) -> pd.Series:
    """``churned`` per customer (from ``churned``, else ``churn_date`` on or before as-of)."""
    c = customers.drop_duplicates("customer_id").set_index("customer_id")
    if "churned" in c.columns and c["churned"].notna().any():
        lab = c["churned"].astype("boolean")
        if "churn_date" in c.columns:
            lab = lab.fillna(c["churn_date"].notna() if c["churn_date"].notna().any() else pd.NA)
        return lab.rename("churned")
    end = pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)
    return (c["churn_date"].notna() & (c["churn_date"] < end)).astype("boolean").rename("churned")
