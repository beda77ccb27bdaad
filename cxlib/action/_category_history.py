"""Which categories each customer has bought, and since when: the input of the cross-sell models.

One backend query aggregates the purchase lines (:func:`cxlib.action._affinity.purchase_lines`)
per customer and category; only those aggregates come back to pandas, as a sparse customer ×
category matrix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cxlib.action._affinity import purchase_lines
from cxlib.engine import (
    Engine,
    analysis_day,
    engine_for,
    fetch_frame,
    row_number,
    timestamp_literal,
)

log = logging.getLogger(__name__)

_EPOCH = pd.Timestamp("1970-01-01")


def epoch_day(value: Any) -> int:
    """Days from 1970-01-01 to the day of ``value``."""
    return int((analysis_day(value) - _EPOCH).days)


@dataclass(frozen=True)
class CategoryHistory:
    """Purchases per customer and category before ``end``.

    Attributes
    ----------
    customers : Index
        Customer ids (text, sorted): every customer with a purchase with a category.
    categories : Index
        Categories (text, sorted).
    rows, cols : arrays of int
        Positions (in ``customers`` / ``categories``) of each bought (customer, category).
    n_days : array of int
        Days with a purchase of the category by the customer.
    first_day : array of int
        Day (days since 1970-01-01) of the first such purchase.
    spend : array of float, or None
        Amount spent on the category by the customer (None when not loaded: the cross-sell
        models do not use it).
    end : Timestamp
        Exclusive end of the data.
    """

    customers: pd.Index
    categories: pd.Index
    rows: np.ndarray
    cols: np.ndarray
    n_days: np.ndarray
    first_day: np.ndarray
    spend: np.ndarray | None
    end: pd.Timestamp

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.customers), len(self.categories)

    def _matrix(self, values: np.ndarray, keep: np.ndarray | None = None) -> sparse.csr_matrix:
        r, c, v = self.rows, self.cols, values
        if keep is not None:
            r, c, v = r[keep], c[keep], v[keep]
        return sparse.csr_matrix((v, (r, c)), shape=self.shape)

    def owned(self, before_day: int | None = None) -> sparse.csr_matrix:
        """1.0 where the customer bought the category (before ``before_day`` when given)."""
        keep = None if before_day is None else self.first_day < before_day
        return self._matrix(np.ones(len(self.rows)), keep)

    def weights(self) -> sparse.csr_matrix:
        """``log(1 + purchase days)`` per customer and category: what the similarity models
        compare (a regular category weighs more than a one-off, but not in proportion)."""
        return self._matrix(np.log1p(self.n_days.astype("float64")))

    def spend_matrix(self) -> sparse.csr_matrix:
        if self.spend is None:
            raise ValueError("this history was loaded without the spend (with_spend=False)")
        return self._matrix(self.spend.astype("float64"))

    def aligned(self, customers: pd.Index, categories: pd.Index) -> CategoryHistory:
        """The same purchases on other customer and category axes (those not in them dropped)."""
        r = customers.get_indexer(self.customers)[self.rows]
        c = categories.get_indexer(self.categories)[self.cols]
        keep = (r >= 0) & (c >= 0)
        return CategoryHistory(
            customers,
            categories,
            r[keep],
            c[keep],
            self.n_days[keep],
            self.first_day[keep],
            None if self.spend is None else self.spend[keep],
            self.end,
        )


def _histories_frame(
    lines: Any, ends: list[pd.Timestamp], with_spend: bool, engine: Engine
) -> tuple[pd.DataFrame, pd.Index, pd.Index]:
    """Per (customer, category) of ``lines`` (all before ``ends[-1]``): the first purchase, and
    per end ``i`` the purchase days ``n_days_i`` and (``with_spend``) the spend ``spend_i``
    before it; with the customer and the category as codes ``cust`` and ``cat`` (positions in
    the sorted customers and categories, also returned).

    Counted in two steps, each a plain group-by (twice as fast in DuckDB as distinct counts
    under filters): per customer, category and day, the day's first purchase and spend before
    each end; then per customer and category, the days whose first purchase is before each end.
    The ids come back once each, not once per pair: at a million customers the pairs' text
    took most of the memory of the cross-sell.
    """

    def before(ts: Any, i: int) -> Any:
        return None if i == len(ends) - 1 else ts < timestamp_literal(ends[i])

    x = lines.mutate(day=lines.ts.date())
    spend = range(len(ends)) if with_spend else ()
    days = x.group_by("customer_id", "category", "day").aggregate(
        first=x.ts.min(), **{f"spend_{i}": x.amount.sum(where=before(x.ts, i)) for i in spend}
    )
    aggs: dict[str, Any] = {"first": days["first"].min()}
    for i in range(len(ends)):
        aggs[f"n_days_{i}"] = days["first"].count(where=before(days["first"], i))
    for i in spend:
        aggs[f"spend_{i}"] = days[f"spend_{i}"].sum()
    pairs = engine.keep(days.group_by("customer_id", "category").aggregate(**aggs), "cx_pairs")
    coded, kept, axes = pairs, [pairs], []
    for col, code in (("customer_id", "cust"), ("category", "cat")):
        ids = pairs.select(col).distinct()
        ids = engine.keep(ids.mutate(**{code: row_number().over(order_by=col)}), "cx_ids")
        kept.append(ids)
        coded = coded.join(ids, col).drop(col)
        got = fetch_frame(ids.order_by(code).select(col))
        axes.append(pd.Index(got[col].astype("str"), dtype="str"))
    frame = fetch_frame(coded)
    for table in kept:
        engine.drop(table)
    return frame, axes[0], axes[1]


def _positions(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct ``codes`` (below ``size``) and each code's position among them."""
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    position = np.cumsum(present, dtype="int64") - 1
    return np.flatnonzero(present), position[codes].astype("int32")


def load_histories(
    transactions: Any,
    ends: Any,
    *,
    engine: Engine | None = None,
    category: str = "category",
    with_spend: bool = True,
) -> dict[pd.Timestamp, CategoryHistory]:
    """The :class:`CategoryHistory` before each of ``ends``, from one backend query.

    A (customer, category) is in the history before an end when its first purchase is; its
    purchase days and spend are those before the end. So each history is what
    :func:`load_history` returns for its end, but the purchase lines are scanned and fetched once.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column.
    ends : iterable of Timestamp
        Exclusive ends of the data.
    engine : Engine, optional
        Where a pandas frame is registered (one is opened for the call when none is given).
    category : str
        The category column.
    with_spend : bool
        Also sum the spend (the cross-sell models do not use it; the query is faster without).

    Returns
    -------
    dict
        End (as a Timestamp) → its history.
    """
    ends = sorted({pd.Timestamp(e) for e in ends})
    if not ends:
        return {}
    with engine_for(transactions, engine) as eng:
        lines = purchase_lines(transactions, engine=eng, category=category, end=ends[-1])
        frame, customers, categories = _histories_frame(lines, ends, with_spend, eng)
    cust = frame.pop("cust").to_numpy("int64")
    cat = frame.pop("cat").to_numpy("int64")
    first = pd.to_datetime(frame.pop("first")).to_numpy("datetime64[ns]").astype("datetime64[D]")
    first_day = first.astype("int64").astype("int32")
    out = {}
    for i, end in enumerate(ends):
        n_days = frame.pop(f"n_days_{i}").to_numpy("int64")
        spend = None
        if with_spend:
            spend = pd.to_numeric(frame.pop(f"spend_{i}")).to_numpy("float64")
        keep = n_days > 0
        used_r, rows = _positions(cust[keep], len(customers))
        used_c, cols = _positions(cat[keep], len(categories))
        out[end] = CategoryHistory(
            pd.Index(customers.take(used_r), dtype="str"),
            pd.Index(categories.take(used_c), dtype="str"),
            rows,
            cols,
            n_days[keep].astype("int32"),
            first_day[keep],
            None if spend is None else spend[keep],
            end,
        )
        log.debug(
            "category history before %s: %d customers, %d categories, %d pairs",
            end,
            len(used_r),
            len(used_c),
            keep.sum(),
        )
    return out


def load_history(
    transactions: Any,
    end: pd.Timestamp,
    *,
    engine: Engine | None = None,
    category: str = "category",
) -> CategoryHistory:
    """The :class:`CategoryHistory` of the purchases before ``end``.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column.
    end : Timestamp
        Exclusive end of the data (e.g. :func:`cxlib.engine.data_end` of the analysis date).
    engine : Engine, optional
        Where a pandas frame is registered (one is opened for the call when none is given).
    category : str
        The category column.

    Returns
    -------
    CategoryHistory
    """
    end = pd.Timestamp(end)
    return load_histories(transactions, [end], engine=engine, category=category)[end]


def new_pairs(history: CategoryHistory, start: pd.Timestamp) -> pd.DataFrame:
    """The (customer, category) pairs of ``history`` first bought on or after the day of
    ``start`` (a midnight): :func:`first_purchases` from ``start`` to the history's end.

    Parameters
    ----------
    history : CategoryHistory
    start : Timestamp
        Midnight of the window's first day.

    Returns
    -------
    DataFrame
        ``customer_id``, ``category`` (text).
    """
    new = history.first_day >= epoch_day(start)
    return pd.DataFrame(
        {
            "customer_id": history.customers.take(history.rows[new]),
            "category": history.categories.take(history.cols[new]),
        }
    ).astype({"customer_id": "str", "category": "str"})


def first_purchases(
    transactions: Any,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    engine: Engine | None = None,
    category: str = "category",
) -> pd.DataFrame:
    """The (customer, category) pairs first bought in ``[start, end)``: never before ``start``.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column.
    start, end : Timestamp
        The window.
    engine : Engine, optional
        Where a pandas frame is registered.
    category : str
        The category column.

    Returns
    -------
    DataFrame
        ``customer_id``, ``category`` (text).
    """
    with engine_for(transactions, engine) as eng:
        lines = purchase_lines(transactions, engine=eng, category=category, end=pd.Timestamp(end))
        first = lines.group_by("customer_id", "category").aggregate(first=lines.ts.min())
        got = fetch_frame(
            first.filter(first.first >= timestamp_literal(start)).select("customer_id", "category")
        )
    return got.astype({"customer_id": "str", "category": "str"})


def last_purchase_day(
    transactions: Any, *, engine: Engine | None = None, category: str = "category"
) -> pd.Timestamp:
    """The day of the latest purchase with a category: the default analysis date."""
    with engine_for(transactions, engine) as eng:
        lines = purchase_lines(transactions, engine=eng, category=category)
        got = fetch_frame(lines.aggregate(last=lines.ts.max()))["last"].iloc[0]
    if pd.isna(got):
        raise ValueError("the transactions hold no purchase with a category")
    return analysis_day(got)
