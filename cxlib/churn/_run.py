"""The churn entry points: the data check, the too-little-data reason and :func:`run_churn`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cxlib.churn._common import MAX_EVAL_ROWS, MODE_CONTRACTUAL, MODE_NON_CONTRACTUAL
from cxlib.churn._contractual import _run_contractual
from cxlib.churn._labels import (
    _lapse_counts,
    _min_timestamp,
    _purchases,
    _ts,
    contractual_labels,
    detect_mode,
    snapshot_dates,
    tables_on,
)
from cxlib.churn._noncontractual import _run_non_contractual
from cxlib.churn._result import ChurnResult
from cxlib.engine import Engine, analysis_day, as_table, data_end, engine_for

log = logging.getLogger(__name__)

#: The settings of :func:`run_churn` and their defaults (``options`` may set any of them).
RUN_OPTIONS: dict[str, Any] = {
    "mode": None,
    "horizon_days": 90,
    "lookback_days": 365,
    "n_snapshots": 4,
    "n_bootstrap": 200,
    "random_state": 42,
    "recent_days": 90,
    "value_horizon_days": 365,
    "segment_column": None,
    "value_column": None,
    "duration_column": None,
    "master_map": None,
    "n_folds": 5,
    "max_train_rows": 200_000,
    "max_eval_rows": MAX_EVAL_ROWS,
    "min_group_size": 10,
    "channel_roles": None,
    "segments": None,
}

#: Options of the ``churn`` block of cx.yml that are not analysis settings: how many customers
#: the action list shows (the notebook's ``action_list_size``) and the money prefix of the
#: figures (cx.yml's top-level ``currency``, which the notebook passes in).
DISPLAY_OPTIONS: dict[str, Any] = {"action_list_size": 25, "currency": ""}


def _tables_and_date(data: Any, as_of_date: Any) -> tuple[Mapping[str, Any], pd.Timestamp]:
    """The tables of ``data`` (a :class:`cxlib.contract.SourceData` or a mapping of tables) and the
    analysis day (``as_of_date``, else the source's resolved as-of date)."""
    tables = getattr(data, "tables", data)
    if as_of_date is None:
        as_of_date = getattr(data, "as_of_date", None)
    if as_of_date is None:
        raise ValueError("run_churn needs as_of_date (a SourceData carries its own)")
    return tables, analysis_day(as_of_date)


def _settings(options: Mapping[str, Any] | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults, overridden by ``options`` (e.g. the ``churn`` block of cx.yml), overridden
    by the keyword arguments given."""
    unknown = set(params) - set(RUN_OPTIONS)
    if unknown:
        raise TypeError(f"run_churn got unexpected keyword arguments {sorted(unknown)}")
    out = dict(RUN_OPTIONS)
    for key, value in (options or {}).items():
        if key in RUN_OPTIONS:
            out[key] = value
        elif key not in DISPLAY_OPTIONS:
            log.warning("churn option %r is not known and is ignored", key)
    out.update(params)
    return out


@dataclass(frozen=True)
class ChurnCheck:
    """Whether the churn analysis can run on a source, and in which mode.

    ``mode`` is the detected mode (None: neither transactions nor a churn flag); ``reason`` the
    clause of the skip notice when the analysis cannot run (None: it can).
    """

    mode: str | None
    reason: str | None
    as_of_date: pd.Timestamp

    @property
    def ok(self) -> bool:
        """True when the analysis can run."""
        return self.reason is None

    @property
    def status_note(self) -> str | None:
        """The status of a skipped report on the index page (None when it runs)."""
        if self.mode is None:
            return "skipped: no transactions and no churn flag"
        return None if self.reason is None else f"skipped: {self.reason}"


def check_data(
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    engine: Engine | None = None,
    **params: Any,
) -> ChurnCheck:
    """The mode of the data and, when the analysis cannot run, why (see :func:`too_little_data`).

    ``data``, ``as_of_date``, ``options`` and the keyword arguments as for :func:`run_churn`.
    """
    tables, as_of = _tables_and_date(data, as_of_date)
    s = _settings(options, params)
    with engine_for(tables.get("transactions"), engine) as engine:
        mode = s["mode"] or detect_mode(tables, strict=False, engine=engine)
        if mode is None:
            reason = (
                "the data has neither transactions nor a customers table with `churned` or "
                "`churn_date`"
            )
            return ChurnCheck(None, reason, as_of)
        reason = too_little_data(
            tables,
            as_of,
            mode=mode,
            horizon_days=s["horizon_days"],
            n_snapshots=s["n_snapshots"],
            min_group_size=s["min_group_size"],
            engine=engine,
        )
    return ChurnCheck(mode, reason, as_of)


def too_little_data(
    tables: Mapping[str, Any],
    as_of_date: Any,
    *,
    mode: str | None = None,
    horizon_days: int = 90,
    n_snapshots: int = 4,
    min_group_size: int = 10,
    engine: Engine | None = None,
) -> str | None:
    """Why the churn analysis cannot run on these tables, or None when it can.

    Non-contractual mode needs at least one labelled snapshot (``horizon_days`` + 90 days of
    transactions before the as-of date) and, at the latest snapshot, at least
    ``min_group_size`` active customers who lapsed and as many who stayed; contractual mode needs
    at least ``min_group_size`` churned and as many retained customers. The reason is a clause
    for a skip notice ("only 1 day of transactions ..."). The counts are computed in the
    backend (a pandas transactions frame is registered on ``engine``, or on an engine opened for
    the call).
    """
    with engine_for(tables.get("transactions"), engine) as engine:
        mode = mode or detect_mode(tables, strict=False, engine=engine)
        if mode is None:
            return "the data has neither transactions nor a customers table with a churn flag"
        as_of = analysis_day(as_of_date)
        if mode == MODE_CONTRACTUAL:
            labels = contractual_labels(tables["customers"], as_of).dropna().astype(bool)
            churned, kept = int(labels.sum()), int((~labels).sum())
            if min(churned, kept) < min_group_size:
                return (
                    f"{churned:,} churned and {kept:,} retained customers are known; the models "
                    f"need at least {min_group_size} of each (min_group_size)"
                )
            return None
        tx = _purchases(as_table(tables["transactions"], engine))
        return _too_few_purchases(tx, as_of, horizon_days, n_snapshots, min_group_size)


def _too_few_purchases(
    tx: Any, as_of: pd.Timestamp, horizon_days: int, n_snapshots: int, min_group_size: int
) -> str | None:
    """The non-contractual part of :func:`too_little_data` on the purchases table."""
    tx = tx.filter(tx.timestamp < _ts(data_end(as_of)))
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
    n_lapsed, n_kept = _lapse_counts(tx, latest, horizon_days)
    if min(n_lapsed, n_kept) < min_group_size:
        return (
            f"at the latest labelled snapshot ({latest.date()}) {n_lapsed:,} customers lapsed and "
            f"{n_kept:,} bought again; the models need at least {min_group_size} of each "
            "(min_group_size)"
        )
    return None


def run_churn(
    data: Any,
    as_of_date: Any = None,
    *,
    options: Mapping[str, Any] | None = None,
    engine: Engine | None = None,
    **params: Any,
) -> ChurnResult:
    """Run the churn analysis on contract tables (see the package docstring).

    Parameters
    ----------
    data : SourceData or mapping
        A :class:`cxlib.contract.SourceData` or its contract tables (``transactions``,
        ``customers``, ``feedback`` used when present). Transactions may be a table of a backend
        or a pandas frame (registered on the engine).
    as_of_date : date-like, optional
        Analysis date; data through the end of this day counts (default: ``data.as_of_date``).
    options : mapping, optional
        Settings of the analysis (any of the keyword arguments below, e.g. the ``churn`` block
        of cx.yml); the keyword arguments given override them.
    engine : Engine, optional
        The engine owning the run's temporary tables and caches (default: one opened and closed
        for the run).
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
    channel_roles : mapping, optional
        Non-contractual mode: channel -> role; purchases in the channels with role ``app``
        count as app use (default: app, ios, android, mobile; exact names, any case).
    segments : SeriesSegments, optional
        Non-contractual mode: the series' segments (:func:`cxlib.segment.series_segments`,
        notebook 02's); the ``segment`` of every score is its segment there, and the purchase-
        pattern models use the same segments learnt again at their own dates. Default: fitted
        here with the segmentation defaults.

    Returns
    -------
    ChurnResult
        With :meth:`ChurnResult.findings`, :meth:`ChurnResult.exports` and the display tables.
    """
    tables, as_of = _tables_and_date(data, as_of_date)
    s = _settings(options, params)
    extra = {k: v for k, v in (options or {}).items() if k in DISPLAY_OPTIONS}
    if engine is None:
        with Engine() as local:
            result = _run(tables, as_of, s, local)
    else:
        result = _run(tables, as_of, s, engine)
    result.min_group_size = int(s["min_group_size"])
    result.action_list_size = int(
        extra.get("action_list_size", DISPLAY_OPTIONS["action_list_size"])
    )
    result.currency = str(extra.get("currency") or "")
    return result


def _run(tables: Mapping[str, Any], as_of: pd.Timestamp, s: dict[str, Any], engine: Engine):
    tables = tables_on(tables, engine)
    mode = s["mode"] or detect_mode(tables, engine=engine)
    kw = {
        k: s[k]
        for k in (
            "horizon_days",
            "lookback_days",
            "n_bootstrap",
            "random_state",
            "recent_days",
            "value_horizon_days",
            "segment_column",
            "max_train_rows",
            "min_group_size",
        )
    }
    if mode == MODE_NON_CONTRACTUAL:
        series = s["segments"]
        if series is None:
            from cxlib.segment import series_segments

            series = series_segments(
                tables,
                as_of_date=as_of,
                master_map=s["master_map"],
                min_group_size=s["min_group_size"],
                seed=s["random_state"],
                engine=engine,
            )
        return _run_non_contractual(
            tables,
            as_of,
            n_snapshots=s["n_snapshots"],
            master_map=s["master_map"],
            max_eval_rows=s["max_eval_rows"],
            channel_roles=s["channel_roles"],
            series=series,
            engine=engine,
            **kw,
        )
    if mode == MODE_CONTRACTUAL:
        return _run_contractual(
            tables,
            as_of,
            value_column=s["value_column"],
            duration_column=s["duration_column"],
            n_folds=s["n_folds"],
            engine=engine,
            **kw,
        )
    raise ValueError(f"unknown churn mode {mode!r}")
