"""The churn entry points: too-little-data check and :func:`run_churn`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxlib.churn._common import MAX_EVAL_ROWS, MODE_CONTRACTUAL, MODE_NON_CONTRACTUAL
from cxlib.churn._contractual import _run_contractual
from cxlib.churn._labels import (
    _backend_lapse_counts,
    _min_timestamp,
    _purchases,
    _ts,
    contractual_labels,
    detect_mode,
    lapse_labels,
    snapshot_dates,
)
from cxlib.churn._noncontractual import _run_non_contractual
from cxlib.churn._result import ChurnResult
from cxlib.sources import is_backend_table

log = logging.getLogger(__name__)


def too_little_data(
    tables: Mapping[str, pd.DataFrame],
    as_of_date: Any,
    *,
    mode: str | None = None,
    horizon_days: int = 90,
    n_snapshots: int = 4,
    min_group_size: int = 10,
) -> str | None:
    """Why the churn analysis cannot run on these tables, or None when it can.

    Non-contractual mode needs at least one labelled snapshot (``horizon_days`` + 90 days of
    transactions before the as-of date) and, at the latest snapshot, at least
    ``min_group_size`` active customers who lapsed and as many who stayed; contractual mode needs
    at least ``min_group_size`` churned and as many retained customers. The reason is a clause
    for a skip notice ("only 1 day of transactions ...").
    """
    mode = mode or detect_mode(tables, strict=False)
    if mode is None:
        return "the data has neither transactions nor a customers table with a churn flag"
    as_of = pd.Timestamp(as_of_date).normalize()
    if mode == MODE_CONTRACTUAL:
        labels = contractual_labels(tables["customers"], as_of).dropna().astype(bool)
        churned, kept = int(labels.sum()), int((~labels).sum())
        if min(churned, kept) < min_group_size:
            return (
                f"{churned:,} churned and {kept:,} retained customers are known; the models need "
                f"at least {min_group_size} of each (min_group_size)"
            )
        return None
    tx = _purchases(tables["transactions"])
    if is_backend_table(tx):
        tx = tx.filter(tx.timestamp < _ts(as_of + pd.Timedelta(days=1)))
    else:
        tx = tx.loc[tx["timestamp"] < as_of + pd.Timedelta(days=1)]
    earliest = _min_timestamp(tx)
    dates = snapshot_dates(as_of, horizon_days, n_snapshots, None, earliest)
    if not dates:
        span = int((as_of - earliest.normalize()).days) + 1 if pd.notna(earliest) else 0
        return (
            f"only {span:,} day{'s' if span != 1 else ''} of purchases up to {as_of.date()}; "
            f"churn needs at least {horizon_days + 90} days ({horizon_days}-day outcome window "
            "plus 90 days of history before it)"
        )
    latest = dates[-1]
    if is_backend_table(tx):
        n_lapsed, n_kept = _backend_lapse_counts(tx, latest, horizon_days)
    else:
        active = tx.loc[tx["timestamp"] < latest + pd.Timedelta(days=1), "customer_id"].unique()
        lapsed = lapse_labels(tx, latest, horizon_days, active)
        n_lapsed, n_kept = int(lapsed.sum()), int((~lapsed).sum())
    if min(n_lapsed, n_kept) < min_group_size:
        return (
            f"at the latest labelled snapshot ({latest.date()}) {n_lapsed:,} customers lapsed and "
            f"{n_kept:,} bought again; the models need at least {min_group_size} of each "
            "(min_group_size)"
        )
    return None


def run_churn(
    tables: Mapping[str, pd.DataFrame],
    as_of_date: Any,
    *,
    mode: str | None = None,
    horizon_days: int = 90,
    lookback_days: int = 365,
    n_snapshots: int = 4,
    n_bootstrap: int = 200,
    random_state: int | None = 42,
    recent_days: int = 90,
    value_horizon_days: int = 365,
    segment_column: str | None = None,
    value_column: str | None = None,
    duration_column: str | None = None,
    master_map: pd.DataFrame | None = None,
    n_folds: int = 5,
    max_train_rows: int | None = 200_000,
    max_eval_rows: int | None = MAX_EVAL_ROWS,
    min_group_size: int = 10,
) -> ChurnResult:
    """Run the churn analysis on contract tables (see the module docstring).

    Parameters
    ----------
    tables : mapping
        Contract tables (``transactions``, ``customers``, ``feedback`` used when present).
    as_of_date : date-like
        Analysis date; data through the end of this day counts.
    mode : str, optional
        Force ``"contractual"`` / ``"non_contractual"`` (default: :func:`detect_mode`).
    horizon_days, lookback_days, n_snapshots
        Lapse horizon, activity look-back window and number of labelled snapshots.
    n_bootstrap : int
        Bootstrap replicates for the metric CIs.
    random_state : int, optional
        Seed of every random step.
    recent_days : int
        Window of the ``complaint_recent`` driver.
    value_horizon_days : int
        Horizon of ``expected_value`` (expected spend, BG/NBD x Gamma-Gamma).
    segment_column : str, optional
        Customer attribute used as ``segment`` (default: the behavioural segment learnt from
        transactions; contractual mode: none).
    value_column : str, optional
        Customer attribute used as ``expected_value`` in contractual mode without transactions.
    duration_column : str, optional
        Contractual mode: customer attribute holding time as a customer, for retention curves
        (default: ``signup_date`` to ``churn_date``/as-of, else an attribute named ``tenure``).
    master_map : DataFrame, optional
        Non-contractual mode: ``customer_id`` -> ``master_id`` (single customer view); the
        analysis then runs per person and every record gets its person's scores.
    n_folds : int
        Contractual mode: folds of the out-of-fold predictions.
    max_train_rows : int, optional
        Fit models on at most this many (randomly chosen) rows.
    max_eval_rows : int, optional
        Non-contractual mode: judge the models on at most this many customers of the test
        snapshot (a seeded random sample when it has more; None: all of them). Risk ratios of
        the drivers still use every customer of the snapshot.
    min_group_size : int
        Smallest group shown in survival curves.
    """
    mode = mode or detect_mode(tables)
    as_of = pd.Timestamp(as_of_date).normalize()
    kw = dict(
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
        recent_days=recent_days,
        value_horizon_days=value_horizon_days,
        segment_column=segment_column,
        max_train_rows=max_train_rows,
        min_group_size=min_group_size,
    )
    if mode == MODE_NON_CONTRACTUAL:
        return _run_non_contractual(
            tables,
            as_of,
            n_snapshots=n_snapshots,
            master_map=master_map,
            max_eval_rows=max_eval_rows,
            **kw,
        )
    if mode == MODE_CONTRACTUAL:
        return _run_contractual(
            tables,
            as_of,
            value_column=value_column,
            duration_column=duration_column,
            n_folds=n_folds,
            **kw,
        )
    raise ValueError(f"unknown churn mode {mode!r}")
