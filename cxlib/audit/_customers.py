"""Customer-level figures: merge impact, revenue at risk and consent coverage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxlib.audit._expr import _flag, _float, _present, engine_for, refund_flags
from cxlib.audit._formats import isin
from cxlib.engine import ROW_ORDER, Engine, analysis_day, as_table, count_where, row_count


def customer_totals(t: Any) -> pd.DataFrame:
    """Transactions per customer id, aggregated in the backend (a customer-level frame):
    ``customer_id`` (missing ids as one row), ``n`` rows, ``amount`` (sum of the non-missing
    amounts), ``positive`` (sum of the positive amounts)."""
    ok = _present(t, "amount")
    got = (
        t.group_by("customer_id")
        .aggregate(
            n=row_count(),
            amount=t.amount.sum(where=ok),
            positive=t.amount.sum(where=ok & _flag(t.amount > 0)),
        )
        .to_pandas()
    )
    return pd.DataFrame(
        {
            "customer_id": pd.Series(got["customer_id"].to_numpy(dtype=object), dtype="str"),
            "n": got["n"].to_numpy(dtype="int64"),
            "amount": got["amount"].astype("float64").fillna(0.0).to_numpy(),
            "positive": got["positive"].astype("float64").fillna(0.0).to_numpy(),
        }
    )


def revenue_at_risk(
    t: Any,
    customers: pd.DataFrame | None,
    duplicates: Any,
    totals: pd.DataFrame,
    refund_rule: str = "evidence",
    cancellation_prefix: str | None = "C",
) -> dict[str, float]:
    """The transactions' revenue figures of :func:`run_audit` (``revenue_at_risk``): revenue
    (positive amounts), that of customer ids missing from ``customers``, refunds and the
    rows they count (:func:`~cxlib.audit.refund_flags`), negative amounts that are not refunds
    and the amounts of exact duplicate rows (``duplicates``: the duplicate flags of the
    rules); ``totals`` from :func:`customer_totals`."""
    amount = t.amount
    ok = _present(t, "amount")
    fixed = {"revenue": float(totals["positive"].sum())}
    if customers is not None:
        orphan = ~isin(totals["customer_id"], customers["customer_id"])
        fixed["orphan_revenue"] = float(totals.loc[orphan, "positive"].sum())
    refund, bad = refund_flags(t, refund_rule, cancellation_prefix)
    aggs: dict[str, Any] = {
        "refund_rows": count_where(refund),
        "refunds": amount.abs().sum(where=ok & refund),
        "non_refund_negative": amount.sum(where=ok & bad),
    }
    exact = _flag(t[ROW_ORDER].isin(duplicates.filter(duplicates._cx_exact)[ROW_ORDER]))
    aggs["duplicate_revenue"] = amount.sum(where=ok & exact)
    got = t.aggregate(**aggs).to_pandas().iloc[0]
    money = {**fixed, **{k: _float(got[k]) for k in aggs}}
    money["non_refund_negative"] = -money["non_refund_negative"]
    keys = ("revenue", "orphan_revenue", "refunds", "refund_rows", "non_refund_negative")
    return {k: money[k] for k in (*keys, "duplicate_revenue") if k in money}


def merge_impact(
    master_map: pd.DataFrame, transactions: Any, *, engine: Engine | None = None
) -> pd.DataFrame:
    """Revenue and transactions per customer before (per record) and after (per person) merging.

    Only transactions of known customer records count. Returns one row per measure with
    ``per_record``, ``per_person`` and ``change`` (relative). ``transactions`` is aggregated per
    customer in the backend (a pandas frame is registered on ``engine`` first, a temporary one
    by default).
    """
    with engine_for(engine) as eng:
        totals = customer_totals(as_table(transactions, eng))
    return impact_table(master_map, totals)


def impact_table(master_map: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """:func:`merge_impact` from the per-customer totals (:func:`customer_totals`)."""
    sel = totals.loc[isin(totals["customer_id"], master_map["customer_id"])]
    people = master_map.loc[isin(master_map["customer_id"], sel["customer_id"]), "master_id"]
    active_records, active_people = len(sel), int(people.nunique())
    revenue, n_tx = float(sel["amount"].sum()), int(sel["n"].sum())
    rows = []
    for name, value in (("revenue", revenue), ("transactions", float(n_tx))):
        before = value / active_records if active_records else np.nan
        after = value / active_people if active_people else np.nan
        rows.append(
            {
                "measure": f"{name} per customer",
                "per_record": before,
                "per_person": after,
                "change": after / before - 1 if before else np.nan,
            }
        )
    rows.append(
        {
            "measure": "customers with transactions",
            "per_record": float(active_records),
            "per_person": float(active_people),
            "change": active_people / active_records - 1 if active_records else np.nan,
        }
    )
    return pd.DataFrame(rows)


def consent_summary(
    customers: pd.DataFrame,
    as_of_date: Any,
    retention_months: int = 24,
    master_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Consent coverage: consent given (and still fresh), consent older than the retention
    period, refused, no record.

    ``consent older than retention`` means consent given but dated more than
    ``retention_months`` before the as-of date (or undated). With a master map, a person counts
    as consenting only if none of their records refuses and at least one gives fresh consent.

    Returns
    -------
    DataFrame ``status, customers, share`` (per customer record, or per person with a master map).
    """
    if "marketing_consent" not in customers:
        return pd.DataFrame(columns=["status", "customers", "share"])
    c = customers["marketing_consent"].astype("boolean")
    limit = analysis_day(as_of_date) - pd.DateOffset(months=int(retention_months))
    if "consent_date" in customers:
        stale = c.fillna(False).astype(bool) & ~(customers["consent_date"] >= limit).fillna(False)
    else:
        stale = pd.Series(False, index=customers.index)
    status = np.select(
        [
            c.isna().to_numpy(),
            (c == False).fillna(False).to_numpy(),  # noqa: E712
            stale.to_numpy(dtype=bool),
        ],
        ["no consent record", "consent refused", f"consent older than {retention_months} months"],
        "consent given",
    )
    s = pd.Series(status, index=customers.index)
    if master_map is not None:
        person = customers["customer_id"].map(master_map.set_index("customer_id")["master_id"])
        rank = {
            "consent refused": 0,
            "consent given": 1,
            f"consent older than {retention_months} months": 2,
            "no consent record": 3,
        }
        r = s.map(rank)
        s = (
            r.groupby(person.fillna(customers["customer_id"]))
            .min()
            .map({v: k for k, v in rank.items()})
        )
    order = [
        "consent given",
        f"consent older than {retention_months} months",
        "consent refused",
        "no consent record",
    ]
    counts = s.value_counts().reindex(order, fill_value=0)
    return pd.DataFrame(
        {
            "status": order,
            "customers": counts.to_numpy(),
            "share": counts.to_numpy() / max(len(s), 1),
        }
    )
