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
from cxlib.engine import Engine, analysis_day, engine_for, fetch_frame, timestamp_literal

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
    spend : array of float
        Amount spent on the category by the customer.
    end : Timestamp
        Exclusive end of the data.
    """

    customers: pd.Index
    categories: pd.Index
    rows: np.ndarray
    cols: np.ndarray
    n_days: np.ndarray
    first_day: np.ndarray
    spend: np.ndarray
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
            self.spend[keep],
            self.end,
        )


def _history_frame(lines: Any) -> pd.DataFrame:
    agg = lines.group_by("customer_id", "category").aggregate(
        n_days=lines.ts.date().nunique(), first=lines.ts.min(), spend=lines.amount.sum()
    )
    return fetch_frame(agg)


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
    with engine_for(transactions, engine) as eng:
        frame = _history_frame(purchase_lines(transactions, engine=eng, category=category, end=end))
    customers = pd.Index(np.sort(frame["customer_id"].astype(str).unique()), dtype="str")
    categories = pd.Index(np.sort(frame["category"].astype(str).unique()), dtype="str")
    first = pd.to_datetime(frame["first"]).to_numpy("datetime64[ns]").astype("datetime64[D]")
    history = CategoryHistory(
        customers,
        categories,
        customers.get_indexer(frame["customer_id"].astype(str)),
        categories.get_indexer(frame["category"].astype(str)),
        frame["n_days"].to_numpy("int64"),
        first.astype("int64"),
        pd.to_numeric(frame["spend"]).to_numpy("float64"),
        end,
    )
    log.debug(
        "category history before %s: %d customers, %d categories, %d pairs",
        end,
        len(customers),
        len(categories),
        len(frame),
    )
    return history


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
