"""The optional ``products`` table (issue #23): reference data joined to transactions by
``product_id``; validated like every table, never treated as customer data."""

from __future__ import annotations

import pandas as pd

from cxlib.action._categories import categorised_purchases
from cxlib.audit import check_rules
from cxlib.contract import load_source, validate_table


def _folder(tmp_path) -> tuple:
    tx = pd.DataFrame(
        {
            "transaction_id": ["t1", "t1", "t2", "t3", "t4"],
            "customer_id": ["a", "a", "b", "c", "c"],
            "timestamp": ["2024-01-02 10:00"] * 2 + ["2024-01-03", "2024-01-04", "2024-01-05"],
            "amount": [3.0, 4.0, 5.0, 6.0, 7.0],
            "product_id": ["p1", "p2", "p9", "p1", None],
            "category": ["own1", None, "own9", None, "own_none"],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2", "p2", "p3"],
            "category": ["Dairy", "Bakery", "Bakery again", "Produce"],
            "department": ["Fresh", "Fresh", "Fresh", "Fresh"],
        }
    )
    tx.to_csv(tmp_path / "transactions.csv", index=False)
    products.to_csv(tmp_path / "products.csv", index=False)
    (tmp_path / "suppress.csv").write_text("customer_id,reason\nb,erasure\n")
    return tx, products


def test_products_validated_with_a_unique_key(tmp_path):
    _, products = _folder(tmp_path)
    result = validate_table(products, "products", file="products.csv")
    assert result.data["product_id"].tolist() == ["p1", "p2", "p3"]
    [reason] = result.quarantine["reason"].tolist()
    assert reason == "duplicate product_id (first row kept)"
    assert result.accepted_rows + len(result.quarantine) == len(products)


def test_products_are_not_customers_and_not_suppressed(tmp_path):
    _folder(tmp_path)
    data = load_source(tmp_path, tables=("transactions", "products"))
    assert sorted(data.customers()["customer_id"]) == ["a", "c"]  # b is suppressed
    assert len(data.tables["products"]) == 3  # suppression leaves reference data alone
    assert int(data.suppressed["rows_removed"].sum()) == 1


def test_category_from_products_by_product_id(tmp_path):
    _folder(tmp_path)
    data = load_source(tmp_path, tables=("transactions", "products"), lazy=("transactions",))
    with data:
        engine = data.engine
        tables = {
            "transactions": data.tables["transactions"],
            "products": engine.table(data.tables["products"]),
        }
        got = categorised_purchases(tables, category_column="category")
        frame = got.table.order_by(["timestamp", "product_id"]).to_pandas()
        # the product's category; the purchase's own where the product is unknown or missing
        assert frame["category"].tolist() == ["Dairy", "Bakery", "Dairy", "own_none"]
        assert got.source == "`products.category` joined by `product_id`"
        assert got.rows == 4 and got.without_category == 0
        dept = categorised_purchases(tables, category_column="department")
        assert dept.table.to_pandas()["category"].isna().sum() == 1
        assert dept.without_category == 1
        missing = categorised_purchases(tables, category_column="brand")
        assert not missing.available and "`brand`" in missing.source
        own = categorised_purchases({"transactions": data.tables["transactions"]})
        assert own.source == "`transactions.category`"


def _orphan_rows(data) -> int:
    results = check_rules(data.tables, as_of_date="2024-02-01").results
    row = results.loc[results["rule_id"] == "orphan_product_id"]
    assert row[["table", "column", "dimension"]].values.tolist() == [
        ["transactions", "product_id", "integrity"]
    ]
    return int(row["failed_rows"].iloc[0])


def test_audit_counts_purchases_of_unknown_products(tmp_path):
    _, products = _folder(tmp_path)
    data = load_source(tmp_path, tables=("transactions", "products"))
    assert _orphan_rows(data) == 0  # b's p9 purchase went with the suppression
    data.close()
    products.loc[products["product_id"] != "p2"].to_csv(tmp_path / "products.csv", index=False)
    data = load_source(tmp_path, tables=("transactions", "products"))
    assert _orphan_rows(data) == 1  # the p2 line of t1
    data.close()


def test_category_spellings_folded_into_the_most_frequent_name():
    from cxlib.engine import Engine

    tx = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "timestamp": pd.to_datetime(["2024-01-02"] * 6),
            "amount": [1.0] * 6,
            "category": ["Dairy", "Dairy", " dairy", "DAIRY!", "Bakery", None],
        }
    )
    with Engine() as engine:
        got = categorised_purchases({"transactions": engine.table(tx)})
        names = got.table.order_by("customer_id").to_pandas()["category"].tolist()
    assert names[:5] == ["Dairy", "Dairy", "Dairy", "Dairy", "Bakery"] and pd.isna(names[5])
    assert sorted(got.spellings["spelling"]) == [" dairy", "DAIRY!"]
    assert set(got.spellings["category"]) == {"Dairy"} and got.without_category == 1
