"""Unit tests of the defect injector (cxlib.synth.defects) on small hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxlib.synth.defects import DEFAULT_RATES, inject_defects


def _clean(n_cust: int = 400, n_tx: int = 4000, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"CRM-A-{i:06d}" for i in range(n_cust)], dtype="str")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "source_system": "CRM-A",
            "first_name": "Anna",
            "last_name": pd.Series([f"Smith{i}" for i in range(n_cust)], dtype="str"),
            "email": pd.Series([f"anna.smith{i}@example.com" for i in range(n_cust)], dtype="str"),
            "phone": pd.Series([f"07700 9{i:05d}" for i in range(n_cust)], dtype="str"),
            "postcode": pd.Series(["SW1A 1AA"] * n_cust, dtype="str"),
            "birth_year": pd.array(rng.integers(1940, 2005, n_cust), dtype="Int64"),
        }
    )
    ts = pd.Timestamp("2023-07-01") + pd.to_timedelta(rng.integers(0, 730 * 86400, n_tx), "s")
    qty = rng.integers(1, 4, n_tx).astype(float)
    amount = np.round(rng.gamma(2, 20, n_tx), 2)
    refund = rng.random(n_tx) < 0.02
    qty[refund] *= -1
    amount[refund] *= -1
    transactions = pd.DataFrame(
        {
            "transaction_id": pd.Series([f"T{i:08d}" for i in range(n_tx)], dtype="str"),
            "customer_id": ids.iloc[rng.integers(0, n_cust, n_tx)].to_numpy(),
            "timestamp": ts,
            "amount": amount,
            "quantity": qty,
            "channel": pd.Series(rng.choice(["store", "web", "app"], n_tx), dtype="str"),
            "category": pd.Series(rng.choice(["grocery", "fashion"], n_tx), dtype="str"),
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ids.iloc[rng.integers(0, n_cust, 3000)].to_numpy(),
            "timestamp": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 180 * 86400, 3000), "s"),
            "touchpoint": pd.Series(rng.choice(["browse", "purchase"], 3000), dtype="str"),
            "channel": pd.Series(rng.choice(["web", "app"], 3000), dtype="str"),
        }
    )
    feedback = pd.DataFrame(
        {
            "customer_id": ids.iloc[rng.integers(0, n_cust, 1000)].to_numpy(),
            "timestamp": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 180 * 86400, 1000), "s"),
            "score": rng.integers(1, 6, 1000).astype(float),
        }
    )
    return {
        "customers": customers,
        "transactions": transactions,
        "events": events,
        "feedback": feedback,
    }


def test_defects_recorded_and_applied() -> None:
    clean = _clean()
    dirty, truth = inject_defects(clean, np.random.default_rng(1))
    assert list(truth.columns) == ["table", "row_key", "defect"]
    # inputs untouched
    assert pd.api.types.is_datetime64_any_dtype(clean["transactions"]["timestamp"])
    assert clean["customers"]["email"].notna().all()

    tx = dirty["transactions"].set_index("transaction_id", drop=False)
    got = truth.groupby(["table", "defect"]).size()
    n_tx = len(clean["transactions"])
    for defect, rate in DEFAULT_RATES["transactions"].items():
        assert got[("transactions", defect)] == pytest.approx(rate * n_tx, abs=1), defect
    # duplicate copies: transactions grow by the number of copies
    assert len(dirty["transactions"]) == n_tx + got[("transactions", "duplicate_row")]

    def rows(defect: str) -> pd.DataFrame:
        keys = truth.loc[(truth.table == "transactions") & (truth.defect == defect), "row_key"]
        return tx.loc[~tx.index.duplicated()].loc[keys]

    bad_ts = pd.to_datetime(
        rows("unparseable_timestamp")["timestamp"], errors="coerce", format="ISO8601"
    )
    assert bad_ts.isna().all()
    good_ts = pd.to_datetime(rows("future_timestamp")["timestamp"], format="ISO8601")
    assert (good_ts > pd.Timestamp("2026-06-30")).all()
    assert pd.to_numeric(rows("non_numeric_amount")["amount"], errors="coerce").isna().all()
    assert rows("null_customer_id")["customer_id"].isna().all()
    neg = rows("non_refund_negative_amount")
    assert (neg["amount"].astype(float) < 0).all() and (neg["quantity"] > 0).all()
    orphan = rows("orphan_customer_id")["customer_id"]
    assert not orphan.isin(clean["customers"]["customer_id"]).any()
    assert (rows("inconsistent_channel_label")["channel"].isin(["store", "web", "app"])).sum() == 0
    assert tx.index.duplicated().sum() == got[("transactions", "duplicate_row")]

    cust = dirty["customers"].set_index("customer_id")
    emails = cust.loc[truth.loc[truth.defect == "invalid_email", "row_key"], "email"]
    assert (~emails.str.fullmatch(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")).all()
    by = cust.loc[truth.loc[truth.defect == "implausible_birth_year", "row_key"], "birth_year"]
    assert ((by < 1901) | (by > 2025)).all()
    assert cust["email"].isna().sum() == got[("customers", "missing_email")]

    # positional keys: duplicates in events point at the copies
    ev = dirty["events"]
    pos = truth.loc[(truth.table == "events") & (truth.defect == "duplicate_row"), "row_key"]
    assert ev.duplicated(keep="first").to_numpy()[pos.astype(int).to_numpy()].all()
    assert ev.duplicated(keep="first").sum() == len(pos)
    fut = truth.loc[(truth.table == "events") & (truth.defect == "future_timestamp"), "row_key"]
    ev_ts = pd.to_datetime(ev["timestamp"], errors="coerce", format="ISO8601")
    assert (ev_ts.iloc[fut.astype(int).to_numpy()] > pd.Timestamp("2027-01-01")).all()


def test_defects_deterministic_and_disjoint() -> None:
    clean = _clean()
    d1, t1 = inject_defects(clean, np.random.default_rng(7))
    d2, t2 = inject_defects(clean, np.random.default_rng(7))
    pd.testing.assert_frame_equal(t1, t2)
    for name in d1:
        pd.testing.assert_frame_equal(d1[name], d2[name])
    tx = t1[t1.table == "transactions"]
    planted = tx[~tx.defect.isin(["duplicate_row"])]
    assert not planted.row_key.duplicated().any()


def test_defects_any_subset_and_zero_rates() -> None:
    clean = _clean()
    only_tx = {"transactions": clean["transactions"]}
    dirty, truth = inject_defects(only_tx, np.random.default_rng(3))
    assert set(dirty) == {"transactions"}
    assert "orphan_customer_id" not in set(truth.defect)  # no customers to be orphaned from
    none = {t: {} for t in DEFAULT_RATES}
    dirty, truth = inject_defects(clean, np.random.default_rng(3), rates=none)
    assert len(truth) == 0
    pd.testing.assert_frame_equal(dirty["transactions"], clean["transactions"])
