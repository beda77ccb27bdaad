"""cxlib.churn with transactions as an Ibis backend table (DuckDB): the same results as pandas.

Notebook 03 loads the transactions with ``load_source(..., lazy=("transactions",))``; everything
that touches them (re-keying to people, orphans, customer features, BG/NBD summaries, lapse
labels, retention durations, the checks of :func:`churn.too_little_data`) then runs in the
backend and only customer-level frames come back. Each test compares the backend result with
the pandas one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_churn import AS_OF, START, simulate_retail

from cxlib import churn
from cxlib.churn import backend_summary_from_transactions, summary_from_transactions
from cxlib.churn._labels import _buyers
from cxlib.churn._prepare import _drop_orphans
from cxlib.contract import load_source
from cxlib.sources import ROW_ORDER, backend_table, is_backend_table

NOTEBOOK_DEFAULTS = dict(
    horizon_days=90, lookback_days=365, n_snapshots=4, n_bootstrap=200, random_state=42
)


def typed(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Simulated tables with nanosecond timestamps, as the contract types them."""
    return {
        k: v.astype({c: "datetime64[ns]" for c in v.columns if c == "timestamp"})
        for k, v in tables.items()
    }


def lazy(tables: dict[str, pd.DataFrame]) -> dict:
    """The tables with ``transactions`` as a backend table (as ``load_source(lazy=...)``)."""
    out = dict(tables)
    out["transactions"] = backend_table(tables["transactions"])
    return out


def frame_of(table) -> pd.DataFrame:
    """A backend table back in pandas, in its row order, without the row-order column."""
    df = table.to_pandas().sort_values(ROW_ORDER, kind="stable")
    return df.drop(columns=ROW_ORDER).reset_index(drop=True)


@pytest.fixture(scope="module")
def sample(sample_dir):
    data = load_source(sample_dir, tables=("transactions", "customers", "feedback"))
    lazy_data = load_source(
        sample_dir, tables=("transactions", "customers", "feedback"), lazy=("transactions",)
    )
    return data, lazy_data


@pytest.fixture(scope="module")
def master_map(sample):
    from cxlib.audit import SingleCustomerView

    data, _ = sample
    return (
        SingleCustomerView(random_state=42)
        .fit(data.tables["customers"], data.as_of_date)
        .master_map_
    )


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def edge_transactions() -> dict[str, pd.DataFrame]:
    """Small tables for the edge cases: same-day purchases, exact duplicates, refunds, a NaN
    amount, a single customer with one purchase."""
    ts = pd.to_datetime(
        [
            "2025-01-01 10:00",
            "2025-01-01 18:00",  # same day as above: one purchase day
            "2025-02-03 09:00",
            "2025-02-03 09:00",  # exact duplicate row
            "2025-03-10 12:00",
            "2025-03-11 12:00",  # refund
            "2025-05-20 08:00",
            "2025-04-01 00:00",
        ]
    )
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "b", "c", "d"],
            "timestamp": ts.astype("datetime64[ns]"),  # typed as the contract types them
            "amount": [10.0, 5.0, 7.5, 7.5, 20.0, -20.0, np.nan, 3.0],
        }
    )
    return {
        "many": tx,
        "one_row": tx.iloc[[0]].reset_index(drop=True),
        "empty": tx.iloc[:0],
    }


@pytest.mark.parametrize("case", ["many", "one_row", "empty"])
@pytest.mark.parametrize("holdout", [False, True])
def test_summary_from_transactions_backend_edge_cases(case, holdout):
    tx = edge_transactions()[case]
    pur = tx.loc[tx["amount"] > 0] if case != "many" else tx  # NaN amounts counted as 0
    obs = "2025-06-30" if holdout else None
    want = summary_from_transactions(pur, "2025-04-30", obs)
    got = summary_from_transactions(backend_table(pur), "2025-04-30", obs)
    if case == "empty":
        assert got.empty and list(got.columns) == list(want.columns)
        return
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    if case == "many":
        # a: days 01-01 (15.0) and 02-03 (15.0 from the duplicate rows): one repeat of 15.0
        assert got.loc["a", "frequency"] == 1 and got.loc["a", "monetary_value"] == 15.0
        assert "c" not in got.index  # first purchase after the calibration end


def test_summary_from_transactions_backend_on_sample(sample):
    data, lazy_data = sample
    tx = data.tables["transactions"]
    cal = data.as_of_date - pd.Timedelta(days=180)
    for obs in (None, data.as_of_date):
        for freq in ("W", "D"):
            want = summary_from_transactions(tx.loc[tx["amount"] > 0], cal, obs, freq=freq)
            bt = lazy_data.tables["transactions"]
            got = backend_summary_from_transactions(bt.filter(bt.amount > 0), cal, obs, freq=freq)
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    assert len(want) > 4000


def test_lapse_labels_backend_window_boundaries():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "timestamp": pd.to_datetime(
                [
                    "2025-01-01 23:59",
                    "2025-01-02 00:00",
                    "2025-04-01 23:00",
                    "2025-04-02 00:00",
                    "2025-02-01 00:00",
                ]
            ),
            "amount": [10.0, 10.0, 10.0, 10.0, -5.0],
        }
    )
    ids = ["a", "b", "c", "d", "e", "f"]
    want = churn.lapse_labels(tx, "2025-01-01", 90, ids)
    got = churn.lapse_labels(backend_table(tx), "2025-01-01", 90, ids)
    pd.testing.assert_series_equal(got, want)
    assert got.to_dict() == {"a": True, "b": False, "c": False, "d": True, "e": True, "f": True}
    empty = churn.lapse_labels(backend_table(tx.iloc[:0]), "2025-01-01", 90, ids)
    assert empty.all()


def test_retention_durations_backend():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a", "b", "b", "c", "c", "d", "a"],
            "timestamp": pd.to_datetime(
                [
                    "2024-12-01",
                    "2025-01-30",
                    "2025-03-01",
                    "2025-05-15",
                    "2025-06-20",
                    "2024-12-15",
                    "2025-01-10",
                    "2024-12-20",
                    "2025-05-01",
                    "2023-01-01",
                    "2025-03-01 15:00:00",  # a second purchase on a purchase day
                ],
                format="ISO8601",
            ),
            "amount": 10.0,
        }
    )
    want = churn.retention_durations(tx, "2025-01-01", "2025-06-30", horizon_days=90)
    got = churn.retention_durations(backend_table(tx), "2025-01-01", "2025-06-30", horizon_days=90)
    pd.testing.assert_frame_equal(got, want)
    assert list(got.index) == ["a", "b", "c"]
    assert got["lapsed"].tolist() == [0, 1, 1] and got["duration_days"].tolist() == [90, 9, 0]


def test_retention_durations_backend_on_sample(sample):
    data, lazy_data = sample
    start = data.as_of_date - pd.Timedelta(days=360)
    want = churn.retention_durations(data.tables["transactions"], start, data.as_of_date)
    got = churn.retention_durations(lazy_data.tables["transactions"], start, data.as_of_date)
    pd.testing.assert_frame_equal(got, want)
    assert len(got) > 3000 and 0 < got["lapsed"].mean() < 1


def test_people_tables_and_orphans_backend(sample, master_map):
    data, lazy_data = sample
    notes_p: list[str] = []
    notes_b: list[str] = []
    pt = _drop_orphans(data.tables, notes_p)
    bt = _drop_orphans(lazy_data.tables, notes_b)
    assert notes_b == notes_p and "transactions rows of" in notes_b[0]
    assert is_backend_table(bt["transactions"])
    pd.testing.assert_frame_equal(
        frame_of(bt["transactions"]), pt["transactions"].reset_index(drop=True)
    )
    p_tables, p_records = churn.people_tables(pt, master_map)
    b_tables, b_records = churn.people_tables(bt, master_map)
    pd.testing.assert_frame_equal(b_records, p_records)
    pd.testing.assert_frame_equal(b_tables["customers"], p_tables["customers"])
    got = frame_of(b_tables["transactions"])
    want = p_tables["transactions"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # some records were merged into people, so the re-keying did something
    assert got["customer_id"].nunique() < pt["transactions"]["customer_id"].nunique()


def test_detect_mode_and_too_little_data_backend(sample):
    data, lazy_data = sample
    assert churn.detect_mode(lazy_data.tables) == churn.detect_mode(data.tables)
    assert churn.too_little_data(lazy_data.tables, lazy_data.as_of_date) is None

    one = pd.DataFrame(
        {"customer_id": ["a"], "timestamp": [pd.Timestamp("2025-06-01")], "amount": [10.0]}
    )
    for tx in (one, one.iloc[:0], one.assign(amount=-1.0)):
        want = churn.too_little_data({"transactions": tx}, AS_OF, mode="non_contractual")
        got = churn.too_little_data(
            {"transactions": backend_table(tx)}, AS_OF, mode="non_contractual"
        )
        assert got == want and got.startswith("only ")
    ids = [f"c{i}" for i in range(30)]
    old = pd.DataFrame({"customer_id": ids, "timestamp": START, "amount": 5.0})
    both = pd.concat([old, old.assign(timestamp=AS_OF - pd.Timedelta(days=10))])
    got = churn.too_little_data({"transactions": backend_table(both)}, AS_OF)
    assert got == churn.too_little_data({"transactions": both}, AS_OF)
    assert "0 customers lapsed and 30 bought again" in got

    assert churn.detect_mode({"transactions": backend_table(one)}) == "non_contractual"
    no_purchase = {"transactions": backend_table(one.assign(amount=-1.0))}
    assert churn.detect_mode(no_purchase, strict=False) is None
    assert churn.detect_mode({"transactions": backend_table(one.iloc[:0])}, strict=False) is None


# ---------------------------------------------------------------------------------------------
# The whole analysis
# ---------------------------------------------------------------------------------------------


def assert_same_result(got: churn.ChurnResult, want: churn.ChurnResult) -> None:
    """Every table the report and the export show is the same."""
    pd.testing.assert_frame_equal(churn.scores_export(got), churn.scores_export(want))
    pd.testing.assert_frame_equal(got.scores, want.scores)
    pd.testing.assert_frame_equal(got.metrics_table(), want.metrics_table())
    pd.testing.assert_frame_equal(got.snapshots, want.snapshots)
    pd.testing.assert_frame_equal(got.holdout, want.holdout)
    for name in ("odds_ratios", "drivers", "risk_ratios", "importance", "survival_curves"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)
    if want.score_odds_ratios is not None:
        pd.testing.assert_frame_equal(got.score_odds_ratios, want.score_odds_ratios)
    assert got.survival_test == pytest.approx(want.survival_test, nan_ok=True)
    assert (got.chosen_model, got.choice_reason) == (want.chosen_model, want.choice_reason)
    assert got.notes == want.notes and got.n_not_scored == want.n_not_scored
    assert got.feature_names == want.feature_names
    if want.btyd is not None:
        pd.testing.assert_frame_equal(got.btyd.rfm, want.btyd.rfm)
        pd.testing.assert_frame_equal(got.btyd.bgnbd.summary(), want.btyd.bgnbd.summary())
    if want.records is not None:
        pd.testing.assert_frame_equal(got.records, want.records)


def test_run_churn_backend_equals_pandas_on_sample(sample, master_map):
    """Notebook 03's analysis on the sample (single customer view, default parameters): the
    scores export, metrics, drivers and every other table are the same with lazy
    transactions."""
    data, lazy_data = sample
    assert is_backend_table(lazy_data.tables["transactions"])
    want = churn.run_churn(data.tables, data.as_of_date, master_map=master_map, **NOTEBOOK_DEFAULTS)
    got = churn.run_churn(
        lazy_data.tables, lazy_data.as_of_date, master_map=master_map, **NOTEBOOK_DEFAULTS
    )
    assert_same_result(got, want)
    assert got.mode == "non_contractual" and len(got.scores) > 3000
    assert len(got.drivers) and len(got.survival_curves)


def test_run_churn_backend_equals_pandas_without_optional_columns():
    """Simulated retail data without channel, feedback or customers: still the same."""
    tables = typed(simulate_retail(n=600, seed=2))
    tx = tables["transactions"].drop(
        columns=[c for c in ("channel",) if c in tables["transactions"]]
    )
    plain = {"transactions": tx}
    kw = dict(n_snapshots=3, n_bootstrap=20, random_state=3)
    want = churn.run_churn(plain, AS_OF, **kw)
    got = churn.run_churn(lazy(plain), AS_OF, **kw)
    assert_same_result(got, want)
    assert got.scores["churn_probability"].between(0, 1).all()


def test_run_churn_contractual_with_backend_transactions():
    """Contractual mode: the transactions only feed the BG/NBD values, from the backend."""
    tables = typed(simulate_retail(n=800, seed=4))
    rng = np.random.default_rng(9)
    cust = tables["customers"].copy()
    cust["churned"] = pd.array(rng.random(len(cust)) < 0.3, dtype="boolean")
    plain = {"customers": cust, "transactions": tables["transactions"]}
    kw = dict(n_bootstrap=20, random_state=0)
    want = churn.run_churn(plain, AS_OF, **kw)
    got = churn.run_churn(lazy(plain), AS_OF, **kw)
    assert got.mode == "contractual" and got.btyd is not None
    assert_same_result(got, want)
    assert got.scores["expected_value"].notna().sum() > 500


def test_bgnbd_likelihood_by_groups_is_the_same():
    """The BG/NBD likelihood evaluates gamma and digamma once per (frequency, covariates) group
    at scale: exactly the values of the row-by-row evaluation."""
    from cxlib.churn import BetaGeoModel
    from cxlib.churn._bgnbd import _special_keys

    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.poisson(3.0, n).astype(float)
    T = rng.uniform(5.0, 60.0, n)
    tx = np.where(x > 0, rng.uniform(0.0, 1.0, n) * T, 0.0)
    w = rng.integers(1, 4, n).astype(float)
    Z = (rng.random((n, 2)) < 0.3).astype(float)
    m = BetaGeoModel()
    for z in (Z, np.empty((n, 0))):
        keys = _special_keys(x, z)
        assert keys is not None and len(keys[0]) < 100
        for _ in range(5):
            theta = np.r_[rng.normal(0.0, 1.0, 4), rng.normal(0.0, 0.5, z.shape[1])]
            plain = m._objective(theta, x, tx, T, w, z, None)
            grouped = m._objective(theta, x, tx, T, w, z, keys)
            assert plain[0] == grouped[0] and np.array_equal(plain[1], grouped[1])
    assert _special_keys(x[:10], Z[:10]) is None  # small data: row by row


def test_collapse_matches_numpy_unique():
    """The BG/NBD's distinct rows (lexsort) are np.unique(axis=0)'s rows, order and counts."""
    from cxlib.churn._bgnbd import _collapse

    rng = np.random.default_rng(3)
    cols = [rng.integers(0, 4, 5000).astype(float), rng.integers(0, 3, 5000) / 7.0]
    cols.append(rng.choice([0.0, 1.0, 2.5], 5000))
    got, counts = _collapse(*cols)
    uniq, want_counts = np.unique(np.column_stack(cols), axis=0, return_counts=True)
    assert np.array_equal(np.column_stack(got), uniq)
    assert np.array_equal(counts, want_counts.astype(float))
    one, c1 = _collapse(np.array([2.0]), np.array([1.0]))
    assert [v.tolist() for v in one] == [[2.0], [1.0]] and c1.tolist() == [1.0]


def test_purchase_days_are_computed_once_and_match_pandas():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", None],
            "timestamp": pd.to_datetime(
                [
                    "2025-01-01 09:00",
                    "2025-01-01 17:00",
                    "2025-01-03",
                    "2025-01-02",
                    "2025-01-04",
                    "2025-01-02",
                ],
                format="ISO8601",
            ),
            "amount": [10.0, 5.0, 7.0, 3.0, -2.0, 4.0],
        }
    )
    table = backend_table(tx)
    days = churn.purchase_days(table)
    assert churn.purchase_days(table) is days  # kept for the table, not recomputed
    got = days.to_pandas().sort_values(["_c", "_d"]).reset_index(drop=True)
    # purchases only (the refund is not a purchase day), one row per customer and day
    assert got["_c"].tolist() == ["a", "a", "b"]
    assert (pd.to_datetime(got["_d"], unit="D").dt.strftime("%m-%d")).tolist() == [
        "01-01",
        "01-03",
        "01-02",
    ]
    assert got["_a"].tolist() == [15.0, 7.0, 3.0]
    # a cut inside a day reads the transactions themselves (same answer as pandas)
    start, end = pd.Timestamp("2025-01-01 12:00"), pd.Timestamp("2025-01-03")
    want = _buyers(tx, start, end)
    got_ids = _buyers(table, start, end)
    assert sorted(got_ids.dropna()) == sorted(set(want.dropna())) == ["a", "b"]


def test_too_little_data_counts_lapsed_and_kept_in_one_backend_query():
    """The backend counts of the latest snapshot (one aggregate query) equal the pandas path's
    lapse labels: customers who bought only after the snapshot are not active, refunds are not
    purchases, a purchase on the last day of the window counts."""
    latest = AS_OF - pd.Timedelta(days=90)
    rows = []
    for i in range(14):  # active, lapsed
        rows.append((f"l{i}", START, 5.0))
    for i in range(12):  # active, bought again (one on the window's last day)
        rows.append((f"k{i}", START, 5.0))
        rows.append((f"k{i}", AS_OF if i == 0 else latest + pd.Timedelta(days=3), 5.0))
    for i in range(5):  # only after the snapshot: not active
        rows.append((f"n{i}", latest + pd.Timedelta(days=5), 5.0))
    for i in range(4):  # active; only a refund after the snapshot: lapsed
        rows.append((f"r{i}", START, 5.0))
        rows.append((f"r{i}", latest + pd.Timedelta(days=5), -5.0))
    rows.append(("k0", AS_OF + pd.Timedelta(days=2), 5.0))  # after the as-of date: ignored
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    tx["timestamp"] = tx["timestamp"].astype("datetime64[ns]")
    want = churn.too_little_data({"transactions": tx}, AS_OF, min_group_size=20)
    got = churn.too_little_data({"transactions": backend_table(tx)}, AS_OF, min_group_size=20)
    assert got == want
    assert "18 customers lapsed and 12 bought again" in got
    assert churn.too_little_data({"transactions": backend_table(tx)}, AS_OF) is None
