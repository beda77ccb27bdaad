"""The customer facts the next-best-action rules read: one row per customer, from the series.

Each fact comes from the analysis that answers it, in the same run, so the plan agrees with every
other report:

========================== ================================================================
fact                       where it comes from
========================== ================================================================
segment                    the series' segments (notebook 02, :func:`cxlib.segment.series_segments`)
churn_probability, p_alive notebook 03's ``churn_scores.csv``
value_at_risk (+ band)     notebook 03's ``churn_scores.csv``; band by the customers' quantiles
uplift, uplift_arm,        notebook 04's ``uplift_scores.csv``: the arm with the largest
uplift_group               estimated uplift; ``sleeping_dog`` when every arm's is below zero
days_since_last_purchase   the transactions up to the analysis date
preferred_channel          the most used channel in the transactions and events of the year
open_complaint             a complaint in ``feedback`` in the last ``complaint_days``
marketing_consent          the customers table (missing = unknown, never consent)
contacts_this_period       campaign sends in the period (:func:`recent_contacts`)
========================== ================================================================

A fact whose source is missing (a notebook not run, a table absent) is null for every customer
and listed in :attr:`CustomerFacts.unavailable` with what would provide it: a rule that reads it
does not fire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.action._touchpoints import canonical_channel, recent_contacts, roles_of_touchpoints
from cxlib.engine import data_end, fetch_frame, timestamp_literal

log = logging.getLogger(__name__)

#: Fact name → its kind (``number``, ``text``, ``boolean``): the names a rule may use.
FACT_KINDS: dict[str, str] = {
    "segment": "text",
    "churn_probability": "number",
    "p_alive": "number",
    "value_at_risk": "number",
    "value_at_risk_band": "text",
    "uplift": "number",
    "uplift_arm": "text",
    "uplift_group": "text",
    "days_since_last_purchase": "number",
    "preferred_channel": "text",
    "open_complaint": "boolean",
    "marketing_consent": "boolean",
    "contacts_this_period": "number",
    "cross_sell_category": "text",
    "cross_sell_score": "number",
}

#: Value-at-risk bands: the customers' own quantiles (top 20% ``high``, next 30% ``medium``).
BAND_QUANTILES: tuple[float, float] = (0.5, 0.8)


@dataclass
class CustomerFacts:
    """The facts of every customer the plan may consider.

    Attributes
    ----------
    frame : DataFrame
        ``customer_id`` and the columns of :data:`FACT_KINDS` (nullable dtypes).
    sources : dict
        Fact → where it came from (a file or table), for the report.
    unavailable : dict
        Fact → what would provide it ("run notebook 03 (churn) first", "add a feedback table
        with a `complaint` column" …).
    """

    frame: pd.DataFrame
    sources: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _read_export(output_dir: str | Path | None, name: str) -> pd.DataFrame | None:
    if output_dir is None:
        return None
    path = Path(output_dir) / "exports" / name
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"customer_id": "str"}, keep_default_na=True)


def value_bands(values: pd.Series) -> pd.Series:
    """``low`` / ``medium`` / ``high`` by the values' own quantiles (:data:`BAND_QUANTILES`);
    missing stays missing."""
    known = values.dropna()
    out = pd.Series(pd.NA, index=values.index, dtype="str")
    if known.empty:
        return out
    lo, hi = np.quantile(known.to_numpy(dtype="float64"), BAND_QUANTILES)
    out[values.notna()] = "low"
    out[values >= lo] = "medium"
    out[values >= hi] = "high"
    return out


def _uplift_facts(scores: pd.DataFrame) -> pd.DataFrame:
    """Per customer: the arm with the largest estimated uplift, its uplift and the group."""
    best = scores.sort_values(["customer_id", "uplift", "arm"], ascending=[True, False, True])
    best = best.drop_duplicates("customer_id")
    group = np.where(best["uplift"] < 0, "sleeping_dog", "persuadable")
    group = np.where(best["uplift"].isna(), "unknown", group)
    return pd.DataFrame(
        {
            "customer_id": best["customer_id"].to_numpy(),
            "uplift": best["uplift"].to_numpy(dtype="float64"),
            "uplift_arm": best["arm"].astype("str").to_numpy(),
            "uplift_group": group,
        }
    )


def _outbound(events: Any, roles: Mapping[str, str] | None) -> Any:
    """The events without our own sends (a send is not the customer's choice of channel)."""
    counts = fetch_frame(events.select("touchpoint").distinct())["touchpoint"].dropna()
    tp_roles, _ = roles_of_touchpoints(counts.astype(str).tolist(), roles)
    sends = [tp for tp, role in tp_roles.items() if role in ("sent", "delivered")]
    return events.filter(~events.touchpoint.isin(sends)) if sends else events


def _purchase_facts(
    transactions: Any, events: Any, as_of_date: Any, roles: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Days since the last purchase and the most used channel of the last year (purchases and
    the customer's own events, not our sends), per customer."""
    end = data_end(as_of_date)
    tx = transactions.filter(transactions.timestamp < timestamp_literal(end))
    last = fetch_frame(tx.group_by("customer_id").aggregate(last=tx.timestamp.max()))
    out = pd.DataFrame({"customer_id": last["customer_id"].astype("str")})
    days = (end - pd.to_datetime(last["last"])).dt.days.to_numpy()
    out["days_since_last_purchase"] = pd.array(days, dtype="Int64")
    start = timestamp_literal(end - pd.Timedelta(days=365))
    mixes = []
    for table in (transactions, None if events is None else _outbound(events, roles)):
        if table is None or "channel" not in table.columns:
            continue
        t = table.filter((table.timestamp >= start) & (table.timestamp < timestamp_literal(end)))
        mixes.append(
            fetch_frame(t.group_by(["customer_id", "channel"]).aggregate(n=t.count())).dropna(
                subset=["channel"]
            )
        )
    if mixes:
        mix = pd.concat(mixes, ignore_index=True)
        mix["channel"] = mix["channel"].map(canonical_channel)
        mix = mix.groupby(["customer_id", "channel"], as_index=False)["n"].sum()
        mix = mix.sort_values(["customer_id", "n", "channel"], ascending=[True, False, True])
        pref = mix.drop_duplicates("customer_id").set_index("customer_id")["channel"]
        out["preferred_channel"] = out["customer_id"].map(pref).astype("str")
    return out


def _complaints(feedback: Any, as_of_date: Any, complaint_days: int) -> pd.DataFrame:
    end = data_end(as_of_date)
    start = end - pd.Timedelta(days=int(complaint_days))
    fb = feedback.filter(
        (feedback.timestamp >= timestamp_literal(start))
        & (feedback.timestamp < timestamp_literal(end))
        & (feedback.complaint == True)  # noqa: E712 - an Ibis comparison, not Python's
    )
    ids = fetch_frame(fb.select("customer_id").distinct())["customer_id"].astype("str")
    return pd.DataFrame({"customer_id": ids, "open_complaint": True})


def _consent(customers: Any) -> pd.Series | None:
    if customers is None or "marketing_consent" not in customers.columns:
        return None
    frame = (
        customers
        if isinstance(customers, pd.DataFrame)
        else fetch_frame(customers.select("customer_id", "marketing_consent"))
    )
    first = frame.drop_duplicates("customer_id").set_index("customer_id")["marketing_consent"]
    first.index = first.index.astype("str")
    return first.astype("boolean")


def customer_facts(
    tables: Mapping[str, Any],
    *,
    as_of_date: Any,
    output_dir: str | Path | None = None,
    segments: Any = None,
    period_days: int = 7,
    complaint_days: int = 30,
    touchpoint_roles: Mapping[str, str] | None = None,
) -> CustomerFacts:
    """The facts of every customer who bought in the last year, or is scored by notebook 03.

    Parameters
    ----------
    tables : mapping
        The run's tables (backend tables): ``transactions`` (needed), optional ``events``,
        ``feedback``, ``customers``.
    as_of_date : date-like
        Analysis date; data through its end.
    output_dir : path, optional
        The run folder holding notebook 03's and 04's exports.
    segments : SeriesSegments, optional
        The series' segments (notebook 02's).
    period_days, complaint_days : int
        The plan's period (contact pressure) and how recent a complaint is still open.
    touchpoint_roles : mapping, optional
        ``action.touchpoint_roles`` (which events are sends).

    Returns
    -------
    CustomerFacts
    """
    sources: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    tx = tables["transactions"]
    events = tables.get("events")
    base = _purchase_facts(tx, events, as_of_date, touchpoint_roles)
    base = base.loc[base["days_since_last_purchase"] <= 365]
    sources["days_since_last_purchase"] = "transactions"
    if "preferred_channel" in base.columns:
        sources["preferred_channel"] = "transactions and events (channel)"
    else:
        unavailable["preferred_channel"] = "add a `channel` column to transactions or events"
    churn = _read_export(output_dir, "churn_scores.csv")
    if churn is not None:
        cols = ["customer_id", "churn_probability", "p_alive", "value_at_risk"]
        base = base.merge(churn[cols], on="customer_id", how="outer")
        base["value_at_risk_band"] = value_bands(base["value_at_risk"])
        for fact in ("churn_probability", "p_alive", "value_at_risk", "value_at_risk_band"):
            sources[fact] = "churn_scores.csv (notebook 03)"
    else:
        for fact in ("churn_probability", "p_alive", "value_at_risk", "value_at_risk_band"):
            unavailable[fact] = "run notebook 03 (churn) in the same run first"
    uplift = _read_export(output_dir, "uplift_scores.csv")
    if uplift is not None and len(uplift):
        base = base.merge(_uplift_facts(uplift), on="customer_id", how="left")
        for fact in ("uplift", "uplift_arm", "uplift_group"):
            sources[fact] = "uplift_scores.csv (notebook 04)"
    else:
        for fact in ("uplift", "uplift_arm", "uplift_group"):
            unavailable[fact] = "run notebook 04 (campaign uplift) in the same run first"
    if segments is not None:
        base["segment"] = segments.label_records(base["customer_id"]).to_numpy()
        sources["segment"] = "the series' segments (notebook 02)"
    else:
        unavailable["segment"] = "transactions enough to segment (notebook 02)"
    feedback = tables.get("feedback")
    if feedback is not None and "complaint" in feedback.columns:
        base = base.merge(_complaints(feedback, as_of_date, complaint_days), how="left")
        base["open_complaint"] = base["open_complaint"].astype("boolean").fillna(False)
        sources["open_complaint"] = f"feedback (complaints in the last {complaint_days} days)"
    else:
        unavailable["open_complaint"] = "add a feedback table with a `complaint` column"
    consent = _consent(tables.get("customers"))
    if consent is not None:
        base["marketing_consent"] = base["customer_id"].map(consent).astype("boolean")
        sources["marketing_consent"] = "the customers table (marketing consent)"
    else:
        unavailable["marketing_consent"] = (
            "add `marketing_consent` to the customers table (without it nobody is contacted)"
        )
    if events is not None:
        pressure = recent_contacts(
            events, as_of_date=as_of_date, period_days=period_days, roles=touchpoint_roles
        )
        base = base.merge(pressure, on="customer_id", how="left")
        base["contacts_this_period"] = base["contacts_this_period"].fillna(0).astype("Int64")
        sources["contacts_this_period"] = f"campaign sends in events, last {period_days} days"
    else:
        unavailable["contacts_this_period"] = "add an events table with campaign sends"
    return CustomerFacts(_typed_facts(base), sources, unavailable)


def _typed_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """Every fact column present, in :data:`FACT_KINDS` order, with a nullable dtype."""
    dtypes = {"number": "Float64", "text": "str", "boolean": "boolean"}
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype("str").to_numpy()})
    for fact, kind in FACT_KINDS.items():
        values = frame[fact].to_numpy() if fact in frame.columns else [None] * len(frame)
        out[fact] = pd.Series(values, dtype=dtypes[kind])
    return out.sort_values("customer_id").reset_index(drop=True)
