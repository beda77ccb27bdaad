"""Mode detection, snapshot dates, purchases, purchase days and lapse labels."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxlib.churn._common import MODE_CONTRACTUAL, MODE_NON_CONTRACTUAL
from cxlib.churn._summary import _daily_totals
from cxlib.engine import (
    Engine,
    analysis_day,
    as_table,
    data_end,
    engine_for,
    fetch_frame,
    timestamp_literal,
)
from cxlib.features import isin_ids

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The engine of a call
# ---------------------------------------------------------------------------------------------


def tables_on(tables: Mapping[str, Any], engine: Engine | None) -> dict[str, Any]:
    """``tables`` with the transactions as a table of the backend (a frame registered on
    ``engine``); the customer-level tables (customers, feedback) stay as they are."""
    out = dict(tables)
    tx = out.get("transactions")
    if tx is not None:
        out["transactions"] = as_table(tx, engine)
    return out


# ---------------------------------------------------------------------------------------------
# Mode and snapshots
# ---------------------------------------------------------------------------------------------


def _lapse_counts(purchases: Any, snapshot: pd.Timestamp, horizon_days: int) -> tuple:
    """(lapsed, bought again) among the customers of ``purchases`` who bought up to the end of
    ``snapshot``: the counts of :func:`lapse_labels`, in one aggregate query (only two numbers
    come back; no per-customer table is built)."""
    s = data_end(snapshot)
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


def detect_mode(
    tables: Mapping[str, Any], *, strict: bool = True, engine: Engine | None = None
) -> str | None:
    """``"contractual"`` when the customers table has a ``churned``/``churn_date`` column with at
    least one known value, else ``"non_contractual"`` (which needs transactions).

    When neither is available: raise ``ValueError`` (``strict``) or return None. A pandas
    transactions frame is registered on ``engine`` (or on an engine opened for the call).
    """
    customers = tables.get("customers")
    if customers is not None and len(customers):
        for col in ("churned", "churn_date"):
            if col in customers.columns and customers[col].notna().any():
                return MODE_CONTRACTUAL
    tx = tables.get("transactions")
    with engine_for(tx, engine) as engine:
        if tx is not None and _has_purchase(as_table(tx, engine)):
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
    d = analysis_day(as_of_date)
    dates = [d - pd.Timedelta(days=int(horizon_days) + k * spacing) for k in range(n_snapshots)]
    if earliest is not None:
        if pd.isna(earliest):  # no transactions at all: no history for any snapshot
            return []
        floor = pd.Timestamp(earliest).normalize() + pd.Timedelta(days=int(min_history_days))
        dates = [s for s in dates if s >= floor]
    return sorted(dates)


_ts = timestamp_literal  # a timestamp literal for backend filters


def _is_empty(table: Any) -> bool:
    """True for None or a table without rows."""
    if table is None:
        return True
    return int(table.limit(1).count().execute()) == 0


def _has_purchase(transactions: Any) -> bool:
    """True when the transactions table holds at least one positive amount."""
    if transactions is None:
        return False
    top = transactions.amount.max().execute()
    return top is not None and not pd.isna(top) and float(top) > 0


def _min_timestamp(transactions: Any) -> pd.Timestamp:
    """Earliest timestamp of a transactions table (NaT when it has none)."""
    v = transactions.timestamp.min().execute()
    return pd.NaT if v is None or pd.isna(v) else pd.Timestamp(v)


def _text_ids(table: Any) -> Any:
    """A backend table whose ``customer_id`` is text (as the pandas path compares them)."""
    if table.customer_id.type().is_string():
        return table
    return table.mutate(customer_id=table.customer_id.cast("string"))


def _purchases(transactions: Any) -> Any:
    """Purchases (positive amounts) with ``customer_id``, ``timestamp``, ``amount`` (+ channel):
    an expression over the transactions table (rows filtered in its backend)."""
    cols = [
        c for c in ("customer_id", "timestamp", "amount", "channel") if c in transactions.columns
    ]
    return transactions.filter(transactions.amount > 0).select(*cols)


def purchase_days(transactions: Any, engine: Engine | None = None) -> Any:
    """One row per customer and purchase day of a transactions table.

    The :func:`cxlib.churn._summary._daily_totals` of the purchases (positive amounts): ``_c``
    (customer id as text), ``_d`` (days since 1970-01-01), ``_a`` (the day's spend). With an
    ``engine`` it is computed once per transactions table and kept as a temporary table for the
    life of the engine (:meth:`cxlib.engine.Engine.cached`), so that the BG/NBD summaries, the
    lapse labels and the retention durations of several snapshot dates read it instead of every
    transaction; without one it is an expression computed where it is used.
    """
    if engine is None:
        return _daily_totals(_purchases(transactions))
    return engine.cached(
        transactions,
        "churn.purchase_days",
        lambda: engine.keep(_daily_totals(_purchases(transactions)), "cx_purchase_days"),
    )


def _epoch_day(value: pd.Timestamp) -> int:
    return int((pd.Timestamp(value).normalize() - pd.Timestamp("1970-01-01")).days)


def _buyers(
    transactions: Any, start: pd.Timestamp, end: pd.Timestamp, engine: Engine | None = None
) -> pd.Index:
    """Distinct ids with a purchase in ``[start, end)`` (computed in the backend)."""
    if start == start.normalize() and end == end.normalize():  # whole days: the day table
        d = purchase_days(transactions, engine)
        got = d.filter((d._d >= _epoch_day(start)) & (d._d < _epoch_day(end)))
        return pd.Index(fetch_frame(got.select("_c").distinct())["_c"], name="customer_id")
    tx = _purchases(transactions)
    got = tx.filter((tx.timestamp >= _ts(start)) & (tx.timestamp < _ts(end)))
    return pd.Index(fetch_frame(got.select("customer_id").distinct())["customer_id"])


def lapse_labels(
    transactions: Any,
    snapshot_date: Any,
    horizon_days: int,
    customer_ids,
    *,
    engine: Engine | None = None,
) -> pd.Series:
    """True when a customer makes no purchase in the ``horizon_days`` days after ``snapshot_date``.

    The window runs from the day after the snapshot through the end of ``snapshot + horizon``.
    The buyers are found in the backend (a pandas frame is registered on ``engine``, or on an
    engine opened for the call); only their ids come back.
    """
    s = data_end(snapshot_date)
    e = s + pd.Timedelta(days=int(horizon_days))
    with engine_for(transactions, engine) as engine:
        buyers = _buyers(as_table(transactions, engine), s, e, engine)
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
    end = data_end(as_of_date)
    return (c["churn_date"].notna() & (c["churn_date"] < end)).astype("boolean").rename("churned")
