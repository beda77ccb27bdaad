"""The audit's one path (Ibis expressions on the engine) on tables loaded lazily, on hand-made
edge cases with hand-computed results, and on backend quirks.

Every frame of :class:`cxlib.audit.AuditResult`, the findings text, the data-quality export and
the master map are compared between a source loaded into memory (frames registered on the
engine) and the same source loaded lazily (Parquet-backed tables, ``load_source(lazy=...)``):
the sample, the bad-input corpus and a suppression list. Small edge cases (empty tables, one
row, missing optional columns, duplicates, missing values) are checked against hand counts.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from corpus import CORPUS, READABLE

from cxlib import audit
from cxlib.contract import load_source
from cxlib.engine import ROW_ORDER, backend_table, duckdb_connection, is_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
LAZY = ("transactions", "events")
AS_OF = pd.Timestamp("2025-06-30")
FRAMES = ("counts", "profile", "freshness", "scores", "master_map", "consent", "consent_people")
FRAMES += ("pii", "unused")


def with_backend(data, names=LAZY):
    """``data`` with the tables ``names`` replaced by in-memory backend tables."""
    con = duckdb_connection()
    tables = {k: backend_table(v, con=con) if k in names else v for k, v in data.tables.items()}
    return dataclasses.replace(data, tables=tables)


def assert_same_audit(a: audit.AuditResult, b: audit.AuditResult) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    pd.testing.assert_frame_equal(a.rules, b.rules, obj="rules")
    pd.testing.assert_frame_equal(
        a.checks.label_spellings, b.checks.label_spellings, obj="label_spellings"
    )
    pd.testing.assert_frame_equal(a.data_quality_export(), b.data_quality_export())
    pd.testing.assert_frame_equal(a.top_issues(15), b.top_issues(15))
    pd.testing.assert_frame_equal(a.duplicates_by_system(), b.duplicates_by_system())
    pd.testing.assert_frame_equal(a.consent_table(), b.consent_table())
    assert a.checks.totals == b.checks.totals
    assert a.checks.failing_rows == b.checks.failing_rows
    assert (a.impact is None) == (b.impact is None)
    if a.impact is not None:  # revenue sums: only the summation order differs
        pd.testing.assert_frame_equal(a.impact, b.impact, rtol=1e-12)
    assert a.revenue_at_risk.keys() == b.revenue_at_risk.keys()
    for k, v in a.revenue_at_risk.items():
        assert b.revenue_at_risk[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k
    assert audit.audit_findings(a) == audit.audit_findings(b)


@pytest.fixture(scope="module")
def sample_pandas() -> tuple:
    data = load_source(SAMPLE)
    return data, audit.run_audit(data, pseudonym_key="test", seed=42)


def test_sample_lazy_load_equals_in_memory_load(sample_pandas) -> None:
    data, expected = sample_pandas
    lazy = load_source(SAMPLE, lazy=LAZY)
    assert lazy.is_lazy("transactions") and lazy.is_lazy("events")
    got = audit.run_audit(lazy, pseudonym_key="test", seed=42)
    assert_same_audit(expected, got)
    # the sample has every kind of problem, so the comparison is not between empty results
    r = got.rules.set_index(["table", "rule_id"])["failed_rows"]
    for key in (
        ("transactions", "duplicate_row"),
        ("transactions", "orphan_customer_id"),
        ("transactions", "inconsistent_channel_label"),
        ("transactions", "future_timestamp"),
        ("transactions", "non_refund_negative_amount"),
        ("transactions", "inconsistent_category_label"),
        ("events", "orphan_customer_id"),
        ("events", "duplicate_row"),
    ):
        assert r[key] > 0, key
    ex = got.rules.set_index(["table", "rule_id"])["examples"]
    assert ex["transactions", "duplicate_row"] != ""
    assert ex["events", "orphan_customer_id"].startswith("row ")
    assert got.revenue_at_risk["duplicate_revenue"] > 0
    prof = got.profile
    assert (prof["outliers"].fillna(0) > 0).any()
    assert not prof["column"].eq(ROW_ORDER).any() and not got.unused["column"].eq(ROW_ORDER).any()


@pytest.mark.parametrize("case", READABLE)
def test_corpus_lazy_load_equals_in_memory_load(case: str) -> None:
    folder = CORPUS / case
    cfg_file = folder / "config.json"
    config = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
    a = load_source(folder, config=config)
    b = load_source(folder, config=config, lazy=LAZY)
    assert_same_audit(
        audit.run_audit(a, pseudonym_key="k", config=config),
        audit.run_audit(b, pseudonym_key="k", config=config),
    )


def test_suppression_list_lazy_load_equals_in_memory_load(tmp_path: Path) -> None:
    """Rows removed by a suppression list leave gaps in the backend row order: the examples
    (no file row numbers then), samples and counts still agree."""
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("truth"))
    ev = pd.read_csv(folder / "events.csv", dtype="str")
    ids = ev["customer_id"].dropna().drop_duplicates().head(40).tolist()
    pd.DataFrame({"customer_id": ids, "reason": "erasure"}).to_csv(
        folder / "suppress.csv", index=False
    )
    a = load_source(folder)
    b = load_source(folder, lazy=LAZY)
    assert a.suppressed["rows_removed"].sum() > 0
    assert_same_audit(audit.run_audit(a, pseudonym_key="k"), audit.run_audit(b, pseudonym_key="k"))


# ---------------------------------------------------------------------------------------------
# small hand-made tables (edge cases), function by function
# ---------------------------------------------------------------------------------------------


def _tx(rows: list[tuple]) -> pd.DataFrame:
    cols = ["transaction_id", "customer_id", "timestamp", "amount", "quantity", "channel"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("transaction_id", "customer_id", "channel"):
        df[c] = df[c].astype("str")
    df["timestamp"] = pd.to_datetime(df["timestamp"]).astype("datetime64[ns]")
    df["amount"] = df["amount"].astype("float64")
    df["quantity"] = df["quantity"].astype("float64")
    return df


EDGE_TX = {
    "empty": _tx([]),
    "one_row": _tx([("T1", "C0", "2025-01-01", 10.0, 1.0, "web")]),
    "duplicates_and_missing": _tx(
        [
            ("T1", "C0", "2025-01-01", 10.0, 1.0, "web"),
            ("T1", "C0", "2025-01-01", 10.0, 1.0, "web"),  # exact copy
            ("T1", "C1", "2025-01-02", 5.0, 1.0, "Web"),  # id reused
            (None, "C1", "2025-01-03", -4.0, None, None),  # no id: missing values compare equal
            (None, "C1", "2025-01-03", -4.0, None, None),
            ("T2", "X9", "2031-01-01", 1e6, 2.0, "online"),  # future, orphan, outlier
            ("T3", "C2", None, 3.0, -1.0, "store"),
            ("T4", "C2", "2025-02-01", -2.0, -1.0, "store"),
            ("T5", "C3", "2025-03-01", 7.5, 3.0, "web"),
        ]
    ),
}


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in range(4)], dtype="str"),
            "email": pd.Series(["a@x.com", "b@x.com", None, "d@x.com"], dtype="str"),
        }
    )


@pytest.mark.parametrize("case", sorted(EDGE_TX))
@pytest.mark.parametrize("with_customers", [True, False])
def test_edge_cases_rules_profile_freshness(case: str, with_customers: bool) -> None:
    tx = EDGE_TX[case]
    q = {
        "transactions": pd.DataFrame(
            {
                "row_number": [min(2, len(tx) + 1)],
                "transaction_id": pd.Series(["T9"], dtype="str"),
                "reason": ["unparseable date/time in timestamp"],
            }
        )
    }
    tables = {"transactions": tx}
    if with_customers:
        tables = {"customers": _customers(), **tables}
    kw = {"as_of_date": AS_OF, "quarantine": q, "pseudonym_key": "k"}
    checks = audit.check_rules(tables, **kw)
    # a frame and the same rows as a backend table give the same results
    again = audit.check_rules({**tables, "transactions": backend_table(tx)}, **kw)
    pd.testing.assert_frame_equal(checks.results, again.results)
    r = checks.results[checks.results["table"] == "transactions"].set_index("rule_id")
    assert (r["total_rows"] == len(tx) + 1).all()
    assert checks.totals["transactions"] == (len(tx), 1)
    sc = audit.scorecard(checks)
    assert sc["score"].between(0, 100).all()
    prof = audit.profile_tables(tables)
    assert set(prof.loc[prof["table"] == "transactions", "column"]) == set(tx.columns)
    assert (prof.loc[prof["table"] == "transactions", "rows"] == len(tx)).all()
    fresh = audit.freshness(tables, AS_OF).set_index("source_system")
    assert fresh.loc["all", "rows"] == len(tx)
    pii = audit.pii_inventory(tables)
    assert not pii["column"].isin(["channel", "transaction_id", "amount"]).any()
    mm = audit.SingleCustomerView().fit(_customers()[["customer_id"]]).master_map_
    imp = audit.merge_impact(mm, tx).set_index("measure")
    known = tx[tx["customer_id"].isin(mm["customer_id"])]
    assert imp.loc["customers with transactions", "per_record"] == known["customer_id"].nunique()
    if len(known):
        assert imp.loc["revenue per customer", "per_record"] == pytest.approx(
            known["amount"].sum() / known["customer_id"].nunique()
        )
    if case != "duplicates_and_missing":
        assert r["failed_rows"].sum() == 1  # only the row set aside
        assert fresh.loc["all", "future_rows"] == 0
        return
    assert r.loc["duplicate_row", "failed_rows"] == 2
    assert r.loc["reused_transaction_id", "failed_rows"] == 1
    assert r.loc["reused_transaction_id", "examples"] == "T1"
    # an example without a transaction id: file row numbers (row 2 was set aside)
    assert r.loc["duplicate_row", "examples"] == "row 3; row 6"
    assert r.loc["missing_channel", "failed_rows"] == 2
    assert r.loc["missing_quantity", "failed_rows"] == 2
    assert r.loc["future_timestamp", "failed_rows"] == 1
    assert r.loc["inconsistent_channel_label", "failed_rows"] == 2  # "Web", "online"
    assert r.loc["non_refund_negative_amount", "failed_rows"] == 2  # -4.0 without a quantity
    if with_customers:
        assert r.loc["orphan_customer_id", "failed_rows"] == 1
        assert r.loc["orphan_customer_id", "examples"] == "T2"
    else:
        assert "orphan_customer_id" not in r.index
    assert checks.failed("transactions", "uniqueness") == 3
    assert checks.failed("transactions", "completeness") == 2  # rows 4 and 5: channel, quantity
    p = prof[prof["table"] == "transactions"].set_index("column")
    assert p.loc["amount", "outliers"] == 1
    assert p.loc["timestamp", "non_missing"] == 8
    assert p.loc["quantity", "non_missing"] == 7
    assert p.loc["channel", "distinct"] == 4  # web, Web, online, store
    assert fresh.loc["all", "future_rows"] == 1
    assert fresh.loc["all", "latest"] == pd.Timestamp("2025-03-01")
    assert fresh.loc["all", "days_behind"] == (AS_OF - pd.Timestamp("2025-03-01")).days
    dq = r.loc[r.index.str.startswith("quarantine:"), "examples"]
    assert dq.tolist() == ["T9"]


def test_missing_optional_columns() -> None:
    """Transactions with only the required columns: no quantity, id, channel."""
    tx = EDGE_TX["duplicates_and_missing"][["customer_id", "timestamp", "amount"]]
    tables = {"customers": _customers(), "transactions": tx}
    checks = audit.check_rules(tables, as_of_date=AS_OF, pseudonym_key="k")
    r = checks.results[checks.results["table"] == "transactions"].set_index("rule_id")
    assert "reused_transaction_id" not in r.index
    # without a quantity only an earlier purchase of the same amount makes a refund: none here
    assert r.loc["non_refund_negative_amount", "failed_rows"] == 3
    assert r.loc["duplicate_row", "failed_rows"] == 2
    assert r.loc["duplicate_row", "examples"] == "row 2; row 5"
    prof = audit.profile_tables(tables)
    assert prof.loc[prof["table"] == "transactions", "column"].tolist() == list(tx.columns)


def test_freshness_per_source_system() -> None:
    ev = pd.DataFrame(
        {
            "customer_id": pd.Series(["C0", "C1", "C2", "C3", "C0"], dtype="str"),
            "timestamp": pd.to_datetime(
                ["2025-06-01", "2025-05-01", "2026-01-01", "2025-06-20", None]
            ).astype("datetime64[ns]"),
            "source_system": pd.Series(["b", "a", "a", None, "b"], dtype="str"),
        }
    )
    b = audit.freshness({"events": ev}, AS_OF)
    pd.testing.assert_frame_equal(b, audit.freshness({"events": backend_table(ev)}, AS_OF))
    assert b["source_system"].tolist() == ["all", "a", "b"]
    got = b.set_index("source_system")
    assert got["rows"].tolist() == [5, 2, 2]
    assert got["future_rows"].tolist() == [1, 1, 0]
    assert (
        got["latest"].tolist()
        == pd.to_datetime(["2025-06-20", "2025-05-01", "2025-06-01"]).tolist()
    )
    assert (
        got["earliest"].tolist()
        == pd.to_datetime(["2025-05-01", "2025-05-01", "2025-06-01"]).tolist()
    )
    assert got["days_behind"].tolist() == [10, 60, 29]


def test_pii_content_sample_takes_every_kth_value() -> None:
    """Content sniffing samples every k-th non-missing value in row order: a column that is
    e-mail addresses on exactly the sampled rows only is found."""
    n = 6000
    k = (n - 2) // 2000  # two missing values; k-th non-missing values sampled
    vals = np.array([f"code{i}" for i in range(n)], dtype=object)
    nonmissing = np.r_[np.arange(1, 3000), np.arange(3001, 4000), np.arange(4001, n)]
    vals[[0, 3000]] = None
    vals[nonmissing[::k]] = [f"u{i}@example.com" for i in range(len(nonmissing[::k]))]
    vals[4000] = "z@example.com"
    ev = pd.DataFrame({"customer_id": pd.Series(["C"] * n, dtype="str")})
    ev["ref"] = pd.Series(vals, dtype="str")
    got = audit.pii_inventory({"events": ev}).set_index("column")
    assert got.loc["ref", "kind"] == "email" and got.loc["ref", "found_by"] == "content"
    # shifted by one row, the sample holds no e-mail address
    shifted = ev.assign(ref=pd.Series(np.roll(vals, 1), dtype="str"))
    assert "ref" not in set(audit.pii_inventory({"events": shifted})["column"])


def test_nan_in_a_backend_float_column_is_missing() -> None:
    """A backend may hold NaN (not NULL) in a float column, e.g. a Parquet file written by
    another tool: it counts as missing in the profile and the rules, as NULL does."""
    import pyarrow as pa

    tx = EDGE_TX["duplicates_and_missing"].copy()
    tx.loc[[1, 5], "amount"] = np.nan
    arrow = pa.Table.from_pandas(tx, preserve_index=False)
    col = arrow.schema.get_field_index("amount")
    arrow = arrow.set_column(  # from_pandas turned NaN into NULL: put NaN back
        col, "amount", pa.array(tx["amount"].to_numpy(), from_pandas=False)
    )
    arrow = arrow.append_column(ROW_ORDER, pa.array(np.arange(len(tx), dtype="int64")))
    con = duckdb_connection()
    t = con.create_table("nan_tx", arrow, temp=True)
    assert int(t.amount.isnan().fill_null(False).cast("int64").sum().execute()) == 2
    a_tables = {"customers": _customers(), "transactions": tx}  # NULL in the backend
    b_tables = {**a_tables, "transactions": t}
    pd.testing.assert_frame_equal(audit.profile_tables(a_tables), audit.profile_tables(b_tables))
    ca = audit.check_rules(a_tables, as_of_date=AS_OF, pseudonym_key="k")
    cb = audit.check_rules(b_tables, as_of_date=AS_OF, pseudonym_key="k")
    pd.testing.assert_frame_equal(ca.results, cb.results)
    prof = audit.profile_tables(b_tables).set_index("column")
    assert prof.loc["amount", "non_missing"] == 7


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 101, 1000, 4097])
def test_linear_percentile_matches_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for x in (rng.normal(size=n) * 1e3, rng.integers(-5, 5, size=n).astype(float)):
        s = np.sort(x)
        for q in (0.25, 0.5, 0.75, 0.9):
            assert audit.linear_percentile(s.__getitem__, n, q) == np.percentile(x, 100 * q)


def test_customers_must_stay_pandas() -> None:
    data = load_source(SAMPLE, tables=("customers",))
    bad = with_backend(data, ("customers",))
    assert is_table(bad.tables["customers"])
    with pytest.raises(TypeError, match="customers"):
        audit.run_audit(bad)
