"""The category of every purchase: the transactions' own ``category``, or a ``products``
attribute joined by ``product_id`` (``action.category_column``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cxlib.engine import coalesce, count_where, fetch_frame, row_count

log = logging.getLogger(__name__)


@dataclass
class CategorisedPurchases:
    """Transactions with a ``category`` column, and where it came from.

    Attributes
    ----------
    table : ibis Table or None
        The transactions with ``category`` (None when no category can be found).
    source : str
        ``transactions.category`` or ``products.<column> joined by product_id``; or, when
        ``table`` is None, what to add.
    rows : int
        Transactions read.
    without_category : int
        Transactions left without a category (no product match, or missing).
    """

    table: Any
    source: str
    rows: int = 0
    without_category: int = 0

    @property
    def available(self) -> bool:
        return self.table is not None


def categorised_purchases(
    tables: Mapping[str, Any], *, category_column: str = "category"
) -> CategorisedPurchases:
    """The transactions with a ``category``.

    A ``products`` table whose ``category_column`` exists and transactions with a ``product_id``
    give each purchase its product's value (the transactions' own ``category`` where the product
    is not in ``products``); otherwise the transactions' own ``category`` column is used, when
    ``category_column`` is ``category``.

    Parameters
    ----------
    tables : mapping
        ``transactions`` (a backend table) and optional ``products``.
    category_column : str
        ``action.category_column``: a column of ``products`` (``category``, ``department`` …)
        or ``category``.

    Returns
    -------
    CategorisedPurchases
    """
    tx = tables["transactions"]
    products = tables.get("products")
    joinable = (
        products is not None and "product_id" in tx.columns and category_column in products.columns
    )
    if joinable:
        # product_id is unique in products (the contract quarantines repeats)
        names = products.select(
            _cx_product=products.product_id, _cx_category=products[category_column]
        )
        joined = tx.left_join(names, tx.product_id == names._cx_product)
        value = joined._cx_category
        if category_column == "category" and "category" in tx.columns:
            # the purchase's own category where the product is unknown (same kind of name)
            value = coalesce(value, joined.category)
        table = joined.select(*[c for c in tx.columns if c != "category"], category=value)
        source = f"products.{category_column} joined by product_id"
    elif category_column == "category" and "category" in tx.columns:
        table = tx
        source = "transactions.category"
    else:
        fix = (
            f"add a products table with `product_id` and `{category_column}`, and `product_id` "
            "to the transactions"
            if category_column != "category"
            else "add a `category` column to the transactions, or a products table with "
            "`product_id` and `category` and `product_id` in the transactions"
        )
        return CategorisedPurchases(None, fix)
    counts = fetch_frame(
        table.aggregate(rows=row_count(), without=count_where(table.category.isnull()))
    )
    rows, without = int(counts["rows"].iloc[0]), int(counts["without"].iloc[0])
    if without:
        log.info("%d of %d transactions have no category (%s)", without, rows, source)
    return CategorisedPurchases(table, source, rows, without)
