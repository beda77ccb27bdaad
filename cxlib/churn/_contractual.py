"""Contractual churn (subscriptions): out-of-fold validation on the churn flag."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxlib.churn._btyd_fit import fit_btyd
from cxlib.churn._common import GBM, LOGIT, MODE_CONTRACTUAL, VALUE_COLUMNS
from cxlib.churn._evaluate import (
    choose_model,
    evaluate_models,
    permutation_drivers,
    relative_risks,
)
from cxlib.churn._features import (
    _fill_feedback,
    attribute_features,
    feedback_features,
    low_score_threshold,
)
from cxlib.churn._labels import _has_purchase, _is_empty, contractual_labels
from cxlib.churn._prepare import (
    _attribute_columns,
    _consent,
    _fit_pair,
    _flags_of,
    _sample_rows,
    _with_driver_columns,
    fit_drivers,
)
from cxlib.churn._result import ChurnResult
from cxlib.churn._survival import kaplan_meier
from cxlib.engine import data_end

log = logging.getLogger(__name__)


def contractual_features(
    tables, as_of, *, recent_days: int = 90, notes: list[str] | None = None
) -> tuple[pd.DataFrame, float]:
    """Features of contract customers and the low-score threshold: ``(features, low_score)``.

    Each customer is described as at their own cut-off: the start of their ``churn_date`` for
    churned customers with one (nothing dated on or after the day they left is used), else the
    end of the as-of day. Feedback (and ``signup_tenure_days``) use only rows before the cut-off;
    the low-score threshold is learnt from the answers up to the as-of date. ``notes`` receives
    the caveats for the report.
    """
    notes = [] if notes is None else notes
    customers = tables["customers"]
    c = customers.drop_duplicates("customer_id").set_index("customer_id")
    labels = contractual_labels(customers, as_of)
    ends = pd.Series(data_end(as_of), index=c.index)
    if "churn_date" in c.columns:
        left = labels.reindex(c.index).fillna(False).astype(bool) & c["churn_date"].notna()
        ends[left] = pd.to_datetime(c.loc[left, "churn_date"]).dt.normalize()
        undated = int((labels.fillna(False).astype(bool)).sum() - left.sum())
    else:
        undated = int(labels.fillna(False).astype(bool).sum())
    X = attribute_features(customers, as_of)
    if "signup_tenure_days" in X.columns:  # tenure when the customer left, not today
        days = (ends.dt.normalize() - pd.to_datetime(c["signup_date"])).dt.days.astype(float)
        X["signup_tenure_days"] = days.where(days >= 0).reindex(X.index)
    fb = tables.get("feedback")
    low = 2.5
    if fb is not None and len(fb):
        low = low_score_threshold(fb.loc[fb["timestamp"] < data_end(as_of), "score"])
        ff = feedback_features(fb, as_of, recent_days=recent_days, low_score=low, ends=ends)
        X = _fill_feedback(X.join(ff, how="left"), list(ff.columns))
        notes.append(
            "Feedback of a customer who left is used only up to the day before they left "
            "(a complaint logged in the cancellation call would predict the cancellation)."
        )
        if undated:
            notes.append(
                f"{undated:,} churned customers have no churn date, so their feedback is used "
                "up to the as-of date; feedback given after they left could flatter the model."
            )
    return X, low


def _run_contractual(
    tables,
    as_of,
    *,
    horizon_days,
    lookback_days,
    n_bootstrap,
    random_state,
    recent_days,
    value_horizon_days,
    segment_column,
    max_train_rows,
    min_group_size,
    value_column,
    duration_column,
    n_folds,
    engine=None,
) -> ChurnResult:
    from sklearn.model_selection import StratifiedKFold

    customers = tables["customers"]
    labels = contractual_labels(customers, as_of)
    notes: list[str] = []
    X, low = contractual_features(tables, as_of, recent_days=recent_days, notes=notes)
    tx = tables.get("transactions")
    has_tx = not _is_empty(tx)
    if has_tx:
        notes.append(
            "Transaction history is not used as a churn feature in contractual mode "
            "(a leaver's purchases stop because they left, which would leak the answer); "
            "it feeds the BG/NBD value estimates."
        )
    feats = [c for c in X.columns if X[c].notna().any()]
    if not feats:
        raise ValueError("contractual churn needs customer attributes or feedback as features")
    known = labels.notna()
    ids = labels.index[known]
    Xl = X.reindex(ids)[feats]
    y = labels[known].astype(bool).to_numpy(dtype=int)
    if y.min() == y.max():
        raise ValueError("contractual churn needs both churned and retained customers")
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(Xl, y))
    oof = {LOGIT: np.zeros(len(y)), GBM: np.zeros(len(y))}
    for tr, te in folds:
        ms = _fit_pair(Xl.iloc[tr], y[tr], None, random_state)
        for k, m in ms.items():
            oof[k][te] = m.predict_proba(Xl.iloc[te])[:, 1]
    metrics = evaluate_models(y, oof, n_bootstrap, random_state)
    chosen, reason = choose_model(metrics)
    validation = (
        f"out of fold: {n_folds}-fold cross-fitting, every customer scored by models "
        "that never saw them"
    )
    holdout = pd.DataFrame({"y": y, **oof}, index=ids)
    importance = permutation_drivers(
        ms[chosen],
        Xl.iloc[te],
        y[te],
        random_state=random_state,
        recent_days=recent_days,
        low_score=low,
    )
    rng = np.random.default_rng(random_state)
    sub = _sample_rows(len(y), max_train_rows, rng)
    final = _fit_pair(Xl.iloc[sub], y[sub], None, random_state)
    _, odds, drivers = fit_drivers(
        Xl.iloc[sub],
        y[sub],
        features=feats,
        model=final[LOGIT],
        as_of_today=_attribute_columns(tables),
        random_state=random_state,
        recent_days=recent_days,
        low_score=low,
    )
    risk = relative_risks(Xl[_flags_of(Xl)], y, recent_days=recent_days, low_score=low)

    scores = pd.DataFrame(index=X.index)
    scores["churn_probability"] = np.nan
    scores.loc[ids, "churn_probability"] = oof[chosen]
    unknown = labels.index[~known]
    if len(unknown):
        scores.loc[unknown, "churn_probability"] = final[chosen].predict_proba(
            X.reindex(unknown)[feats]
        )[:, 1]
    bt = None
    for c in VALUE_COLUMNS:
        scores[c] = np.nan
    if has_tx and _has_purchase(tx):
        bt = fit_btyd(
            tx,
            as_of,
            horizon_days=horizon_days,
            value_horizon_days=value_horizon_days,
            engine=engine,
        )
        for c in VALUE_COLUMNS:
            scores[c] = bt.predictions[c].reindex(scores.index).to_numpy()
    c_idx = customers.drop_duplicates("customer_id").set_index("customer_id")
    if value_column:
        if value_column not in c_idx.columns:
            raise KeyError(f"value_column {value_column!r} is not a customers column")
        # the attribute is the customer's value, taken as their value over the horizon
        scores["expected_value"] = pd.to_numeric(c_idx[value_column], errors="coerce").reindex(
            scores.index
        )
        scores["value_if_alive"] = scores["expected_value"]
    # the expected loss over the horizon: P(leaving within it) x value over it if they stay
    scores["value_at_risk"] = scores["churn_probability"] * scores["value_if_alive"]
    seg_col = segment_column if segment_column in c_idx.columns else None
    if seg_col is None and "segment" in c_idx.columns:
        seg_col = "segment"
    scores["segment"] = (
        c_idx[seg_col].reindex(scores.index).astype("str")
        if seg_col
        else pd.Series(pd.NA, index=scores.index, dtype="str")
    )
    scores["marketing_consent"] = _consent(customers, scores.index)
    scores["churned"] = labels.reindex(scores.index)
    for c in _flags_of(Xl):
        scores[c] = X[c].reindex(scores.index)
    scores = _with_driver_columns(scores, X, drivers)

    curves, test, groups_label, dur, unit = _retention(
        c_idx, labels, scores, seg_col, as_of, duration_column, min_group_size, notes
    )
    snaps = pd.DataFrame(
        {
            "snapshot_date": [as_of],
            "role": ["labelled customers (out of fold)"],
            "customers": [len(y)],
            "lapsed": [int(y.sum())],
            "lapse_rate": [float(y.mean())],
        }
    )
    return ChurnResult(
        mode=MODE_CONTRACTUAL,
        as_of_date=as_of,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        recent_days=recent_days,
        low_score=low,
        validation=validation,
        snapshots=snaps,
        metrics=metrics,
        holdout=holdout,
        chosen_model=chosen,
        choice_reason=reason,
        odds_ratios=odds,
        drivers=drivers,
        risk_ratios=risk,
        importance=importance,
        scores=scores,
        btyd=bt,
        survival_curves=curves,
        survival_test=test,
        survival_groups=groups_label,
        feature_names=feats,
        survival_time_unit=unit if dur is not None else "days",
        models=final,
        notes=notes,
        n_not_scored=0,
    )


def _retention(c_idx, labels, scores, seg_col, as_of, duration_column, min_group_size, notes):
    """Retention curves from sign-up to churn (or a tenure attribute), by segment:
    ``(curves, log-rank test, what the groups are, durations or None, time unit)``."""
    unit = "days"
    # retention curves
    curves, test = pd.DataFrame(), {"chi2": np.nan, "df": np.nan, "p_value": np.nan}
    groups_label = seg_col or "all customers"
    dur = None
    if "signup_date" in c_idx.columns and c_idx["signup_date"].notna().any():
        end = (
            c_idx["churn_date"]
            if "churn_date" in c_idx.columns
            else pd.Series(pd.NaT, index=c_idx.index)
        )
        end = end.where(end.notna(), as_of)
        dur = (end - c_idx["signup_date"]).dt.days.astype(float)
        unit = "days"
    else:
        col = duration_column or ("tenure" if "tenure" in c_idx.columns else None)
        if col and col in c_idx.columns:
            dur = pd.to_numeric(c_idx[col], errors="coerce").astype(float)
            unit = col
    if dur is not None:
        ev = labels.reindex(dur.index)
        ok = dur.notna() & ev.notna() & (dur >= 0)
        grp = scores["segment"].reindex(dur.index)[ok] if seg_col else None
        curves, test = kaplan_meier(dur[ok], ev[ok].astype(int), grp, min_group_size=min_group_size)
        groups_label = str(groups_label)
    else:
        notes.append("Retention curves skipped: no sign-up date or tenure column.")
    return curves, test, groups_label, dur, unit
