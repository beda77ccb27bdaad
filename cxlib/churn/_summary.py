"""Per-customer RFM summary (frequency, recency, T, monetary value) for BG/NBD and Gamma-Gamma."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cxlib.churn._bgnbd import FREQ_DAYS
from cxlib.engine import Engine, as_table, count_where, is_table, literal

log = logging.getLogger(__name__)


def _daily_totals(
    table: Any,
    *,
    customer_col: str = "customer_id",
    time_col: str = "timestamp",
    amount_col: str | None = "amount",
) -> Any:
    """Ibis expression with one row per customer and purchase day of a table of a backend.

    Columns ``_c`` (the customer id as text), ``_d`` (the day, as days since 1970-01-01) and
    ``_a`` (the day's total ``amount_col``, missing amounts as 0); rows without a customer or a
    time are left out. The input of :func:`summary_from_transactions` for any dates.
    """
    t = table.filter(table[customer_col].notnull() & table[time_col].notnull())
    cid = t[customer_col]
    if not cid.type().is_string():
        cid = cid.cast("string")
    amount = literal(0.0) if amount_col is None else t[amount_col].cast("float64").fill_null(0.0)
    t = t.select(_c=cid, _d=t[time_col].date().epoch_days(), _a=amount)
    from cxlib.features import exact_sum  # row-order independent: the same bits every run

    return t.group_by(["_c", "_d"]).aggregate(_a=exact_sum(t._a))


def summary_from_transactions(
    transactions: Any,
    calibration_end: Any,
    observation_end: Any = None,
    freq: str | float = "W",
    *,
    customer_col: str = "customer_id",
    time_col: str = "timestamp",
    amount_col: str | None = "amount",
    daily_totals: Any = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Per-customer RFM summary for BG/NBD / Gamma-Gamma from a transactions table.

    Purchases on the same calendar day count as one purchase (their amounts are summed). Times are
    whole days counted as in Fader, Hardie & Lee (2005) and the ``lifetimes`` package: ``T`` is the
    number of days from the first purchase day to ``calibration_end`` (so a customer whose first
    purchase is on ``calibration_end`` has ``T = 0``), divided by the length of ``freq``.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        At least ``customer_id``, ``timestamp`` (and ``amount`` for ``monetary_value``). The daily
        totals and the per-customer summary are aggregated in the table's backend (DuckDB,
        PostgreSQL, PySpark; a pandas frame is registered on ``engine``, or on an engine opened
        for the call); only one row per customer comes back.
    calibration_end : date-like
        Last day of the calibration period (inclusive). Only customers whose first purchase is on or
        before it are returned.
    observation_end : date-like, optional
        Last day of a holdout period (inclusive); adds ``frequency_holdout`` (purchase days in the
        holdout), ``monetary_value_holdout`` and ``duration_holdout``.
    freq : {"D", "W", "M", "Y"} or float
        Time unit (or its length in days).
    daily_totals : ibis Table, optional
        The table's :func:`daily_totals` computed once (e.g. kept as a temporary table when
        several dates are summarised); ``transactions`` is then not read.
    engine : Engine, optional
        The engine a pandas frame is registered on.

    Returns
    -------
    DataFrame indexed by ``customer_id`` with ``frequency``, ``recency``, ``T``,
    ``monetary_value`` (mean spend per repeat purchase day, 0 without repeats) and ``first_purchase``.
    """
    if daily_totals is None and engine is None and not is_table(transactions):
        with Engine() as local:
            return summary_from_transactions(
                transactions,
                calibration_end,
                observation_end,
                freq,
                customer_col=customer_col,
                time_col=time_col,
                amount_col=amount_col,
                engine=local,
            )
    from cxlib.features import exact_sum  # row-order independent: the same bits every run

    unit = float(FREQ_DAYS[freq]) if isinstance(freq, str) else float(freq)
    cal_end = pd.Timestamp(calibration_end).normalize()
    epoch = pd.Timestamp("1970-01-01")
    cal_day = (cal_end - epoch).days
    obs_day = None
    if observation_end is not None:
        obs_day = (pd.Timestamp(observation_end).normalize() - epoch).days
    if daily_totals is None:
        daily_totals = _daily_totals(
            as_table(transactions, engine),
            customer_col=customer_col,
            time_col=time_col,
            amount_col=amount_col,
        )
    daily = daily_totals.filter(daily_totals._d <= (cal_day if obs_day is None else obs_day))
    cal = daily._d <= cal_day
    aggs = {
        "n_days": count_where(cal),
        "first_day": daily._d.min(where=cal),
        "last_day": daily._d.max(where=cal),
        "total": exact_sum(daily._a, where=cal),
        "first_amount": daily._a.argmin(daily._d, where=cal),
    }
    if obs_day is not None:
        hold = daily._d > cal_day
        aggs["n_hold"] = count_where(hold)
        aggs["hold_total"] = exact_sum(daily._a, where=hold)
    agg = daily.group_by("_c").aggregate(**aggs)
    res = agg.filter(agg.n_days > 0).to_pyarrow().to_pandas()  # Arrow: fast with nulls
    names = res["_c"].to_numpy().astype(str)
    order = np.argsort(names, kind="stable")
    res = res.iloc[order].reset_index(drop=True)
    index = pd.Index(names[order], name=customer_col, dtype="str")

    def col(name: str) -> np.ndarray:
        return pd.to_numeric(res[name]).fillna(0).to_numpy(dtype="float64")

    first, last, n_days = col("first_day"), col("last_day"), col("n_days")
    out = pd.DataFrame(
        {
            "frequency": n_days - 1.0,
            "recency": (last - first) / unit,
            "T": (cal_day - first) / unit,
        },
        index=index,
    )
    repeats = out["frequency"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["monetary_value"] = np.where(
            repeats > 0, (col("total") - col("first_amount")) / repeats, 0.0
        )
    out["first_purchase"] = pd.to_datetime(first.astype("int64"), unit="D").astype("datetime64[ns]")
    if obs_day is not None:
        out["frequency_holdout"] = col("n_hold")
        with np.errstate(divide="ignore", invalid="ignore"):
            out["monetary_value_holdout"] = np.where(
                out["frequency_holdout"] > 0, col("hold_total") / out["frequency_holdout"], 0.0
            )
        out["duration_holdout"] = (obs_day - cal_day) / unit
    return out
