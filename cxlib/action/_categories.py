"""The category of every purchase: the transactions' own ``category``, or a ``products``
attribute joined by ``product_id`` (``action.category_column``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxlib.engine import coalesce, count_where, fetch_frame, in_memory_table, row_count
from cxlib.features import label_key

log = logging.getLogger(__name__)


@dataclass
class CategorisedPurchases:
    """Transactions with a ``category`` column, and where it came from.

    Attributes
    ----------
    table : ibis Table or None
        The transactions with ``category`` (None when no category can be found).
    source : str
        ``transactions.category`` or ``products.<column> joined by product_id`` (in Markdown code
        spans, as reports show them); or, when
        ``table`` is None, what to add.
    rows : int
        Transactions read.
    without_category : int
        Transactions left without a category (no product match, or missing).
    spellings : DataFrame
        Category spellings folded into another's name (``spelling``, ``category``, ``rows``).
    """

    table: Any
    source: str
    rows: int = 0
    without_category: int = 0
    spellings: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["spelling", "category", "rows"])
    )

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
        source = f"`products.{category_column}` joined by `product_id`"
    elif category_column == "category" and "category" in tx.columns:
        table = tx
        source = "`transactions.category`"
    else:
        fix = (
            f"add a products table with `product_id` and `{category_column}`, and `product_id` "
            "to the transactions"
            if category_column != "category"
            else "add a `category` column to the transactions, or a products table with "
            "`product_id` and `category` and `product_id` in the transactions"
        )
        return CategorisedPurchases(None, fix)
    table, spellings = _one_name_per_category(table)
    counts = fetch_frame(
        table.aggregate(rows=row_count(), without=count_where(table.category.isnull()))
    )
    rows, without = int(counts["rows"].iloc[0]), int(counts["without"].iloc[0])
    if without:
        log.info("%d of %d transactions have no category (%s)", without, rows, source)
    return CategorisedPurchases(table, source, rows, without, spellings)


def _one_name_per_category(table: Any) -> tuple[Any, pd.DataFrame]:
    """The purchases with one name per category: spellings that differ only in case, spaces
    or punctuation (``"Grocery "``, ``"GROCERY"``) take the most frequent spelling's name.

    Returns the table and the spellings folded (``spelling``, ``category``, ``rows``)."""
    counts = fetch_frame(table.group_by("category").aggregate(rows=row_count()))
    counts = counts.dropna(subset=["category"])
    counts["key"] = counts["category"].map(label_key)
    counts = counts.sort_values(["key", "rows", "category"], ascending=[True, False, True])
    name = counts.drop_duplicates("key").set_index("key")["category"].str.strip()
    counts["name"] = counts["key"].map(name)
    folded = counts.loc[counts["category"] != counts["name"]]
    spellings = pd.DataFrame(
        {
            "spelling": folded["category"].to_numpy(),
            "category": folded["name"].to_numpy(),
            "rows": folded["rows"].astype("int64").to_numpy(),
        }
    )
    if spellings.empty:
        return table, spellings
    names = in_memory_table(
        pd.DataFrame({"_cx_spelling": counts["category"], "_cx_name": counts["name"]})
    )
    joined = table.left_join(names, table.category == names._cx_spelling)
    others = [c for c in table.columns if c != "category"]
    return joined.select(*others, category=joined._cx_name), spellings
