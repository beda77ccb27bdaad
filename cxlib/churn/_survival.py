"""Retention durations and Kaplan-Meier curves."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cxlib.churn._bgnbd import _Z95
from cxlib.churn._labels import purchase_days
from cxlib.engine import Engine, analysis_day, as_table, coalesce, engine_for, literal, window

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Survival
# ---------------------------------------------------------------------------------------------


def retention_durations(
    transactions: Any,
    start_date: Any,
    end_date: Any,
    horizon_days: int = 90,
    lookback_days: int = 365,
    *,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Days each customer active at ``start_date`` kept buying, for Kaplan-Meier curves.

    A customer is *retained* on day d while they buy again within ``horizon_days`` after d. The
    lapse day is the first day (``start_date`` or a later purchase day) followed by a gap of more
    than ``horizon_days`` without purchases; it is observed only if it falls on or before
    ``end_date - horizon_days`` (else the customer is censored there).

    Returns ``customer_id``-indexed ``duration_days`` and ``lapsed`` (1 = event observed).
    The purchase days and gaps are computed in the backend (a pandas frame is registered on
    ``engine``, or on an engine opened for the call); one row per customer comes back.
    """
    s = analysis_day(start_date)
    e = analysis_day(end_date)
    last_obs = e - pd.Timedelta(days=int(horizon_days))
    if last_obs <= s:
        raise ValueError("end_date must be more than horizon_days after start_date")
    with engine_for(transactions, engine) as engine:
        return _retention_durations(
            as_table(transactions, engine), s, e, horizon_days, lookback_days, engine
        )


def _retention_durations(
    transactions: Any,
    s: pd.Timestamp,
    e: pd.Timestamp,
    horizon_days: int,
    lookback_days: int,
    engine: Engine | None,
) -> pd.DataFrame:
    """:func:`retention_durations` of a table of a backend."""
    epoch = pd.Timestamp("1970-01-01")
    s_day, e_day = (s - epoch).days, (e - epoch).days
    last_obs_day = s_day + ((e - pd.Timedelta(days=int(horizon_days))) - s).days
    d = purchase_days(transactions, engine)
    days = d.select(customer_id=d._c, _d=d._d)
    days = days.filter((days._d > s_day - int(lookback_days)) & (days._d <= e_day))
    active = days.filter(days._d <= s_day).select("customer_id").distinct()
    after = days.filter(days._d > s_day).semi_join(active, "customer_id")
    seq = active.mutate(_d=literal(s_day, type="int64")).union(
        after.mutate(_d=after._d.cast("int64")), distinct=True
    )
    w = window(group_by=seq.customer_id, order_by=seq._d)
    seq = seq.mutate(_next=seq._d.lead().over(w))
    gap = coalesce((seq._next - seq._d).cast("float64"), (e_day - seq._d).cast("float64") + 0.5)
    seq = seq.mutate(_lapse=gap > float(horizon_days))
    res = (
        seq.group_by("customer_id")
        .aggregate(_first=seq._d.min(where=seq._lapse))
        .to_pandas()
        .set_index("customer_id")
    )
    out = pd.DataFrame(index=pd.Index(res.index.astype("str"), name="customer_id").sort_values())
    lapse_day = pd.to_numeric(res["_first"]).reindex(out.index).to_numpy(dtype="float64")
    observed = ~np.isnan(lapse_day) & (lapse_day <= last_obs_day)
    out["duration_days"] = np.where(observed, lapse_day - s_day, last_obs_day - s_day).astype(float)
    out["lapsed"] = observed.astype(int)
    return out


def kaplan_meier(
    durations, events, groups=None, *, min_group_size: int = 10
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Kaplan-Meier retention curves (statsmodels ``SurvfuncRight``) and a log-rank test.

    Groups under ``min_group_size`` are left out. Returns ``(curves, test)`` where ``curves`` has
    ``group``, ``time``, ``retention``, ``ci_low``, ``ci_high``, ``at_risk`` (plus a row at time 0)
    and ``test`` holds ``chi2``, ``df``, ``p_value`` and ``groups`` (NaN with fewer than 2 groups).
    """
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    t = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=int)
    g = (
        np.asarray(["All customers"] * len(t), dtype=object)
        if groups is None
        else pd.Series(groups).astype("str").fillna("unknown").to_numpy(dtype=object)
    )
    sizes = pd.Series(g).value_counts()
    keep_groups = sorted(sizes.index[sizes >= min_group_size])
    frames = []
    for name in keep_groups:
        m = g == name
        sf = SurvfuncRight(t[m], ev[m])
        lo, hi = _pointwise_ci(sf)
        frames.append(
            pd.DataFrame(
                {
                    "group": name,
                    "time": np.r_[0.0, sf.surv_times],
                    "retention": np.r_[1.0, sf.surv_prob],
                    "ci_low": np.r_[1.0, lo],
                    "ci_high": np.r_[1.0, hi],
                    "at_risk": np.r_[m.sum(), sf.n_risk],
                    "customers": int(m.sum()),
                }
            )
        )
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    test = {"chi2": np.nan, "df": np.nan, "p_value": np.nan, "groups": float(len(keep_groups))}
    if len(keep_groups) >= 2:
        m = np.isin(g, keep_groups)
        chi2, pval = survdiff(t[m], ev[m], g[m])
        test.update(chi2=float(chi2), df=float(len(keep_groups) - 1), p_value=float(pval))
    return curves, test


def _pointwise_ci(sf) -> tuple[np.ndarray, np.ndarray]:
    """95% pointwise CI of a Kaplan-Meier curve on the log(-log) scale (Greenwood variance)."""
    s = np.asarray(sf.surv_prob, dtype=float)
    se = np.asarray(sf.surv_prob_se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.log(-np.log(s))
        se_ll = se / (s * np.abs(np.log(s)))
        lo = np.exp(-np.exp(ll + _Z95 * se_ll))
        hi = np.exp(-np.exp(ll - _Z95 * se_ll))
    lo = np.where(np.isfinite(lo), lo, s)
    hi = np.where(np.isfinite(hi), hi, s)
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def median_retention(curves: pd.DataFrame) -> pd.Series:
    """Per group: first time the Kaplan-Meier retention drops to 50% or below (NaN if never)."""
    out = {}
    for name, c in curves.groupby("group", sort=True):
        below = c.loc[c["retention"] <= 0.5, "time"]
        out[name] = float(below.iloc[0]) if len(below) else float("nan")
    return pd.Series(out, name="median_days")


def retention_at(curves: pd.DataFrame, day: float) -> pd.Series:
    """Per group: Kaplan-Meier retention at ``day`` (step function)."""
    out = {}
    for name, c in curves.groupby("group", sort=True):
        c = c.sort_values("time")
        out[name] = float(c.loc[c["time"] <= day, "retention"].iloc[-1])
    return pd.Series(out, name=f"retention_{day:g}d")
