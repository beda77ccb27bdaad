"""cxlib.churn's event-level work in the backend (DuckDB), checked against hand computations.

Everything that touches the transactions (re-keying to people, orphans, BG/NBD summaries, lapse
labels, retention durations, the checks of :func:`churn.too_little_data`) is one Ibis path; a
pandas frame is registered on an engine first. The RFM summary is also checked against a frozen
pandas version of it (:func:`oracle_summary`, the pandas code the library had before the one
path; never imported by cxlib).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_churn import AS_OF, START, simulate_retail

from cxlib import churn
from cxlib.churn import summary_from_transactions
from cxlib.churn._bgnbd import FREQ_DAYS
from cxlib.churn._labels import _buyers
from cxlib.churn._prepare import _drop_orphans
from cxlib.contract import load_source
from cxlib.engine import ROW_ORDER, Engine, backend_table, is_table


def oracle_summary(transactions, calibration_end, observation_end=None, freq="W"):
    """Frozen pandas oracle of :func:`summary_from_transactions` (the pandas twin it replaced)."""
    unit = float(FREQ_DAYS[freq])
    cal_end = pd.Timestamp(calibration_end).normalize()
    tx = transactions[["customer_id", "timestamp", "amount"]].copy()
    tx["_day"] = pd.to_datetime(tx["timestamp"]).dt.normalize()
    tx["_amount"] = pd.to_numeric(tx["amount"], errors="coerce").fillna(0.0)
    daily = tx.groupby(["customer_id", "_day"], sort=True)["_amount"].sum().reset_index()
    cal = daily[daily["_day"] <= cal_end]
    g = cal.groupby("customer_id")
    first, last = g["_day"].min(), g["_day"].max()
    out = pd.DataFrame(
        {
            "frequency": (g["_day"].size() - 1).astype(float),
            "recency": (last - first).dt.days / unit,
            "T": (cal_end - first).dt.days / unit,
        }
    )
    repeats = out["frequency"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["monetary_value"] = np.where(
            repeats > 0, (g["_amount"].sum() - g["_amount"].first()) / repeats, 0.0
        )
    out["first_purchase"] = first
    if observation_end is not None:
        obs_end = pd.Timestamp(observation_end).normalize()
        hold = daily[(daily["_day"] > cal_end) & (daily["_day"] <= obs_end)]
        grp = hold.groupby("customer_id")["_amount"]
        out["frequency_holdout"] = grp.size().reindex(out.index).fillna(0).astype(float)
        hold_total = grp.sum().reindex(out.index).fillna(0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["monetary_value_holdout"] = np.where(
                out["frequency_holdout"] > 0, hold_total / out["frequency_holdout"], 0.0
            )
        out["duration_holdout"] = (obs_end - cal_end).days / unit
    return out


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
    want = oracle_summary(pur, "2025-04-30", obs)
    got = summary_from_transactions(backend_table(pur), "2025-04-30", obs)
    # a pandas frame takes the same path (registered on an engine opened for the call)
    pd.testing.assert_frame_equal(summary_from_transactions(pur, "2025-04-30", obs), got)
    if case == "empty":
        assert got.empty and list(got.columns) == list(want.columns)
        return
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, check_index_type=False)
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
            want = oracle_summary(tx.loc[tx["amount"] > 0], cal, obs, freq=freq)
            bt = lazy_data.tables["transactions"]
            got = summary_from_transactions(bt.filter(bt.amount > 0), cal, obs, freq=freq)
            pd.testing.assert_frame_equal(
                got, want, check_exact=False, rtol=1e-12, check_index_type=False
            )
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
    got = churn.lapse_labels(backend_table(tx), "2025-01-01", 90, ids)
    pd.testing.assert_series_equal(churn.lapse_labels(tx, "2025-01-01", 90, ids), got)
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
    got = churn.retention_durations(backend_table(tx), "2025-01-01", "2025-06-30", horizon_days=90)
    assert list(got.index) == ["a", "b", "c"]
    assert got["lapsed"].tolist() == [0, 1, 1] and got["duration_days"].tolist() == [90, 9, 0]


def test_people_tables_and_orphans_backend(sample, master_map):
    _, lazy_data = sample
    notes: list[str] = []
    bt = _drop_orphans(lazy_data.tables, notes)
    assert "transactions rows of" in notes[0] and is_table(bt["transactions"])
    known = set(lazy_data.tables["customers"]["customer_id"].astype(str))
    kept = bt["transactions"].select("customer_id").distinct().to_pandas()["customer_id"]
    assert set(kept) <= known
    tables, records = churn.people_tables(bt, master_map)
    mm = master_map.set_index("customer_id")["master_id"].astype(str)
    # every record maps to its person (itself when not in the map)
    want_unit = records["customer_id"].map(mm).fillna(records["customer_id"])
    assert records["unit"].tolist() == want_unit.tolist()
    assert tables["customers"]["customer_id"].is_unique
    got = frame_of(tables["transactions"])
    # some records were merged into people, so the re-keying did something
    assert got["customer_id"].nunique() < len(kept)
    assert set(got["customer_id"]) <= set(records["unit"])


def test_detect_mode_and_too_little_data_backend(sample):
    data, lazy_data = sample
    assert churn.detect_mode(lazy_data.tables) == churn.detect_mode(data.tables)
    assert churn.detect_mode(data.tables) == "non_contractual"
    assert churn.too_little_data(lazy_data.tables, lazy_data.as_of_date) is None

    one = pd.DataFrame(
        {"customer_id": ["a"], "timestamp": [pd.Timestamp("2025-06-01")], "amount": [10.0]}
    )
    for tx in (one, one.iloc[:0], one.assign(amount=-1.0)):
        got = churn.too_little_data(
            {"transactions": backend_table(tx)}, AS_OF, mode="non_contractual"
        )
        assert got == churn.too_little_data({"transactions": tx}, AS_OF, mode="non_contractual")
        assert got.startswith("only ")
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


def test_run_churn_contractual_with_backend_transactions():
    """Contractual mode: the transactions only feed the BG/NBD values, from the backend."""
    tables = typed(simulate_retail(n=800, seed=4))
    rng = np.random.default_rng(9)
    cust = tables["customers"].copy()
    cust["churned"] = pd.array(rng.random(len(cust)) < 0.3, dtype="boolean")
    plain = {"customers": cust, "transactions": tables["transactions"]}
    got = churn.run_churn(
        lazy(plain), as_of_date=AS_OF, options={"n_bootstrap": 20}, random_state=0
    )
    assert got.mode == "contractual" and got.btyd is not None
    assert len(got.exports()["churn_scores.csv"]) == len(cust)
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


def test_purchase_days_are_computed_once_per_engine_and_dropped_at_close():
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
    with Engine() as engine:
        days = churn.purchase_days(table, engine)
        assert churn.purchase_days(table, engine) is days  # kept for the table, not recomputed
        got = days.to_pandas().sort_values(["_c", "_d"]).reset_index(drop=True)
        name = days.get_name().split(".")[-1]
        assert name in table.get_backend().list_tables()
    assert name not in table.get_backend().list_tables()  # dropped when the engine closed
    # purchases only (the refund is not a purchase day), one row per customer and day
    assert got["_c"].tolist() == ["a", "a", "b"]
    assert (pd.to_datetime(got["_d"], unit="D").dt.strftime("%m-%d")).tolist() == [
        "01-01",
        "01-03",
        "01-02",
    ]
    assert got["_a"].tolist() == [15.0, 7.0, 3.0]
    # a cut inside a day reads the transactions themselves: a (17:00 on 01-01), b (01-02)
    start, end = pd.Timestamp("2025-01-01 12:00"), pd.Timestamp("2025-01-03")
    got_ids = _buyers(table, start, end)
    assert sorted(got_ids.dropna()) == ["a", "b"]


def test_too_little_data_counts_lapsed_and_kept_in_one_backend_query():
    """The counts of the latest snapshot (one aggregate query): customers who bought only after the snapshot are not active, refunds are not
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
    got = churn.too_little_data({"transactions": backend_table(tx)}, AS_OF, min_group_size=20)
    assert got == churn.too_little_data({"transactions": tx}, AS_OF, min_group_size=20)
    assert "18 customers lapsed and 12 bought again" in got
    assert churn.too_little_data({"transactions": backend_table(tx)}, AS_OF) is None
